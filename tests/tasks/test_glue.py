"""GLUE loading from fixture folders in the original download layout, and from hub-format rows."""
import time

import pytest

from electra_lab.tasks.base import LoadOptions, SplitCaps
from electra_lab.tasks.glue import GLUE_SCORE_TASKS, GlueUnavailableError, examples_from_hub, glue_score, load_glue_hub
from electra_lab.tasks.registry import get_task

MNLI_HEAD = ("index promptID pairID genre sentence1_binary_parse sentence2_binary_parse sentence1_parse "
             "sentence2_parse sentence1 sentence2 label1").split()


def write_tsv(path, rows, header=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = (["\t".join(header)] if header else []) + ["\t".join(r) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.fixture
def glue_dir(tmp_path):
    root = tmp_path / "glue_data"
    # CoLA: no header; source, label, original annotation, sentence
    cola = [["gj04", "1", "", "Our friends won't buy this analysis."], ["gj04", "0", "*", "They drank the pub."]]
    write_tsv(root / "CoLA/train.tsv", cola)
    write_tsv(root / "CoLA/dev.tsv", cola[:1])
    sst2 = [["hide new secretions from the parental units ", "0"], ["a gorgeous film", "1"]]
    write_tsv(root / "SST-2/train.tsv", sst2, ["sentence", "label"])
    write_tsv(root / "SST-2/dev.tsv", [["it 's a charming journey . ", "1"]], ["sentence", "label"])
    mrpc_head = ["Quality", "#1 ID", "#2 ID", "#1 String", "#2 String"]
    mrpc = [["1", "702876", "702977", "Amrozi accused his brother.", "Referring to him, Amrozi accused his brother."],
            ["0", "2108705", "2108831", "Yucaipa owned Dominick's.", "Yucaipa bought Dominick's in 1995."]]
    write_tsv(root / "MRPC/train.tsv", mrpc, mrpc_head)
    write_tsv(root / "MRPC/dev.tsv", mrpc[1:], mrpc_head)
    sts_head = "index genre filename year old_index source1 source2 sentence1 sentence2 score".split()
    sts = [["0", "main-captions", "MSRvid", "2012test", "0001", "none", "none", "A plane is taking off.",
            "An air plane is taking off.", "5.000"],
           ["1", "main-captions", "MSRvid", "2012test", "0004", "none", "none", "A man is playing a flute.",
            "A man plays a guitar.", "1.600"]]
    write_tsv(root / "STS-B/train.tsv", sts, sts_head)
    write_tsv(root / "STS-B/dev.tsv", sts, sts_head)
    mnli_train = [["0", "31193", "31193n", "government", "( ( x ) )", "( y )", "(ROOT x)", "(ROOT y)",
                   "Conceptually cream skimming has two basic dimensions.",
                   "Product and geography are what make cream skimming work. ", "neutral", "neutral"]]
    write_tsv(root / "MNLI/train.tsv", mnli_train, MNLI_HEAD + ["gold_label"])
    mnli_dev = [["0", "63735", "63735n", "slate", "(x)", "(y)", "(ROOT x)", "(ROOT y)",
                 "The new rights are nice enough", "Everyone really likes the newest benefits ",
                 "neutral", "entailment", "neutral", "neutral", "neutral", "neutral"],
                ["1", "91383", "91383c", "government", "(x)", "(y)", "(ROOT x)", "(ROOT y)",
                 "This site includes a list.", "The Government Executive articles are not on the website.",
                 "contradiction", "contradiction", "contradiction", "contradiction", "contradiction", "contradiction"]]
    write_tsv(root / "MNLI/dev_matched.tsv", mnli_dev,
              MNLI_HEAD + ["label2", "label3", "label4", "label5", "gold_label"])
    qqp_head = "id qid1 qid2 question1 question2 is_duplicate".split()
    qqp = [["133273", "213221", "213222", 'How is the life of a "math" student?',
            "Which level of prepration is enough?", "0"],
           ["402555", "536040", "536041", "How do I control my horny emotions?",
            "How do you control your horniness?", "1"],
           ["1", "2", "broken line"]]
    write_tsv(root / "QQP/train.tsv", qqp, qqp_head)
    write_tsv(root / "QQP/dev.tsv", qqp[:2], qqp_head)
    for folder in ("QNLI", "RTE"):
        head = (["index", "question", "sentence", "label"] if folder == "QNLI"
                else ["index", "sentence1", "sentence2", "label"])
        rows = [["0", "When did it open?", "It opened in 1990.", "entailment"],
                ["1", "Who won?", "Nobody knows.", "not_entailment"]]
        write_tsv(root / f"{folder}/train.tsv", rows, head)
        write_tsv(root / f"{folder}/dev.tsv", rows, head)
    return root


def load(name, glue_dir, caps=None):
    return get_task(name).load(LoadOptions(glue_dir=glue_dir, caps=caps))


def test_cola_has_no_header(glue_dir):
    splits = load("cola", glue_dir)
    assert [(e.text_a, e.label) for e in splits["train"]] == [
        ("Our friends won't buy this analysis.", 1), ("They drank the pub.", 0)]
    assert splits["train"][0].text_b is None and len(splits["dev"]) == 1


def test_sst2_header_and_labels(glue_dir):
    splits = load("SST-2", glue_dir)  # the folder spelling is accepted as a task name
    assert [e.label for e in splits["train"]] == [0, 1]
    assert splits["dev"][0].text_a.startswith("it 's a charming")


def test_mrpc_pairs(glue_dir):
    train = load("mrpc", glue_dir)["train"]
    assert train[0].text_a == "Amrozi accused his brother." and train[0].text_b.startswith("Referring")
    assert [e.label for e in train] == [1, 0]


def test_stsb_regression_scores(glue_dir):
    train = load("stsb", glue_dir)["train"]
    assert [e.label for e in train] == [5.0, 1.6]
    assert train[1].text_b == "A man plays a guitar."


def test_mnli_dev_matched_gold_label(glue_dir):
    task = get_task("mnli")
    splits = task.load(LoadOptions(glue_dir=glue_dir))
    assert [task.label_names[e.label] for e in splits["dev"]] == ["neutral", "contradiction"]
    assert splits["dev"][0].text_b == "Everyone really likes the newest benefits "
    assert splits["train"][0].label == task.label_names.index("neutral")


def test_qqp_keeps_quotes_and_skips_broken_rows(glue_dir):
    train = load("qqp", glue_dir)["train"]
    assert len(train) == 2 and '"math"' in train[0].text_a


def test_named_labels_qnli_rte(glue_dir):
    for name in ("qnli", "rte"):
        assert [e.label for e in load(name, glue_dir)["train"]] == [0, 1]


def test_caps_apply_to_glue(glue_dir):
    assert len(load("qqp", glue_dir, SplitCaps(train=1))["train"]) == 1


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(GlueUnavailableError, match="WNLI/train.tsv"):
        load("wnli", tmp_path)


def test_hub_rows_through_the_same_converter():
    from datasets import Dataset

    mrpc = Dataset.from_dict({"sentence1": ["a b", "c d"], "sentence2": ["b a", "d c"], "label": [1, 0], "idx": [0, 1]})
    examples = examples_from_hub(mrpc, get_task("mrpc"))
    assert [(e.text_a, e.text_b, e.label) for e in examples] == [("a b", "b a", 1), ("c d", "d c", 0)]
    mnli = Dataset.from_dict({"premise": ["p", "q"], "hypothesis": ["h", "i"], "label": [2, -1], "idx": [0, 1]})
    assert [(e.text_a, e.label) for e in examples_from_hub(mnli, get_task("mnli"))] == [("p", 2)]  # -1: unlabelled
    stsb = Dataset.from_dict({"sentence1": ["x"], "sentence2": ["y"], "label": [3.8], "idx": [0]})
    assert examples_from_hub(stsb, get_task("stsb"))[0].label == pytest.approx(3.8)
    cola = Dataset.from_dict({"sentence": ["s"], "label": [1], "idx": [0]})
    assert examples_from_hub(cola, get_task("cola"))[0].text_b is None


def test_hub_fails_fast_and_clearly_when_offline():
    started = time.time()
    with pytest.raises(GlueUnavailableError) as error:
        load_glue_hub(get_task("sst2"))
    assert time.time() - started < 15  # a network attempt would take ~24 s
    message = str(error.value)
    assert "HF_HUB_OFFLINE" in message and "glue_dir" in message


def test_glue_score_is_the_plain_mean_of_eight():
    scores = {name: i / 10 for i, name in enumerate(GLUE_SCORE_TASKS)}
    assert glue_score({**scores, "wnli": 1.0}) == pytest.approx(sum(scores.values()) / 8)
    with pytest.raises(ValueError, match="rte"):
        glue_score({k: v for k, v in scores.items() if k != "rte"})
    assert len(GLUE_SCORE_TASKS) == 8 and "wnli" not in GLUE_SCORE_TASKS


def test_glue_task_descriptions():
    assert get_task("stsb").is_regression and get_task("stsb").regression_divisor == 5.0
    assert get_task("cola").metric == "matthews_corr" and get_task("stsb").metric == "spearman"
    assert {n for n in GLUE_SCORE_TASKS if get_task(n).symmetric} == {"mrpc", "stsb"}
    assert {n for n in GLUE_SCORE_TASKS if get_task(n).epochs == 10} == {"rte", "stsb"}
    assert all(get_task(n).report_split == "dev" for n in GLUE_SCORE_TASKS)


def test_a_label_outside_the_classes_names_the_file_and_line(tmp_path):
    folder = tmp_path / "SST-2"
    folder.mkdir()
    for split in ("train", "dev"):
        (folder / f"{split}.tsv").write_text("sentence\tlabel\nfine film\t1\nodd row\t7\n")
    with pytest.raises(GlueUnavailableError, match=r"SST-2/train.tsv line 3: sst2: label '7' outside 0..1"):
        get_task("sst2").load(LoadOptions(glue_dir=tmp_path))
