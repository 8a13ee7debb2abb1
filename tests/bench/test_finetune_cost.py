"""`electra-lab bench-finetune`'s record (bench/finetune_cost.py) on tiny inputs; nothing is timed."""
import json

import pytest

from electra_lab.bench import finetune_cost
from electra_lab.cli import build_parser

MACHINE = {"cpu": "Test CPU", "cpu_flags": ["avx2", "avx512f"], "usable_cpus": 2, "logical_cpus": 2,
           "avx512_bf16": False, "amx": False, "auto_precision": "float32", "torch": "2.x",
           "torch_cpu_capability": "AVX512", "transformers": "5.x", "python": "3.11"}


def point(seconds: float, scores: dict[str, float], warm: bool) -> dict:
    return {"seconds": seconds, "cpu_seconds": seconds, "token_cache_warm": {t: warm for t in scores},
            "tasks": {t: {"metric": "accuracy", "scores": [s], "median": s, "best_epochs": [3], "seconds": seconds / 3}
                      for t, s in scores.items()},
            "score": sum(scores.values()) / len(scores)}


def tiny_results() -> dict:
    rounds = [{"before": point(30.0, {"a": 0.6, "b": 0.9}, False), "after": point(10.0, {"a": 0.62, "b": 0.88}, False)},
              {"before": point(36.0, {"a": 0.6, "b": 0.9}, False), "after": point(9.0, {"a": 0.62, "b": 0.88}, True)}]
    return {"name": "finetune-cost", "command": "electra-lab bench-finetune --repeats 2",
            "provenance": {"commit": "abc123", "date": "2026-01-01 00:00 UTC"}, "model_dir": "/m",
            "random_init_encoder": True,
            "point": {"tasks": ["a", "b"], "seeds": 1, "options": list(finetune_cost.POINT_OPTIONS),
                      "before_extra_options": ["bucket_batches=0"]},
            "rounds": rounds, "summary": finetune_cost.summarise(rounds), "machine": MACHINE,
            "load_average": {"before": [0.5, 0.5, 0.5], "after": [1.2, 1.0, 0.9]}, "wall_seconds": 85.0,
            "probe": {"proxy": "frozen-probe", "seconds": 4.0,
                      "tasks": {"a": {"metric": "accuracy", "score": 0.55, "seconds": 2.0}}, "score": 0.55}}


def test_summary_ratios_and_repeatability():
    s = tiny_results()["summary"]
    assert s["before_median_s"] == 33.0 and s["after_median_s"] == 9.5
    assert s["ratio_of_medians"] == pytest.approx(33 / 9.5)
    assert s["ratio_rounds"] == pytest.approx([3.0, 4.0]) and s["ratio_rounds_median"] == pytest.approx(3.5)
    assert s["repeats_identical"] == {"before": True, "after": True}
    assert s["scores"]["after"] == {"a": [0.62], "b": [0.88]}


def test_report_writer_writes_json_and_markdown(tmp_path):
    json_path, md_path = finetune_cost.write_report(tiny_results(), tmp_path / "out" / "finetune-cost-cpu")
    assert json_path.name == "finetune-cost-cpu.json" and md_path.name == "finetune-cost-cpu.md"
    assert json.loads(json_path.read_text())["summary"]["after_median_s"] == 9.5
    text = md_path.read_text()
    assert "before 33.0, after 9.5" in text and "3.47x" in text and "3.50x" in text
    assert "| 1 | 30.0 | 10.0 | 3.00x | cold |" in text and "| 2 | 36.0 | 9.0 | 4.00x | warm |" in text
    assert "| a | accuracy | 60.0 | 62.0 |" in text and "repeats them exactly" in text
    assert "avx512_bf16: no" in text and "Test CPU" in text and "`abc123`" in text
    assert "random-init tiny ELECTRA" in text and "NOT fine-tuning" in text


def test_scores_that_do_not_repeat_are_flagged(tmp_path):
    results = tiny_results()
    results["rounds"][1]["after"]["tasks"]["a"]["scores"] = [0.5]
    results["summary"] = finetune_cost.summarise(results["rounds"])
    assert "NOT identical" in finetune_cost.markdown(results)


def test_the_command_line(tmp_path):
    args = build_parser().parse_args(["bench-finetune", "--model", str(tmp_path), "--repeats", "3",
                                      "--out", str(tmp_path / "x")])
    assert args.func is finetune_cost.run_from_args and args.repeats == 3 and args.model == tmp_path
    assert build_parser().parse_args(["bench-finetune"]).tasks == list(finetune_cost.POINT_TASKS)
    from electra_lab.config import ConfigError

    with pytest.raises(ConfigError, match="at least 1"):
        finetune_cost.run_from_args(build_parser().parse_args(["bench-finetune", "--repeats", "0"]))


def test_before_and_after_points_run_on_a_tiny_model(tiny_model_dir, tmp_path, monkeypatch):
    """The measuring loop end to end on a hidden-32 encoder and a fixture task (seconds, untimed)."""
    from tests.tasks.test_finetune import sentiment_task

    monkeypatch.setattr(finetune_cost, "POINT_OPTIONS", ("min_updates=6", "max_dev_evals=2", "cpu_threads=1"))
    results = finetune_cost.run_finetune_cost(model=tiny_model_dir, repeats=2, tasks=(sentiment_task(),),
                                              command="test")
    assert [set(r) for r in results["rounds"]] == [{"before", "after"}] * 2
    assert results["summary"]["repeats_identical"] == {"before": True, "after": True}
    assert results["point"]["before_extra_options"][0] == "bucket_batches=0" and not results["random_init_encoder"]
    assert results["machine"]["auto_precision"] in ("float32", "bfloat16")
    _, md_path = finetune_cost.write_report(results, tmp_path / "bench")
    assert "fixture_sentiment" in md_path.read_text()
