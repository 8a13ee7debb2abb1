"""A run's live progress as a small JSON file beside it, so a parent process (demo, studies) can
show one line per child job without parsing its output."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path


def write_progress(path: Path, **fields) -> None:
    """Atomically replace `path` with the fields (JSON-serialisable) and an `updated` timestamp."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps({**fields, "updated": time.time()}, default=str))
    os.replace(tmp, path)


def read_progress(path: Path) -> dict | None:
    """The last progress written to `path`, or None when there is none yet (or it is being replaced)."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
