"""L2A-style setting (source full, target cut to N labels) and the CLI's one-line errors for bad domains."""

from __future__ import annotations

import numpy as np
import pytest

from hrkd_lite.cli import main
from hrkd_lite.data import load_data
from hrkd_lite.errors import HrkdError
from hrkd_lite.methods.l2a.setting import SOURCE, TARGET, make_setting
from hrkd_lite.profiles import get_profile


@pytest.fixture(scope="module")
def data():
    return load_data("synthetic", profile=get_profile("ci"), seed=0)


def test_target_is_cut_to_n_stratified_and_keeps_dev_test(data):
    st = make_setting(data, "electronics", "kitchen", 16, seed=3)
    d = st.data
    assert d.domains == ["electronics", "kitchen"] and SOURCE == 0 and TARGET == 1
    assert len(d.split("kitchen", "train")) == 16
    assert len(d.split("electronics", "train")) == len(data.split("electronics", "train"))
    for s in ("dev", "test"):
        assert d.split("kitchen", s)["text"] == data.split("kitchen", s)["text"]
    lab = np.asarray(d.split("kitchen", "train")["label"])
    assert abs(lab.mean() - np.mean(data.split("kitchen", "train")["label"])) < 0.1  # stratified
    full = set(data.split("kitchen", "train")["text"])
    assert set(d.split("kitchen", "train")["text"]) <= full
    again = make_setting(data, "electronics", "kitchen", 16, seed=3)
    assert again.texts(TARGET, "train") == st.texts(TARGET, "train")
    other = make_setting(data, "electronics", "kitchen", 16, seed=4)
    assert other.texts(TARGET, "train") != st.texts(TARGET, "train")


@pytest.mark.parametrize("src,tgt,n,needle", [
    ("nope", "kitchen", 16, "unknown source domain 'nope'; valid choices: books"),
    ("books", "garden", 16, "unknown target domain 'garden'"),
    ("books", "books", 16, "source and target domain are both 'books'"),
    ("books", "kitchen", 10_000, "--target-labels 10000 is outside 2.."),
    ("books", "kitchen", 1, "--target-labels 1 is outside"),
])
def test_bad_arguments_one_line(data, src, tgt, n, needle):
    with pytest.raises(HrkdError) as err:
        make_setting(data, src, tgt, n)
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_cli_bad_domain_is_one_line(tmp_path, capsys):
    code = main(["run", "l2a", "--profile", "ci", "--data", "synthetic", "--source-domain", "books",
                 "--target-domain", "books", "--target-labels", "16", "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "source and target domain are both 'books'" in err
    code = main(["run", "l2a", "--profile", "ci", "--source-domain", "books", "--target-domain", "kitchen",
                 "--target-labels", "999", "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2 and "outside 2..48" in err and err.count("\n") == 1
    code = main(["run", "l2a", "--profile", "ci", "--reward", "test_acc", "--out", str(tmp_path / "r")])
    assert code == 2 and "test_acc" in capsys.readouterr().err


@pytest.mark.amazon
def test_amazon_books_to_kitchen(amazon_dir):
    data = load_data("amazon", amazon_dir, profile=get_profile("ci"), seed=0)
    st = make_setting(data, "books", "kitchen", 32, seed=1)
    assert st.data.domains == ["books", "kitchen"] and len(st.data.split("kitchen", "train")) == 32
    assert len(st.data.split("books", "train")) == len(data.split("books", "train"))
