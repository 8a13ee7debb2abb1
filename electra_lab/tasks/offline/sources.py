"""Get single files out of PyPI packages, cached under <cache>/tasks/ and checked by content.

The packages are fetched by electra_lab.data.download.pypi_download (pip, cached, checksummed).
We then pull out only the members a task needs: the BIG-bench sdist unpacks to ~1.8 GB, of
which the suite reads three JSON files. Each extracted file is pinned by sha256, so a package
that changed under the same version is reported instead of silently giving other data.

A release can vanish from PyPI (bigbench 1.0.0's sdist did, in December 2026), so a source has
two more homes, tried in this order: the checked cache; a copy the user names in
ELECTRA_LAB_<SOURCE>_SOURCE (a checkout or unpacked copy whose tree holds the members' paths, or
the package archive itself); PyPI; each member's own `url` (e.g. the file in the project's public
repository). Whatever the home, a file whose sha256 is not the pinned one is refused.
"""
from __future__ import annotations

import hashlib
import io
import logging
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from electra_lab.errors import ElectraLabError
from electra_lab.paths import cache_root

log = logging.getLogger(__name__)


class TaskDataError(ElectraLabError, RuntimeError):
    """A task's source package could not be had, or its content is not what we pinned."""


@dataclass(frozen=True)
class Member:
    """One file inside a package: its path inside the archive (without the sdist's top folder),
    optionally inside a nested archive, and its pinned sha256."""

    path: str
    sha256: str
    inner: str | None = None  # a member of the archive at `path` (e.g. a .tar.gz inside an sdist)
    url: str | None = None  # where the same bytes are published outside PyPI (None: nowhere)


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def tasks_cache(source: str) -> Path:
    folder = cache_root() / "tasks" / source
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _cached(folder: Path, members: Mapping[str, Member]) -> dict[str, Path] | None:
    paths = {key: folder / key for key in members}
    if all(p.is_file() for p in paths.values()):
        if all(sha256_bytes(p.read_bytes()) == members[k].sha256 for k, p in paths.items()):
            return paths
        log.warning("cached task files in %s fail their checksum; extracting again", folder)
    return None


