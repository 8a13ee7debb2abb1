"""The project's own error types: problems with what the user gave (a config, a file, a task name,
a data source) or a run that cannot go on (a non-finite loss). The CLI reports these in one line;
any other exception is a bug and keeps its traceback."""
from __future__ import annotations


class ElectraLabError(Exception):
    """Base of every error the CLI reports in one line (with -v it shows the traceback too)."""


def report_errors(work, verbose: bool = False) -> int:
    """Run `work()` and return its exit code; the project's own errors become one line on stderr
    (exit 2 for a configuration problem, 1 otherwise), with the traceback too when verbose. Any
    other exception propagates: it is a bug and keeps its traceback."""
    import sys
    import traceback

    try:
        return work()
    except ElectraLabError as exc:
        if verbose:
            traceback.print_exc(file=sys.stderr)
        config = any(cls.__name__ == "ConfigError" for cls in type(exc).__mro__)
        print(f"electra-lab: {'config error' if config else 'error'}: {exc}", file=sys.stderr)
        return 2 if config else 1
