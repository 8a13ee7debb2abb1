import torch
from transformers import AutoTokenizer, ElectraForMaskedLM, ElectraForPreTraining, ElectraModel

from electra_lab.data.masking import SpecialIds
from electra_lab.strategies import from_config
from electra_lab.train.batches import make_batch

from .conftest import make_blocks


def test_exported_models_load_in_stock_transformers_with_same_outputs(tiny_cfg, tiny_tokenizer, tmp_path):
    cfg = tiny_cfg()
    ids = SpecialIds.of(tiny_tokenizer)
    strategy = from_config(cfg, ids)
    torch.manual_seed(0)
    models = strategy.build()
    with torch.no_grad():  # move off the initialisation so a silent re-init would be caught
        for p in models.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    from electra_lab.models.export import export_models

    folders = export_models(strategy.export_models(models), tiny_tokenizer, tmp_path / "export")
    models.eval()
    batch = make_batch(make_blocks(4, 32, ids.vocab_size), ids.pad, ids.sep, torch.device("cpu"))
    inputs = dict(input_ids=batch.input_ids, attention_mask=batch.attention_mask, token_type_ids=batch.token_type_ids)

    disc = ElectraForPreTraining.from_pretrained(folders["encoder"]).eval()
    gen = ElectraForMaskedLM.from_pretrained(folders["generator"]).eval()
    with torch.no_grad():
        torch.testing.assert_close(disc(**inputs).logits, models["discriminator"](**inputs).logits)
        torch.testing.assert_close(gen(**inputs).logits, models["generator"](**inputs).logits)
        encoder = ElectraModel.from_pretrained(folders["encoder"]).eval()
        torch.testing.assert_close(encoder(**inputs).last_hidden_state,
                                   models["discriminator"].electra(**inputs).last_hidden_state)
    tok = AutoTokenizer.from_pretrained(folders["encoder"])
    assert tok("w1 w2")["input_ids"] == tiny_tokenizer("w1 w2")["input_ids"]


def test_mlm_baseline_exports_an_encoder(tiny_cfg, tiny_tokenizer, tmp_path):
    cfg = tiny_cfg(**{"strategy.name": "mlm"})
    strategy = from_config(cfg, SpecialIds.of(tiny_tokenizer))
    models = strategy.build()
    from electra_lab.models.export import export_models

    folders = export_models(strategy.export_models(models), tiny_tokenizer, tmp_path / "export")
    assert set(folders) == {"encoder"}
    loaded = ElectraForMaskedLM.from_pretrained(folders["encoder"])
    assert loaded.config.hidden_size == cfg.model.hidden
