"""Cached, checksummed downloads from the package registries (PyPI via pip, Debian via apt-get).

Every download lands in <cache>/downloads/<registry>/ next to a manifest.json that records the
file name and sha256 per request. A later request reuses the file only if its checksum still
matches; a corrupt or truncated file is reported and fetched again. Extraction is cached with a
done-marker so an interrupted extraction is redone rather than trusted.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from electra_lab.errors import ElectraLabError
from electra_lab.paths import cache_root

log = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.json"
DONE_MARKER = ".extracted"


class SourceUnavailable(ElectraLabError, RuntimeError):
    """A text source cannot be had on this machine (no apt-get, registry unreachable, offline hub)."""


# --- helpers --------------------------------------------------------------------------------------

def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _run_command(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """The one place that shells out, so tests can replace it and never touch the network."""
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)


@contextmanager
def file_lock(directory: Path) -> Iterator[None]:
    """Serialise manifest updates between processes sharing one cache."""
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def read_manifest(directory: Path) -> dict[str, dict]:
    path = directory / MANIFEST_NAME
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError:
        log.warning("download manifest %s is unreadable; treating every file as unverified", path)
        return {}


def _write_json_atomic(path: Path, payload: dict) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(payload, indent=2, sort_keys=True))
    tmp.replace(path)


def _cached_file(directory: Path, key: str) -> Path | None:
    """The recorded file for `key` if it exists and its checksum matches, else None (with a message)."""
    entry = read_manifest(directory).get(key)
    if entry is None:
        return None
    path = directory / entry["file"]
    if not path.exists():
        log.warning("%s: recorded download %s is missing; downloading again", key, path)
        return None
    actual = sha256_file(path)
    if actual != entry["sha256"]:
        log.warning(
            "%s: checksum mismatch for %s (recorded %s, found %s): the file is corrupt; downloading again",
            key, path, entry["sha256"][:12], actual[:12],
        )
        return None
    return path


def _record(directory: Path, key: str, path: Path) -> None:
    with file_lock(directory):
        manifest = read_manifest(directory)
        manifest[key] = {
            "file": path.name,
            "sha256": sha256_file(path),
            "bytes": path.stat().st_size,
            "downloaded_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
        }
        _write_json_atomic(directory / MANIFEST_NAME, manifest)


def _fetch_into(directory: Path, key: str, cmd: list[str], suffixes: tuple[str, ...]) -> Path:
    """Run a downloader in a scratch folder, then move its single product into `directory`.

    The scratch folder means a half-written file never sits where the cache would find it, and we
    learn the exact file name without guessing the registry's naming (epochs, platform tags).
    """
    directory.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".fetch-", dir=directory))
    try:
        result = _run_command(cmd, scratch)
        if result.returncode != 0:
            raise SourceUnavailable(
                f"{key}: `{' '.join(cmd)}` failed (exit {result.returncode}): {result.stderr.strip()[-800:]}"
            )
        products = [p for p in scratch.iterdir() if p.name.endswith(suffixes)]
        if len(products) != 1:
            raise SourceUnavailable(f"{key}: expected one {suffixes} file from the download, got {products}")
        target = directory / products[0].name
        products[0].replace(target)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    _record(directory, key, target)
    return target


# --- PyPI -----------------------------------------------------------------------------------------

def pypi_download(name: str, version: str, *, sdist: bool = False, cache_dir: Path | None = None) -> Path:
    """Download one PyPI distribution (a wheel, or the sdist if `sdist`) without its dependencies."""
    directory = (cache_dir or cache_root()) / "downloads" / "pypi"
    key = f"{name}=={version}" + (" [sdist]" if sdist else " [wheel]")
    if (cached := _cached_file(directory, key)) is not None:
        return cached
    kind = ["--no-binary", ":all:"] if sdist else ["--only-binary", ":all:"]
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", *kind,
           "--disable-pip-version-check", f"{name}=={version}", "-d", "."]
    return _fetch_into(directory, key, cmd, (".whl", ".tar.gz", ".zip", ".tar.bz2"))


# --- Debian ---------------------------------------------------------------------------------------

_apt_updated = False  # `apt-get update` at most once per process


def _apt_update() -> None:
    global _apt_updated
    if _apt_updated:
        return
    _apt_updated = True
    log.info("running `apt-get update` once to refresh package lists")
    result = _run_command(["apt-get", "update"], Path.cwd())
    if result.returncode != 0:
        log.warning("`apt-get update` failed: %s", result.stderr.strip()[-400:])


def apt_download(package: str, *, cache_dir: Path | None = None) -> Path:
    """Download one Debian binary package (.deb) with `apt-get download`, cached and checksummed."""
    directory = (cache_dir or cache_root()) / "downloads" / "apt"
    if (cached := _cached_file(directory, package)) is not None:
        return cached
    if shutil.which("apt-get") is None:
        raise SourceUnavailable(f"debian package {package!r} needs apt-get, which is not on this machine")
    # apt's _apt sandbox user cannot write into our cache folder; download as ourselves instead.
    cmd = ["apt-get", "-o", "APT::Sandbox::User=root", "download", package]
    try:
        return _fetch_into(directory, package, cmd, (".deb",))
    except SourceUnavailable as first:
        if _apt_updated:
            raise
        log.warning("apt-get download %s failed (%s); refreshing package lists and retrying", package, first)
        _apt_update()
        try:
            return _fetch_into(directory, package, cmd, (".deb",))
        except SourceUnavailable as second:
            raise SourceUnavailable(
                f"debian package {package!r} could not be downloaded even after `apt-get update`: {second}"
            ) from None


# --- extraction -----------------------------------------------------------------------------------

def _is_extracted(dest: Path, archive: Path) -> bool:
    marker = dest / DONE_MARKER
    return marker.exists() and marker.read_text().strip() == archive.name


def _extract_via_scratch(archive: Path, dest: Path, unpack) -> Path:
    """Unpack into a sibling scratch folder, then rename it into place, so `dest` is never partial."""
    with file_lock(dest.parent):  # two processes extracting the same archive take turns
        if _is_extracted(dest, archive):
            return dest
        scratch = Path(tempfile.mkdtemp(prefix=f".{dest.name}-", dir=dest.parent))
        try:
            unpack(scratch)
            (scratch / DONE_MARKER).write_text(archive.name + "\n")
            if dest.exists():
                shutil.rmtree(dest)
            scratch.replace(dest)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    return dest


def extract_deb(deb: Path, dest: Path) -> Path:
    """`dpkg -x` a .deb into `dest` (skipped when `dest` already holds this .deb's extraction)."""
    deb, dest = Path(deb), Path(dest)
    if _is_extracted(dest, deb):
        return dest
    if shutil.which("dpkg") is None:
        raise SourceUnavailable(f"cannot extract {deb.name}: dpkg is not on this machine")

    def unpack(scratch: Path) -> None:
        result = subprocess.run(["dpkg", "-x", str(deb), str(scratch)], capture_output=True, text=True)
        if result.returncode != 0:
            raise SourceUnavailable(f"dpkg -x {deb} failed: {result.stderr.strip()[-400:]}")

    return _extract_via_scratch(deb, dest, unpack)


def extract_archive(path: Path, dest: Path) -> Path:
    """Unpack a .whl/.zip/.tar.gz/.tgz/.tar.bz2/.tar into `dest` (cached like `extract_deb`)."""
    path = Path(path)
    name = path.name.lower()

    def unpack(scratch: Path) -> None:
        if name.endswith((".whl", ".zip")):
            with zipfile.ZipFile(path) as archive:
                archive.extractall(scratch)
        elif name.endswith((".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".tar")):
            with tarfile.open(path) as archive:
                if hasattr(tarfile, "data_filter"):  # refuses absolute paths and links outside
                    archive.extractall(scratch, filter="data")
                else:
                    archive.extractall(scratch)
        else:
            raise ValueError(f"don't know how to unpack {path.name}")

    return _extract_via_scratch(path, Path(dest), unpack)


def extracted_apt_package(package: str, cache_dir: Path | None = None) -> Path:
    """Download and extract a Debian package; returns the root of its file tree."""
    cache = cache_dir or cache_root()
    deb = apt_download(package, cache_dir=cache)
    return extract_deb(deb, cache / "extracted" / "apt" / deb.stem)
