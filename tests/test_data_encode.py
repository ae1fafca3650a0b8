"""Static-padding tokenisation with the offline MiniLM tokenizer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from hrkd_lite.data import EncodedMultiDomain, encode_split, load_mnli, make_synthetic
from hrkd_lite.data.base import make_split
from hrkd_lite.data.encode import head_tail_ids
from hrkd_lite.errors import HrkdError

FIXTURE = Path(__file__).parent / "fixtures" / "mnli_small"


@pytest.fixture(scope="module")
def tok(minilm_tokenizer):
    return minilm_tokenizer


@pytest.fixture(scope="module")
def syn():
    return make_synthetic(num_domains=2, per_domain=60, seed=0)


def test_encode_split_static_padding(tok, syn):
    ds = syn.split("books", "train")
    enc = encode_split(ds, tok, max_len=48)
    assert set(enc) == {"input_ids", "attention_mask", "token_type_ids", "labels"}
    for k in ("input_ids", "attention_mask", "token_type_ids"):
        assert enc[k].shape == (48, 48) and enc[k].dtype == torch.long
    assert enc["labels"].tolist() == list(ds["label"])
    assert (enc["input_ids"][:, 0] == tok.cls_token_id).all()
    pad = enc["attention_mask"] == 0
    assert pad.any() and (enc["input_ids"][pad] == tok.pad_token_id).all()
    assert (enc["token_type_ids"] == 0).all()


def test_truncation_keeps_length(tok, syn):
    enc = encode_split(syn.split("books", "train"), tok, max_len=8)
    assert enc["input_ids"].shape[1] == 8 and (enc["attention_mask"].sum(1) == 8).all()
    assert (enc["input_ids"][:, -1] == tok.sep_token_id).all()


def test_head_tail_keeps_a_quarter_of_the_start_and_the_end(tok):
    assert head_tail_ids(list(range(20)), 8) == [0, 1, 14, 15, 16, 17, 18, 19]
    assert head_tail_ids([5, 6, 7], 8) == [5, 6, 7]
    words = [f"w{i}" for i in range(60)]
    ds = make_split({"text": [" ".join(words), "short text"], "label": [1, 0]})
    enc = encode_split(ds, tok, max_len=18, truncation="head_tail")
    head = encode_split(ds, tok, max_len=18)
    pieces = tok(" ".join(words), add_special_tokens=False)["input_ids"]
    want = [tok.cls_token_id, *pieces[:4], *pieces[-12:], tok.sep_token_id]
    assert enc["input_ids"][0].tolist() == want and enc["attention_mask"][0].sum() == 18
    assert torch.equal(enc["input_ids"][1], head["input_ids"][1])  # short texts are not cut
    assert torch.equal(enc["attention_mask"][1], head["attention_mask"][1])
    with pytest.raises(HrkdError, match="unknown truncation .middle.; valid choices: head, head_tail"):
        encode_split(ds, tok, max_len=18, truncation="middle")


def test_pairs_get_segment_ids(tok):
    data = load_mnli(FIXTURE, domains=["fiction"])
    enc = encode_split(data.split("fiction", "train"), tok, max_len=64, has_pair=True)
    assert enc["input_ids"].shape == (18, 64)
    row_sep = (enc["input_ids"][0] == tok.sep_token_id).nonzero().flatten()
    assert len(row_sep) == 2
    assert enc["token_type_ids"][0, : row_sep[0] + 1].eq(0).all()
    assert enc["token_type_ids"][0, row_sep[0] + 1: row_sep[1] + 1].eq(1).all()
    short = encode_split(data.split("fiction", "train"), tok, max_len=12, has_pair=True)
    assert ((short["input_ids"] == tok.sep_token_id).sum(1) == 2).all()  # longest-first keeps both parts
    with pytest.raises(HrkdError, match="text_pair"):
        encode_split(make_synthetic(num_domains=1, per_domain=20).split("books", "dev"), tok, 16, has_pair=True)


def test_encoded_multi_domain(tok, syn):
    enc = EncodedMultiDomain.from_data(syn, tok, max_len=32)
    assert enc.sizes("train") == [48, 48] and enc.size(1, "test") == 6 and enc.size("movies", "dev") == 6
    b = enc.batch(1, "train", np.array([3, 0, 3]))
    assert b["input_ids"].shape == (3, 32) and b["labels"].tolist() == [
        syn.split("movies", "train")["label"][i] for i in (3, 0, 3)]
    batches = list(enc.iter_eval(0, "train", batch_size=20))
    assert [len(x["labels"]) for x in batches] == [20, 20, 8]
    assert torch.equal(torch.cat([x["input_ids"] for x in batches]), enc.tensors[0]["train"]["input_ids"])
    with pytest.raises(HrkdError, match="'valid'"):
        enc.size(0, "valid")
    with pytest.raises(HrkdError, match="'cars'"):
        enc.batch("cars", "train", [0])
