"""MultiDomainData methods and load_data."""

from __future__ import annotations

import datasets
import numpy as np
import pytest

from hrkd_lite.data import SOURCES, MultiDomainData, load_data
from hrkd_lite.data.base import make_split, prefix_size
from hrkd_lite.data.synthetic import make_synthetic
from hrkd_lite.errors import HrkdError
from hrkd_lite.profiles import get_profile


@pytest.fixture(scope="module")
def syn():
    return make_synthetic(num_domains=3, per_domain=300, seed=0)


def _tiny(labels_per_split=((0, 1, 0, 1), (0, 1), (1, 0))) -> MultiDomainData:
    parts = {s: make_split({"text": [f"t{i}" for i in range(len(lab))], "label": list(lab)})
             for s, lab in zip(("train", "dev", "test"), labels_per_split)}
    return MultiDomainData(source="tiny", domains=["a"], label_names=["neg", "pos"],
                           splits={"a": datasets.DatasetDict(parts)})


def test_describe_lists_domains_and_sizes(syn):
    text = syn.describe()
    for d in syn.domains:
        assert d in text
    assert "240" in text and "neg:" in text and "total" in text


def test_domain_index_and_split_errors(syn):
    assert syn.domain_index("movies") == 1 and syn.domain_index(2) == 2
    with pytest.raises(HrkdError, match="'cars'.*books"):
        syn.domain_index("cars")
    with pytest.raises(HrkdError, match="'validation'"):
        syn.split("books", "validation")
    with pytest.raises(HrkdError, match="7"):
        syn.domain_index(7)


def test_subsample_stratified_deterministic(syn):
    a = syn.subsample(train=50, dev=20, seed=1)
    b = syn.subsample(train=50, dev=20, seed=1)
    c = syn.subsample(train=50, dev=20, seed=2)
    assert a.sizes("train") == [50] * 3 and a.sizes("dev") == [20] * 3 and a.sizes("test") == syn.sizes("test")
    assert a.split("books", "train")["text"] == b.split("books", "train")["text"]
    assert a.split("books", "train")["text"] != c.split("books", "train")["text"]
    full = np.mean(syn.split("books", "train")["label"])
    assert abs(np.mean(a.split("books", "train")["label"]) - full) <= 0.03
    # original row order kept
    src = syn.split("books", "train")["text"]
    pos = [src.index(t) for t in a.split("books", "train")["text"]]
    assert pos == sorted(pos)
    assert syn.sizes("train") == [240] * 3  # not modified in place


def test_few_shot_stratified(syn):
    fs = syn.few_shot(0.1, seed=0, mode="stratified")
    assert fs.sizes("train") == [24] * 3 and fs.sizes("dev") == syn.sizes("dev")
    assert fs.info["few_shot"]["mode"] == "stratified"
    assert (fs.split("books", "train")["text"]
            == syn.few_shot(0.1, seed=0, mode="stratified").split("books", "train")["text"])
    assert (fs.split("books", "train")["text"]
            != syn.few_shot(0.1, seed=5, mode="stratified").split("books", "train")["text"])
    lab = np.array(fs.split("movies", "train")["label"])
    assert abs(lab.mean() - 0.5) <= 0.1
    tiny = syn.few_shot(0.001, seed=0, mode="stratified")  # at least one per class
    assert sorted(set(tiny.split("books", "train")["label"])) == [0, 1]
    only = syn.few_shot(0.1, seed=0, domains=["books"], mode="stratified")
    assert only.sizes("train") == [24, 240, 240]
    assert syn.few_shot(1.0).sizes("train") == syn.sizes("train")
    for bad in (0, 1.5, -0.1):
        with pytest.raises(HrkdError, match="fraction"):
            syn.few_shot(bad)
    with pytest.raises(HrkdError, match="'random'.*prefix, stratified"):
        syn.few_shot(0.5, mode="random")


