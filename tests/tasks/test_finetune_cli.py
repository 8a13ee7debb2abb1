"""`electra-lab finetune` end to end: resolve a run folder, fine-tune, log a child MLflow run."""
import json

from electra_lab.cli import main
from electra_lab.studies.evaluate import resolve_model


def write_sst2(folder, n=48):
    words = ["good great fun", "bad dull awful"]
    rows = ["sentence\tlabel"] + [f"the movie was {words[i % 2]}\t{1 - i % 2}" for i in range(n)]
    (folder / "SST-2").mkdir(parents=True)
    for split in ("train", "dev"):
        (folder / "SST-2" / f"{split}.tsv").write_text("\n".join(rows) + "\n")


def test_finetune_command_logs_a_child_of_the_pretraining_run(tmp_path, tiny_model_dir, capsys):
    import mlflow

    run_dir = tmp_path / "runs" / "tiny"
    (run_dir / "export").mkdir(parents=True)
    tiny_model_dir.rename(run_dir / "export" / "encoder")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("electra-lab")
    with mlflow.start_run() as parent:
        pass
    (run_dir / "mlflow_run_id").write_text(parent.info.run_id)
    (run_dir / "summary.json").write_text(json.dumps({"pretrain_flops": 1.5e12}))

    resolved = resolve_model(str(run_dir))
    assert resolved.model_dir == run_dir / "export" / "encoder" and resolved.pretrain_flops == 1.5e12

    write_sst2(tmp_path / "glue")
    code = main(["finetune", str(run_dir), "--suite", "glue", "--tasks", "sst2", "--seeds", "1",
                 "--glue-dir", str(tmp_path / "glue"), "--tracking-uri", uri, "--progress", str(tmp_path / "p.json"),
                 "--set", "epochs={sst2: 1}", "batch_size=16", "cpu_threads=1", "device=cpu"])
    assert code == 0
    progress = json.loads((tmp_path / "p.json").read_text())
    assert (progress["kind"], progress["task"], progress["done"], progress["total"]) == ("finetune", "sst2", 1, 1)
    assert "sst2" in capsys.readouterr().out
    children = mlflow.search_runs(experiment_names=["electra-lab"],
                                  filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    assert len(children) == 1
    assert children["metrics.pretrain_flops"].iloc[0] == 1.5e12
    assert 0.0 <= children["metrics.suite_score"].iloc[0] <= 1.0
    assert children["tags.mlflow.runName"].iloc[0] == "tiny on glue"  # named by what it evaluates

    # the random-init floor of the same shape is named so, and is no child of the pretraining run
    assert main(["finetune", str(run_dir), "--random-init", "--suite", "glue", "--tasks", "sst2", "--seeds", "1",
                 "--glue-dir", str(tmp_path / "glue"), "--tracking-uri", uri,
                 "--set", "epochs={sst2: 1}", "batch_size=16", "cpu_threads=1", "device=cpu"]) == 0
    runs = mlflow.search_runs(experiment_names=["electra-lab"])
    floor = runs[runs["tags.mlflow.runName"] == "random-init (tiny shape) on glue"]
    assert len(floor) == 1 and floor["tags.mlflow.parentRunId"].isna().all()
    assert len(runs[runs["tags.mlflow.parentRunId"] == parent.info.run_id]) == 1


def test_unknown_task_lists_valid_names(tmp_path, tiny_model_dir, capsys):
    code = main(["finetune", str(tiny_model_dir), "--tasks", "not_a_task", "--no-tracking", "--seeds", "1"])
    err = capsys.readouterr().err
    assert code != 0 and "not_a_task" in err and "movie_polarity" in err


def test_probe_command_prints_and_writes_one_row_per_layer(tmp_path, tiny_model_dir, capsys):
    import pandas as pd
    from transformers import ElectraConfig

    write_sst2(tmp_path / "glue")
    out = tmp_path / "probe.csv"
    assert main(["probe", str(tiny_model_dir), "--suite", "glue", "--tasks", "sst2", "--glue-dir",
                 str(tmp_path / "glue"), "--threads", "1", "--out", str(out)]) == 0
    assert "NOT fine-tuning" in capsys.readouterr().out
    frame = pd.read_csv(out)
    depth = ElectraConfig.from_pretrained(str(tiny_model_dir)).num_hidden_layers
    assert frame["layer"].tolist() == list(range(depth + 1))
    assert frame["sst2"].between(0, 1).all() and (frame["suite"] == frame["sst2"]).all()
    assert main(["probe", str(tiny_model_dir), "--suite", "glue", "--tasks", "sst2", "--glue-dir",
                 str(tmp_path / "glue"), "--layers", "0", "--random-init", "--out", str(out)]) == 0
    assert pd.read_csv(out)[["layer", "random_init"]].values.tolist() == [[0, True]]
