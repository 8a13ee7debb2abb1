"""Downstream evaluation: GLUE (hub + original TSV folders), the offline suite of real labelled
data from PyPI packages, metrics, and the paper's fine-tuning recipe.

    from electra_lab.tasks import finetune_suite
    result = finetune_suite("runs/x/export/encoder", suite="offline", seeds=3)
    print(result.table()); result.to_frame()

probe_suite (tasks/probe.py) is a cheap proxy, a linear probe on the frozen encoder, not fine-tuning.
"""
from electra_lab.tasks.base import NO_CAPS, Example, LoadOptions, SplitCaps, Splits, Task
from electra_lab.tasks.finetune import FinetuneOptions, finetune_suite
from electra_lab.tasks.glue import GLUE_SCORE_TASKS, GlueUnavailableError, glue_score
from electra_lab.tasks.metrics import METRICS, compute_metrics
from electra_lab.tasks.overlap import EvaluationOverlapError, Overlap, check_no_overlap, evaluation_texts
from electra_lab.tasks.probe import probe_suite
from electra_lab.tasks.registry import SUITES, TASKS, UnknownTaskError, get_task, load_task, suite_tasks
from electra_lab.tasks.results import SeedResult, SuiteResult, TaskResult

__all__ = [
    "NO_CAPS", "Example", "LoadOptions", "SplitCaps", "Splits", "Task",
    "FinetuneOptions", "finetune_suite",
    "GLUE_SCORE_TASKS", "GlueUnavailableError", "glue_score",
    "METRICS", "compute_metrics",
    "EvaluationOverlapError", "Overlap", "check_no_overlap", "evaluation_texts",
    "probe_suite",
    "SUITES", "TASKS", "UnknownTaskError", "get_task", "load_task", "suite_tasks",
    "SeedResult", "SuiteResult", "TaskResult",
]