def test_few_shot_prefix_rule_on_a_toy_file():
    """Default ``prefix`` (HRKD code): the first ⌊f·N⌋ train rows in file order; dev/test untouched."""
    labels = [1, 1, 1, 0, 1, 0, 0, 1, 0, 0]  # file order; the prefix is NOT stratified
    toy = _tiny((labels, (0, 1), (1, 0)))
    for f, k in [(0.3, 3), (0.25, 2), (0.5, 5), (0.05, 1), (0.99, 9), (1.0, 10)]:
        fs = toy.few_shot(f)
        assert fs.split("a", "train")["text"] == [f"t{i}" for i in range(k)], f
        assert fs.split("a", "dev")["text"] == toy.split("a", "dev")["text"]
        assert fs.split("a", "test")["text"] == toy.split("a", "test")["text"]
    assert toy.few_shot(0.3).split("a", "train")["label"] == [1, 1, 1]  # one class only: the file's order
    assert toy.few_shot(0.3, seed=0).split("a", "train")["text"] == toy.few_shot(0.3, seed=9).split("a", "train")["text"]
    assert toy.few_shot(0.3).info["few_shot"]["mode"] == "prefix"
    hundred = _tiny((list(np.arange(100) % 2), (0, 1), (1, 0)))
    assert hundred.few_shot(0.29).sizes("train") == [29]  # 0.29 * 100 = 28.999... in floating point
    # the HRKD code's count on the whole n-row file: ⌊0.9·f·n⌋; our train split holds its first ⌊0.9·n⌋ rows
    for n, f in [(1000, 0.02), (2000, 0.1), (1631, 0.05), (75013, 0.02)]:
        assert abs(prefix_size(f, int(0.9 * n)) - int(0.9 * f * n)) <= 1


def test_select_domains(syn):
    sub = syn.select_domains(["electronics", "books"])
    assert sub.domains == ["electronics", "books"]
    assert sub.similarity[0, 1] == syn.similarity[2, 0]
    with pytest.raises(HrkdError, match="nope"):
        syn.select_domains(["nope"])


def test_validate_errors():
    _tiny().validate()
    with pytest.raises(HrkdError, match="'dev'.*'a'.*empty"):
        _tiny(((0, 1), (), (0,))).validate()
    with pytest.raises(HrkdError, match="label 5"):
        _tiny(((0, 5), (0,), (1,))).validate()
    bad = _tiny()
    bad.info["label_names_per_domain"] = {"a": ["x", "y"]}
    with pytest.raises(HrkdError, match="label names of domain 'a'"):
        bad.validate()
    pair = _tiny()
    pair.has_pair = True
    with pytest.raises(HrkdError, match="text_pair"):
        pair.validate()


def test_load_data_synthetic_profile_and_few_shot():
    prof = get_profile("ci")
    data = load_data("synthetic", profile=prof, seed=0)
    assert len(data.domains) == prof.synthetic_domains
    assert data.sizes("train") == [prof.train_per_domain] * prof.synthetic_domains
    assert data.sizes("dev") == [min(prof.dev_per_domain, 24)] * prof.synthetic_domains
    fs = load_data("synthetic", profile=prof, few_shot=0.25, domains=["books", "kitchen"])
    assert fs.domains == ["books", "kitchen"] and fs.sizes("train") == [12, 12]
    full = load_data("synthetic", profile=prof, domains=["books", "kitchen"])
    assert list(fs.split("books", "train")["text"]) == list(full.split("books", "train")["text"])[:12]  # prefix
    st = load_data("synthetic", profile=prof, few_shot=0.25, few_shot_mode="stratified")
    assert st.info["few_shot"]["mode"] == "stratified" and st.sizes("train")[0] == 12


def test_load_data_unknown_source():
    assert SOURCES == ("synthetic", "amazon", "mnli", "local")
    with pytest.raises(HrkdError, match="'imdb'.*synthetic, amazon, mnli, local"):
        load_data("imdb")
    with pytest.raises(HrkdError, match="data_dir"):
        load_data("local")
