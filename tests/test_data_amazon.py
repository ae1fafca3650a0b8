"""Amazon multi-domain loader: parsing, HRKD split, errors (real data tests skip when absent)."""

from __future__ import annotations

import numpy as np
import pytest

from hrkd_lite.data import load_data
from hrkd_lite.data.amazon import HRKD_SPLIT, load_amazon, parse_reviews, split_counts
from hrkd_lite.errors import HrkdError

REVIEW = """<review>
<rating>
5.0
</rating>
<review_text>
Great  book,
really \xe9 great.
</review_text>
</review>
"""


def _fake(root, domains=("books", "dvd", "electronics", "kitchen"), n=10, kitchen_folder="kitchen"):
    for d in domains:
        folder = root / (kitchen_folder if d == "kitchen" else d)
        folder.mkdir(parents=True)
        for name in ("positive", "negative"):
            body = "".join(REVIEW.replace("Great", f"{name} {d} {i}") for i in range(n))
            (folder / f"{name}.review").write_bytes(f"<reviews>\n{body}</reviews>\n".encode("latin-1"))


@pytest.mark.amazon
def test_real_data_hrkd_split(amazon_dir):
    data = load_amazon(amazon_dir)
    assert data.domains == ["books", "dvd", "electronics", "kitchen"]
    assert data.label_names == ["negative", "positive"]
    for d in data.domains:
        sizes = tuple(len(data.split(d, s)) for s in ("train", "dev", "test"))
        assert sizes == HRKD_SPLIT[d]
        labels = np.concatenate([data.split(d, s)["label"] for s in ("train", "dev", "test")])
        assert np.bincount(labels).tolist() == [1000, 1000]
        assert 0.4 < np.mean(data.split(d, "dev")["label"]) < 0.6
    again = load_amazon(amazon_dir, domains=["dvd"])
    assert again.split("dvd", "test")["text"] == data.split("dvd", "test")["text"]
    other = load_amazon(amazon_dir, domains=["dvd"], seed=1)
    assert other.split("dvd", "test")["text"] != data.split("dvd", "test")["text"]
    text = data.split("books", "train")["text"][0]
    assert "\n" not in text and "  " not in text and len(text) > 20


@pytest.mark.amazon
def test_real_data_via_load_data_profile(amazon_dir):
    data = load_data("amazon", amazon_dir, profile=__import__("hrkd_lite").get_profile("ci"))
    assert data.sizes("train") == [48] * 4 and data.sizes("test") == [32] * 4


def test_parse_collapses_whitespace_and_replaces_bad_bytes(tmp_path):
    _fake(tmp_path, domains=("books",), n=3)
    texts = parse_reviews(tmp_path / "books" / "positive.review")
    assert texts == [f"positive books {i} book, really \ufffd great." for i in range(3)]


@pytest.mark.filterwarnings("ignore:Amazon domain")
def test_fake_layout_with_kitchen_alias_and_scaled_split(tmp_path):
    _fake(tmp_path, n=50, kitchen_folder="kitchen_&_housewares")
    with pytest.warns(UserWarning, match="scaled"):
        data = load_amazon(tmp_path)
    assert data.sizes("train") == [82, 81, 80, 81]
    assert all(len(data.split(d, "test")) == split_counts(d, 100)[2] for d in data.domains)
    data.validate()


@pytest.mark.filterwarnings("ignore:Amazon domain")
def test_errors(tmp_path):
    with pytest.raises(HrkdError, match="nowhere.*positive.review"):
        load_amazon(tmp_path / "nowhere")
    _fake(tmp_path, domains=("books", "dvd"), n=2)
    with pytest.raises(HrkdError, match="electronics"):
        load_amazon(tmp_path)
    with pytest.raises(HrkdError, match="'toys'.*books, dvd"):
        load_amazon(tmp_path, domains=["toys"])
    (tmp_path / "dvd" / "negative.review").unlink()
    with pytest.raises(HrkdError, match="negative.review"):
        load_amazon(tmp_path, domains=["dvd"])
    (tmp_path / "books" / "negative.review").write_text("no reviews here")
    with pytest.raises(HrkdError, match="books.*negative.review"):
        load_amazon(tmp_path, domains=["books"])


def test_default_dir_is_the_env_var_or_the_download_cache(monkeypatch, tmp_path, amazon_dir):
    from hrkd_lite.data import amazon as A

    monkeypatch.setenv("HRKD_AMAZON_DIR", str(amazon_dir))
    assert A.default_amazon_dir() == amazon_dir and A.amazon_available() == amazon_dir
    monkeypatch.delenv("HRKD_AMAZON_DIR")
    monkeypatch.setattr(A, "DEFAULT_CACHE", tmp_path / "cache")
    assert A.default_amazon_dir() == tmp_path / "cache" and A.amazon_available() is None
    assert A.amazon_available(tmp_path) is None
