"""The public Python API runs a whole (tiny) study without the CLI: load, count, pretrain, fine-tune."""
import json
import subprocess
import sys

import electra_lab


def test_api_names_are_lazy_and_documented():
    code = "import sys, electra_lab.config; print('electra_lab.api' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "False", done.stderr  # importing a building block does not load the API
    for name in electra_lab.__all__:
        assert getattr(electra_lab, name).__doc__


def test_the_readme_example_runs(tmp_path, tiny_tokenizer, monkeypatch):
    """The README's five lines on a tiny model, its corpus a small local text folder."""
    corpus = tmp_path / "texts"
    corpus.mkdir()
    words = [f"w{i}" for i in range(40)]
    for doc in range(6):
        (corpus / f"doc{doc}.txt").write_text("\n\n".join(
            " ".join(words[(doc * 7 + p * 3 + k) % 40] for k in range(30)) for p in range(12)))
    monkeypatch.setenv("ELECTRA_LAB_CACHE", str(tmp_path / "cache"))
    overrides = [f"data.sources=['local:{corpus}']", "data.tokenizer=wordpiece", "data.vocab_size=128",
                 "data.seq_len=32", "data.valid_fraction=0.2", "model.layers=1", "model.hidden=32", "model.heads=2",
                 "model.ffn=64", "model.embedding_size=16", "model.max_position=64", "train.batch_size=4",
                 "train.steps=3", "train.device=cpu", "train.precision=fp32", "train.progress=false",
                 "train.eval_every=3", "train.eval_batches=1", "train.checkpoint_every=3",
                 "train.snapshot_fractions=[]",
                 f"run.output_dir={tmp_path / 'runs'}", f"run.tracking_uri=sqlite:///{tmp_path / 'mlflow.db'}"]

    cfg = electra_lab.load_config("experiments/pretrain/tiny_electra.yaml", overrides)
    assert electra_lab.count_flops(cfg)["steps"] == 3
    run = electra_lab.pretrain(cfg, tune=False)
    assert run["steps"] == 3 and run["run_id"] and (tmp_path / "runs" / "tiny-electra" / "export" / "encoder").is_dir()
    assert json.loads((tmp_path / "runs" / "tiny-electra" / "summary.json").read_text())["steps"] == 3

    glue = tmp_path / "glue" / "SST-2"  # a fine-tuning task in the original GLUE layout
    glue.mkdir(parents=True)
    rows = ["sentence\tlabel"] + [f"{words[i % 40]} {words[(i * 3) % 40]}\t{i % 2}" for i in range(24)]
    for split in ("train", "dev"):
        (glue / f"{split}.tsv").write_text("\n".join(rows) + "\n")
    scores = electra_lab.finetune(run["run_dir"], suite="glue", tasks=["sst2"], seeds=1, glue_dir=tmp_path / "glue",
                                  options=["epochs={sst2: 1}", "batch_size=8", "device=cpu"],
                                  tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    assert list(scores.tasks) == ["sst2"] and 0.0 <= scores.score <= 1.0
