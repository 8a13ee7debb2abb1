"""The project's own error types: problems with what the user gave (a config, a file, a task name,
a data source) or a run that cannot go on (a non-finite loss). The CLI reports these in one line;
any other exception is a bug and keeps its traceback."""
from __future__ import annotations


class ElectraLabError(Exception):
    """Base of every error the CLI reports in one line (with -v it shows the traceback too)."""
