"""The synthetic multi-domain generator: determinism, structure, difficulty."""

from __future__ import annotations

import numpy as np
import pytest

from hrkd_lite.data.synthetic import CATALOG, GROUPS, lexicon_similarity, make_synthetic
from hrkd_lite.errors import HrkdError


@pytest.fixture(scope="module")
def syn():
    return make_synthetic(num_domains=4, per_domain=600, seed=0)


def _all(data, split, col):
    return [x for d in data.domains for x in data.split(d, split)[col]]


def test_deterministic_same_seed(syn):
    again = make_synthetic(num_domains=4, per_domain=600, seed=0)
    for d in syn.domains:
        for s in ("train", "dev", "test"):
            assert syn.split(d, s).to_dict() == again.split(d, s).to_dict()
    np.testing.assert_array_equal(syn.similarity, again.similarity)


def test_different_seed_differs(syn):
    other = make_synthetic(num_domains=4, per_domain=600, seed=1)
    assert syn.split("books", "train")["text"] != other.split("books", "train")["text"]


def test_shape_and_splits(syn):
    assert syn.domains == ["books", "movies", "electronics", "kitchen"]
    assert syn.label_names == ["negative", "positive"]
    assert syn.sizes("train") == [480] * 4 and syn.sizes("dev") == [60] * 4 and syn.sizes("test") == [60] * 4
    syn.validate()
    lens = [len(t.split()) for t in _all(syn, "train", "text")]
    assert 8 <= min(lens) and max(lens) <= 40


def test_similarity_structure(syn):
    sim = syn.similarity
    assert sim.shape == (4, 4)
    np.testing.assert_allclose(sim, sim.T)
    np.testing.assert_allclose(np.diag(sim), 1.0)
    off = sim[~np.eye(4, dtype=bool)]
    assert off.min() > 0 and off.max() < 1 and off.std() > 0.05
    # same latent group (books-movies, electronics-kitchen) is more similar than across groups
    assert sim[0, 1] > sim[0, 2] and sim[2, 3] > sim[1, 3]
    full = lexicon_similarity(CATALOG)
    same = [full[a, b] for a in range(9) for b in range(9) if a != b and GROUPS[CATALOG[a]] == GROUPS[CATALOG[b]]]
    diff = [full[a, b] for a in range(9) for b in range(9) if GROUPS[CATALOG[a]] != GROUPS[CATALOG[b]]]
    assert min(same) > max(diff)


def test_label_balance_negation_and_share(syn):
    clean = np.array(_all(syn, "train", "clean_label"))
    assert 0.45 < clean.mean() < 0.55
    texts = _all(syn, "train", "text")
    assert np.mean([" not " in t or " never " in t or " hardly " in t for t in texts]) > 0.15
    share = np.array(_all(syn, "train", "transferable_share"))
    assert share.min() >= 0 and share.max() <= 1 and 0.3 < share.mean() < 0.7 and share.std() > 0.2
    kinds = {k for ks in _all(syn, "train", "cue_kinds") for k in ks.split(",")}
    assert kinds == {"shared", "group", "domain", "context"}


def test_label_noise_knob():
    clean = make_synthetic(num_domains=2, per_domain=400, seed=3, label_noise=0.0)
    noisy = make_synthetic(num_domains=2, per_domain=400, seed=3, label_noise=0.3)
    assert clean.split("books", "train")["label"] == clean.split("books", "train")["clean_label"]
    lab, cl = (np.array(noisy.split("books", "train")[c]) for c in ("label", "clean_label"))
    assert 0.2 < np.mean(lab != cl) < 0.4
    assert np.array_equal(np.mean(lab != cl) > 0, np.any(noisy.split("books", "train")["noisy"]))


def test_cues_explain_clean_label(syn):
    """The logged cues (negation included) determine the clean label: the generator is consistent."""
    for d in syn.domains:
        signs = {k[:-1]: (1 if k[-1] == "+" else -1) for k in syn.info["lexicon"][d]}
        ds = syn.split(d, "train")
        for words, y in zip(ds["cue_words"], ds["clean_label"]):
            total = sum(-signs[w[4:]] if w.startswith("not ") else signs[w] for w in words.split(","))
            assert (total > 0) == (y == 1)


def test_context_words_flip_between_domains(syn):
    lex = syn.info["lexicon"]
    assert "unpredictable+" in lex["books"] and "unpredictable-" in lex["electronics"]


def _bow_logreg_accuracy(train_x, train_y, test_x, test_y, steps=300, lr=0.5, l2=1e-3):
    vocab = {w: i for i, w in enumerate(sorted({w for t in train_x for w in t.replace(".", " ").split()}))}

    def feats(texts):
        x = np.zeros((len(texts), len(vocab)))
        for r, t in enumerate(texts):
            for w in t.replace(".", " ").split():
                if w in vocab:
                    x[r, vocab[w]] = 1.0
        return np.hstack([x, np.ones((len(texts), 1))])

    xtr, xte, ytr = feats(train_x), feats(test_x), np.asarray(train_y, float)
    w = np.zeros(xtr.shape[1])
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-xtr @ w))
        w -= lr * (xtr.T @ (p - ytr) / len(ytr) + l2 * w)
    return float(np.mean(((xte @ w) > 0) == np.asarray(test_y)))


def test_bag_of_words_above_chance_below_perfect():
    data = make_synthetic(num_domains=4, per_domain=1000, seed=0)
    acc = _bow_logreg_accuracy(_all(data, "train", "text"), _all(data, "train", "label"),
                               _all(data, "test", "text"), _all(data, "test", "label"))
    assert 0.62 < acc < 0.9, acc


def test_words_are_known_to_the_tokenizer(syn, minilm_tokenizer):
    texts = _all(syn, "train", "text")[:400]
    ids = minilm_tokenizer(texts)["input_ids"]
    assert all(minilm_tokenizer.unk_token_id not in row for row in ids)


def test_explicit_domains_and_errors():
    data = make_synthetic(domains=["hotels", "music"], per_domain=50, seed=0)
    assert data.domains == ["hotels", "music"] and data.similarity.shape == (2, 2)
    with pytest.raises(HrkdError, match="casino"):
        make_synthetic(domains=["casino"])
    with pytest.raises(HrkdError, match="num_domains"):
        make_synthetic(num_domains=42)
