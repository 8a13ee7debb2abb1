"""Library chatter off for a command-line run (the CLI and the study workers it starts)."""
from __future__ import annotations

import logging
import os
import sys

# Library chatter off for a command-line run: transformers' and datasets' progress bars (pages of
# "Writing model shards" per export), transformers' warnings on loading and saving, MLflow's INFO
# lines on creating a store. main() does this once; the library never does, so a notebook or a test
# that imports electra_lab keeps the settings it has. The switches are process-wide. datasets and
# mlflow are imported late (they cost seconds), so they get their documented environment switches,
# which they read at import and the study's child processes inherit; a variable already set is kept.
BARS_OFF = {"HF_DATASETS_DISABLE_PROGRESS_BARS": "1"}
INFO_OFF = {"MLFLOW_LOGGING_LEVEL": "WARNING"}


def quiet_libraries(verbose: bool = False) -> None:
    """Progress bars off; warnings and INFO chatter too unless `verbose` (-v: they may explain a
    failure)."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # also huggingface_hub's download bars
    if not verbose:
        hf_logging.set_verbosity_error()
    for name, value in {**BARS_OFF, **({} if verbose else INFO_OFF)}.items():
        os.environ.setdefault(name, value)
    if "datasets" in sys.modules:  # already imported: the variable came too late
        sys.modules["datasets"].disable_progress_bars()
    if "mlflow" in sys.modules and "MLFLOW_LOGGING_LEVEL" in os.environ:
        logging.getLogger("mlflow").setLevel(os.environ["MLFLOW_LOGGING_LEVEL"].upper())