def _write_checked(folder: Path, key: str, member: Member, data: bytes) -> Path:
    if member.inner is not None:
        data = _read_inner(data, member.inner)
    actual = sha256_bytes(data)
    if actual != member.sha256:
        raise TaskDataError(
            f"{member.path}{'!' + member.inner if member.inner else ''}: sha256 {actual[:16]}... "
            f"is not the pinned {member.sha256[:16]}...: the package content changed"
        )
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / key
    tmp = target.with_name(f".{key}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    tmp.replace(target)
    return target


def _read_inner(archive_bytes: bytes, inner: str) -> bytes:
    with tarfile.open(fileobj=io.BytesIO(archive_bytes)) as tar:
        for info in tar:
            if info.isfile() and _matches(info.name, inner):
                return tar.extractfile(info).read()
    raise TaskDataError(f"nested archive has no member {inner!r}")


def _matches(archive_name: str, path: str) -> bool:
    """Archive names carry a top folder in sdists ('bigbench-1.0.0/...'); wheels do not."""
    return archive_name == path or archive_name.endswith("/" + path)


def extract_members(archive: Path, members: Mapping[str, Member], folder: Path) -> dict[str, Path]:
    """Read only `members` from a wheel/zip or tar.gz (one streaming pass) into `folder`."""
    found: dict[str, Path] = {}
    if archive.name.endswith((".whl", ".zip")):
        with zipfile.ZipFile(archive) as zf:
            for name in zf.namelist():
                for key, member in members.items():
                    if key not in found and _matches(name, member.path):
                        found[key] = _write_checked(folder, key, member, zf.read(name))
    else:
        with tarfile.open(archive, mode="r|*") as tar:  # streaming: no seeks over 358 MB
            for info in tar:
                if not info.isfile():
                    continue
                for key, member in members.items():
                    if key not in found and _matches(info.name, member.path):
                        found[key] = _write_checked(folder, key, member, tar.extractfile(info).read())
                if len(found) == len(members):
                    break
    missing = sorted(set(members) - set(found))
    if missing:
        raise TaskDataError(f"{archive.name} lacks {[members[k].path for k in missing]}")
    return found


def source_env(source: str) -> str:
    """The environment variable that names a local copy of `source` (e.g. ELECTRA_LAB_BIGBENCH_SOURCE)."""
    return f"ELECTRA_LAB_{source.upper()}_SOURCE"


URL_TIMEOUT_S = 60


def package_files(source: str, name: str, version: str, members: Mapping[str, Member], *,
                  sdist: bool = False) -> dict[str, Path]:
    """The files `members` of PyPI package name==version, extracted once into <cache>/tasks/source/,
    from the first home that has them all with their pinned content (see the module docstring)."""
    folder = tasks_cache(source)
    if (paths := _cached(folder, members)) is not None:
        return paths
    env = source_env(source)
    homes = [(f"{env}={os.environ[env]}", lambda: _from_local_copy(Path(os.environ[env]), members, folder))
             ] if os.environ.get(env) else []
    homes.append((f"PyPI {name}=={version}", lambda: _from_pypi(name, version, members, folder, sdist)))
    if all(m.url for m in members.values()):
        homes.append(("its published URLs", lambda: _from_urls(members, folder)))
    failures = []
    for where, fetch in homes:
        try:
            return fetch()
        except TaskDataError as error:
            failures.append(f"{where}: {error}")
    raise TaskDataError(f"cannot get the task files {sorted(members)} of {name}=={version}. Tried "
                        + " | ".join(failures) + f" | To use a copy you have (a checkout, an unpacked package or "
                        f"its archive), set {env} to its path; its files are checked against the pinned sha256.")


def _from_pypi(name: str, version: str, members: Mapping[str, Member], folder: Path, sdist: bool) -> dict[str, Path]:
    from electra_lab.data.download import SourceUnavailable, pypi_download  # network only on a cold cache

    try:
        archive = pypi_download(name, version, sdist=sdist)
    except SourceUnavailable as error:
        if not (sdist and "direct URL" in str(error)):
            raise TaskDataError(f"cannot download {name}=={version} from PyPI: {error}") from error
        # pip refuses to *save* an sdist whose metadata names a direct-URL dependency (bigbench 1.0.0
        # requires bleurt from a bundled zip), yet it has unpacked it by then: read it from there.
        return _members_from_pip_unpack(name, version, members, folder)
    return extract_members(archive, members, folder)


def _from_local_copy(root: Path, members: Mapping[str, Member], folder: Path) -> dict[str, Path]:
    """A package archive, or a folder holding the members' paths (directly or under one top folder,
    as an unpacked sdist does)."""
    if root.is_file():
        return extract_members(root, members, folder)
    if not root.is_dir():
        raise TaskDataError(f"{root} is neither a folder nor an archive")
    found = {}
    for key, member in members.items():
        hits = [p for p in (root / member.path, *root.glob(f"*/{member.path}")) if p.is_file()]
        if not hits:
            raise TaskDataError(f"{root} holds no {member.path}")
        found[key] = _write_checked(folder, key, member, hits[0].read_bytes())
    return found


def _from_urls(members: Mapping[str, Member], folder: Path) -> dict[str, Path]:
    found = {}
    for key, member in members.items():
        try:
            with urllib.request.urlopen(member.url, timeout=URL_TIMEOUT_S) as response:
                data = response.read()
        except (urllib.error.URLError, OSError) as error:
            raise TaskDataError(f"cannot download {member.url}: {error}") from error
        found[key] = _write_checked(folder, key, member, data)
    return found


def _members_from_pip_unpack(name: str, version: str, members: Mapping[str, Member], folder: Path) -> dict[str, Path]:
    scratch = Path(tempfile.mkdtemp(prefix=".pip-unpack-", dir=folder))
    try:
        log.info("fetching %s==%s through pip's unpacked sdist (pip will not save this one)", name, version)
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "--no-clean",
               "--disable-pip-version-check", f"{name}=={version}", "-d", str(scratch / "dist")]
        result = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "TMPDIR": str(scratch)})
        found = {}
        for key, member in members.items():
            hits = [p for p in scratch.glob(f"pip-*/*/{member.path}") if p.is_file()]
            if not hits:
                raise TaskDataError(
                    f"cannot get {name}=={version} from PyPI (pip exit {result.returncode}): "
                    f"{result.stderr.strip()[-600:]}"
                )
            found[key] = _write_checked(folder, key, member, hits[0].read_bytes())
        return found
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
