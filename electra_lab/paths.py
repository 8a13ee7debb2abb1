"""Where electra-lab keeps downloads and derived data (corpora, tokenizers, packed blocks)."""
import os
from pathlib import Path


def cache_root() -> Path:
    """$ELECTRA_LAB_CACHE, else ~/.cache/electra_lab. Everything derived is rebuilt from here."""
    root = Path(os.environ.get("ELECTRA_LAB_CACHE", Path.home() / ".cache" / "electra_lab"))
    root.mkdir(parents=True, exist_ok=True)
    return root
