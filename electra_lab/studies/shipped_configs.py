"""The experiment YAMLs that ship with electra-lab (the repository's top-level experiments/ folder).

A built package carries them as package data: pyproject.toml maps the package
`electra_lab.experiments` to experiments/, so a wheel (or `pip install .`) has them at
electra_lab/experiments/ and finds them through importlib.resources, wherever it is installed
and whatever the working folder. An editable install or a checkout on PYTHONPATH has no such
copy (setuptools' editable finder cannot import a data-only subpackage, one without
__init__.py, of a regular package), so there the folder beside the package source is used.
"""
from __future__ import annotations

from importlib import resources
from pathlib import Path


def experiments_dir() -> Path:
    """The folder of shipped configs (pretrain/, models/, strategies/, studies/)."""
    # a real folder: configs name their parents by relative path (`inherit: ../models/tiny.yaml`),
    # and installed wheels are always unpacked on disk
    package = Path(str(resources.files("electra_lab")))
    for folder in (package / "experiments", package.parent / "experiments"):
        if (folder / "pretrain").is_dir():
            return folder
    raise FileNotFoundError(f"electra-lab's experiment configs are neither in {package / 'experiments'} (an "
                            f"installed package) nor beside it (a checkout): the installation is incomplete")


def experiment_path(config: str | Path) -> Path:
    """A shipped config named relative to experiments/ ('pretrain/tiny_electra.yaml'); an absolute
    path (the user's own config) is returned as given."""
    config = Path(config)
    return config if config.is_absolute() else experiments_dir() / config
