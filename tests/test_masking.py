from pathlib import Path

import pytest
import torch

from electra_lab.data.masking import MASKING_STYLES, SpecialIds, bert_mask, official_mask
from electra_lab.experiment import load_config

PRETRAIN = Path(__file__).resolve().parents[1] / "experiments" / "pretrain"

IDS = SpecialIds(pad=0, cls=2, sep=3, mask=4, unk=1, vocab_size=1000)


def batch(n=512, length=128, seed=0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, 1000, (n, length), generator=g)
    ids[:, 0], ids[:, 60], ids[:, -1] = IDS.cls, IDS.sep, IDS.sep
    lengths = torch.randint(20, length + 1, (n,), generator=g)
    for row, ln in enumerate(lengths.tolist()):  # padded tails
        if ln < length:
            ids[row, ln - 1] = IDS.sep
            ids[row, ln:] = IDS.pad
    return ids


def test_counts_follow_official_rule():
    torch.manual_seed(0)
    ids = batch()
    out = official_mask(ids, IDS, 0.15, 19)
    non_pad = (ids != IDS.pad).sum(1).float()
    expected = torch.round(non_pad * 0.15).clamp(1, 19)
    assert torch.equal(out.weights.sum(1), expected)


def test_special_tokens_and_padding_never_masked():
    torch.manual_seed(1)
    ids = batch()
    out = official_mask(ids, IDS, 0.15, 19)
    chosen = out.positions[out.weights > 0]
    rows = torch.nonzero(out.weights > 0)[:, 0]
    assert not torch.isin(ids[rows, chosen], torch.tensor([IDS.pad, IDS.cls, IDS.sep])).any()
    changed = out.input_ids != ids
    assert not changed[ids == IDS.pad].any() and not changed[ids == IDS.cls].any()


def test_official_is_85_mask_15_unchanged_no_random():
    torch.manual_seed(2)
    ids = batch(2048)
    out = official_mask(ids, IDS, 0.15, 19)
    real = out.weights > 0
    new = out.input_ids.gather(1, out.positions)[real]
    orig = out.labels[real]
    frac_mask = (new == IDS.mask).float().mean().item()
    assert abs(frac_mask - 0.85) < 0.01
    assert torch.all((new == IDS.mask) | (new == orig))  # never a random token


def test_bert_is_80_10_10():
    torch.manual_seed(3)
    ids = batch(2048)
    out = bert_mask(ids, IDS, 0.15, 19)
    real = out.weights > 0
    new, orig = out.input_ids.gather(1, out.positions)[real], out.labels[real]
    mask = (new == IDS.mask).float().mean().item()
    same = (new == orig).float().mean().item()
    assert abs(mask - 0.8) < 0.01
    assert abs(same - 0.1) < 0.01  # 10% kept (+ a negligible chance a random token equals the original)
    assert abs(1 - mask - same - 0.1) < 0.01


def test_only_chosen_positions_change_and_labels_are_originals():
    torch.manual_seed(4)
    ids = batch(64)
    out = official_mask(ids, IDS, 0.15, 19)
    assert torch.equal(out.labels[out.weights > 0], ids.gather(1, out.positions)[out.weights > 0])
    changed_rows, changed_cols = torch.nonzero(out.input_ids != ids, as_tuple=True)
    for r, c in zip(changed_rows.tolist(), changed_cols.tolist(), strict=True):
        assert c in out.positions[r][out.weights[r] > 0].tolist()


@pytest.mark.parametrize("config, style, fn", [
    # the official BERT baseline calls the same pretrain_helpers.mask as ELECTRA: 85/15, no random token
    ("bert_small.yaml", "official", official_mask),
    # the tiny demo baseline keeps original BERT's 80/10/10: its committed results were made with it
    ("tiny_mlm.yaml", "bert", bert_mask),
])
def test_mlm_baselines_mask_as_documented(config, style, fn):
    """Which masking each MLM baseline config trains with (official_mask itself is tested above:
    test_official_is_85_mask_15_unchanged_no_random)."""
    cfg = load_config(PRETRAIN / config)
    assert cfg.masking.style == style and MASKING_STYLES[cfg.masking.style] is fn
