"""Local folder / single-file loader: round trips and errors."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from hrkd_lite.data import load_data
from hrkd_lite.errors import HrkdError


def _write_jsonl(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def _folder(root, pair=False, labels=("neg", "pos")):
    for d in ("alpha", "beta"):
        for s, n in (("train", 8), ("dev", 2), ("test", 3)):
            rows = [{"text": f"{d} {s} {i}", "label": labels[i % 2]} for i in range(n)]
            if pair:
                for r in rows:
                    r["text_pair"] = "second " + r["text"]
            _write_jsonl(root / d / f"{s}.jsonl", rows)


def test_folder_round_trip(tmp_path):
    _folder(tmp_path)
    data = load_data("local", tmp_path)
    assert data.domains == ["alpha", "beta"] and data.label_names == ["neg", "pos"] and not data.has_pair
    assert data.split("beta", "dev")["text"] == ["beta dev 0", "beta dev 1"]
    assert data.split("beta", "dev")["label"] == [0, 1]
    assert data.sizes("train") == [8, 8]


def test_folder_pairs_labels_json_and_int_labels(tmp_path):
    _folder(tmp_path, pair=True, labels=(1, 0))
    (tmp_path / "labels.json").write_text(json.dumps(["bad", "good"]))
    data = load_data("local", tmp_path, domains=["beta"])
    assert data.has_pair and data.domains == ["beta"] and data.label_names == ["bad", "good"]
    assert data.split("beta", "train")["text_pair"][0] == "second beta train 0"
    assert data.split("beta", "train")["label"][:2] == [1, 0]


def test_single_csv_round_trip_split(tmp_path):
    path = tmp_path / "all.csv"
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["domain", "text", "label"])
        w.writeheader()
        for d in ("x", "y"):
            for i in range(100):
                w.writerow({"domain": d, "text": f"{d} row {i}", "label": ["neg", "pos"][i % 4 == 0]})
    a = load_data("local", path, seed=3)
    b = load_data("local", path, seed=3)
    assert a.sizes("train") == [80, 80] and a.sizes("dev") == [10, 10] and a.sizes("test") == [10, 10]
    assert a.split("x", "test")["text"] == b.split("x", "test")["text"]
    all_text = [t for s in ("train", "dev", "test") for t in a.split("x", s)["text"]]
    assert sorted(all_text) == sorted(f"x row {i}" for i in range(100))
    for s in ("train", "dev", "test"):  # stratified: 25 % positives everywhere
        assert abs(np.mean(a.split("y", s)["label"]) - 0.25) <= 0.1


def test_single_jsonl_with_split_column(tmp_path):
    rows = [{"domain": d, "text": f"{d}{i}", "label": i % 2, "split": ["train", "validation", "test"][i % 3]}
            for d in ("p", "q") for i in range(12)]
    _write_jsonl(tmp_path / "data.jsonl", rows)
    data = load_data("local", tmp_path / "data.jsonl")
    assert data.sizes("dev") == [4, 4] and data.label_names == ["0", "1"]


def test_errors(tmp_path):
    with pytest.raises(HrkdError, match="missing_dir"):
        load_data("local", tmp_path / "missing_dir")
    _folder(tmp_path / "a")
    (tmp_path / "a" / "beta" / "dev.jsonl").write_text('{"text": "ok", "label": "pos"}\n{"text": broken\n')
    with pytest.raises(HrkdError, match=r"dev.jsonl line 2"):
        load_data("local", tmp_path / "a")
    _folder(tmp_path / "b")
    _write_jsonl(tmp_path / "b" / "alpha" / "test.jsonl", [{"txt": "x", "label": "pos"}])
    with pytest.raises(HrkdError, match="missing column.*text.*expected text, label"):
        load_data("local", tmp_path / "b")
    _folder(tmp_path / "c")
    (tmp_path / "c" / "labels.json").write_text(json.dumps(["neg", "neutral"]))
    with pytest.raises(HrkdError, match="'pos'"):
        load_data("local", tmp_path / "c")
    _folder(tmp_path / "d")
    _write_jsonl(tmp_path / "d" / "beta" / "train.jsonl", [{"text": "x", "label": "meh"}])
    with pytest.raises(HrkdError, match="label mismatch.*'beta'"):
        load_data("local", tmp_path / "d")
    _folder(tmp_path / "e")
    (tmp_path / "e" / "alpha" / "test.jsonl").unlink()
    with pytest.raises(HrkdError, match="missing test file"):
        load_data("local", tmp_path / "e")
    _folder(tmp_path / "f")
    _write_jsonl(tmp_path / "f" / "alpha" / "dev.jsonl", [])
    with pytest.raises(HrkdError, match="'dev'.*'alpha'.*empty"):
        load_data("local", tmp_path / "f")
    with pytest.raises(HrkdError, match="'gamma'"):
        load_data("local", tmp_path / "f", domains=["gamma"])
