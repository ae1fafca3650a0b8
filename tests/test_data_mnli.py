"""MNLI by genre from the local fixture (hub schema), HRKD recipe."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hrkd_lite.data import load_data
from hrkd_lite.data.mnli import GENRES, LABEL_NAMES, genre_splits, load_mnli
from hrkd_lite.errors import HrkdError

FIXTURE = Path(__file__).parent / "fixtures" / "mnli_small"


def _rows(name):
    return [json.loads(line) for line in (FIXTURE / f"{name}.jsonl").read_text().splitlines() if line.strip()]


def test_fixture_recipe_first_90_percent_in_file_order():
    data = load_mnli(FIXTURE)
    assert data.domains == list(GENRES) and data.label_names == LABEL_NAMES and data.has_pair
    train_rows = _rows("train")
    for g in GENRES:
        rows = [r for r in train_rows if r["genre"] == g]
        n_train = int(0.9 * len(rows))
        tr, dev = data.split(g, "train"), data.split(g, "dev")
        assert tr["text"] == [r["premise"] for r in rows[:n_train]]
        assert tr["text_pair"] == [r["hypothesis"] for r in rows[:n_train]]
        assert tr["label"] == [r["label"] for r in rows[:n_train]]
        assert dev["text_pair"] == [r["hypothesis"] for r in rows[n_train:]]
        test = [r for r in _rows("validation_matched") if r["genre"] == g]
        assert data.split(g, "test")["text_pair"] == [r["hypothesis"] for r in test]
        assert (len(tr), len(dev), len(test)) == (18, 3, 5)
    data.validate()


def test_load_data_mnli_genre_subset():
    data = load_data("mnli", FIXTURE, domains=["travel", "slate"])
    assert data.domains == ["travel", "slate"]


def test_label_names_and_missing_gold_are_handled():
    cols = {"premise": ["a", "b", "c", "d"], "hypothesis": ["w", "x", "y", "z"],
            "label": [0, -1, 2, 1], "genre": ["fiction"] * 4}
    with pytest.warns(UserWarning, match="dropped 2"):
        out = genre_splits(cols, cols, ["fiction"])
    assert out["fiction"]["train"]["text"] == ["a", "c"] and out["fiction"]["dev"]["text"] == ["d"]


def test_errors(tmp_path):
    with pytest.raises(HrkdError, match="nowhere"):
        load_mnli(tmp_path / "nowhere")
    with pytest.raises(HrkdError, match="train.jsonl"):
        load_mnli(tmp_path)
    with pytest.raises(HrkdError, match="'sports'"):
        load_mnli(FIXTURE, domains=["sports"])
    (tmp_path / "train.jsonl").write_text('{"premise": "a", "hypothesis": "b", "genre": "fiction"}\n')
    (tmp_path / "validation_matched.jsonl").write_text("")
    with pytest.raises(HrkdError, match="line 1.*label"):
        load_mnli(tmp_path)
    (tmp_path / "train.jsonl").write_text('{"premise": "a", "hypothesis": "b", "genre": "fiction", '
                                          '"label": "maybe"}\n')
    with pytest.raises(HrkdError, match="'maybe'"):
        load_mnli(tmp_path)
