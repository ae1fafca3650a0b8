"""Layer maps: hand-written expected values (background.md §1.1, §5-§7; adabert.md layer map)."""

from __future__ import annotations

import pytest

from hrkd_lite.distill import (
    adabert_map,
    describe_maps,
    indices_from_map,
    minilm_map,
    pkd_last_map,
    pkd_skip_map,
    tinybert_indices,
    uniform_map,
)
from hrkd_lite.errors import HrkdError


@pytest.mark.parametrize(
    ("L", "M", "expected"),
    [
        (12, 6, [0, 2, 4, 6, 8, 10, 12]),
        (12, 4, [0, 3, 6, 9, 12]),
        (6, 3, [0, 2, 4, 6]),
        (6, 2, [0, 3, 6]),
        (6, 6, [0, 1, 2, 3, 4, 5, 6]),
        (12, 5, [0, 2, 4, 7, 9, 12]),  # floor(m*12/5)
    ],
)
def test_uniform_map(L, M, expected):
    assert uniform_map(L, M) == expected


@pytest.mark.parametrize(
    ("L", "M", "skip", "last"),
    [
        (12, 6, [2, 4, 6, 8, 10], [7, 8, 9, 10, 11]),
        (12, 4, [3, 6, 9], [9, 10, 11]),
        (6, 3, [2, 4], [4, 5]),
        (6, 2, [3], [5]),
        (6, 1, [], []),
    ],
)
def test_pkd_maps(L, M, skip, last):
    assert pkd_skip_map(L, M) == skip
    assert pkd_last_map(L, M) == last


@pytest.mark.parametrize(
    ("J", "K", "expected"),
    [
        (12, 6, [2, 4, 6, 8, 10, 12]),
        (12, 4, [3, 6, 9, 12]),
        (6, 3, [2, 4, 6]),
        (6, 2, [3, 6]),
        (6, 4, [2, 3, 5, 6]),  # ceil(1.5)=2, 3, ceil(4.5)=5, 6 (adabert.md: "ceil 0,2,3,5,6")
        (6, 5, [2, 3, 4, 5, 6]),  # ceil(1.2)=2, ceil(2.4)=3, ceil(3.6)=4, ceil(4.8)=5, 6
        (12, 8, [2, 3, 5, 6, 8, 9, 11, 12]),  # adabert.md: "ceil 0,2,3,5,6,8,9,11,12"
    ],
)
def test_adabert_map(J, K, expected):
    assert adabert_map(J, K) == expected


def test_minilm_map():
    assert minilm_map(12, 6) == {6: 12}
    assert minilm_map(6, 2) == {2: 6}


def test_tinybert_indices_spec_values():
    # background.md §1.1: teacher layers {2,4,6} -> attentions [1,3,5], hidden [2,4,6] (+ 0 embeddings)
    assert tinybert_indices(6, 3) == {
        "attn_teacher": [1, 3, 5],
        "attn_student": [0, 1, 2],
        "hid_teacher": [0, 2, 4, 6],
        "hid_student": [0, 1, 2, 3],
    }
    # {3,6}: attentions [2,5], hidden [0,3,6]
    assert tinybert_indices(6, 2) == {
        "attn_teacher": [2, 5],
        "attn_student": [0, 1],
        "hid_teacher": [0, 3, 6],
        "hid_student": [0, 1, 2],
    }
    # hrkd.md §2: 12 -> 4, attn[3m-1] vs attn[m-1], hid[3m] vs hid[m]
    idx = tinybert_indices(12, 4)
    assert idx["attn_teacher"] == [2, 5, 8, 11]
    assert idx["hid_teacher"] == [0, 3, 6, 9, 12]


def test_describe_maps_pairs():
    d = describe_maps(12, 6)
    assert set(d) == {"tinybert", "pkd_skip", "pkd_last", "adabert", "minilm"}
    assert d["tinybert"][0] == (0, 0) and d["tinybert"][-1] == (6, 12)
    assert d["pkd_skip"] == [(1, 2), (2, 4), (3, 6), (4, 8), (5, 10)]
    assert d["pkd_last"] == [(1, 7), (2, 8), (3, 9), (4, 10), (5, 11)]
    assert d["adabert"][0] == (1, 2)
    assert d["minilm"] == [(6, 12)]


@pytest.mark.parametrize(
    "fn", [uniform_map, pkd_skip_map, pkd_last_map, adabert_map, minilm_map, describe_maps, tinybert_indices]
)
@pytest.mark.parametrize(("L", "M"), [(6, 0), (6, 7), (6, -1), (6, 2.0)])
def test_maps_validate(fn, L, M):
    with pytest.raises(ValueError):  # HrkdError is a ValueError
        fn(L, M)


def test_map_error_message_names_values():
    with pytest.raises(HrkdError, match="M=7.*L=6"):
        uniform_map(6, 7)


def test_indices_from_map_validates():
    with pytest.raises(HrkdError):
        indices_from_map([1, 2, 3])  # must start at 0 (embeddings)
    with pytest.raises(HrkdError):
        indices_from_map([0, 3, 3])
