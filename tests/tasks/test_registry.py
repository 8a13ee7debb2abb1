import pytest

from electra_lab.tasks.registry import SUITES, TASKS, UnknownTaskError, get_task, suite_tasks


def test_unknown_task_lists_valid_names():
    with pytest.raises(UnknownTaskError) as error:
        get_task("sst3")
    message = str(error.value)
    assert "sst3" in message and all(name in message for name in TASKS)


def test_unknown_suite_lists_valid_suites():
    with pytest.raises(UnknownTaskError, match="offline"):
        suite_tasks("superglue")


def test_suites_name_registered_tasks():
    assert len(SUITES["glue"]) == 8
    assert set(SUITES["offline"]) == {"movie_polarity", "movie_intensity", "vitaminc", "hyperbaton", "winowhy",
                                      "bbc_topic"}
    for names in SUITES.values():
        assert all(name in TASKS for name in names)


def test_aliases_and_subsets():
    assert get_task("STS-B").name == "stsb" and get_task("sst-2").name == "sst2"
    assert [t.name for t in suite_tasks("offline", ["winowhy"])] == ["winowhy"]


def test_every_task_is_well_formed():
    for task in TASKS.values():
        assert task.report_split in ("dev", "test")
        assert task.num_labels == 1 or len(task.label_names) == task.num_labels, task.name
        assert task.metric in ("accuracy", "matthews_corr", "spearman")
        assert not task.symmetric or task.is_pair
