"""``python -m hrkd_lite run l2a``: metrics.json schema, episodes.npz, and a rerun that resumes from the cache."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from hrkd_lite.cli import main
from hrkd_lite.methods.l2a.config import FEATURES

pytestmark = pytest.mark.slow

ARGS = ["run", "l2a", "--profile", "ci", "--data", "synthetic", "--source-domain", "electronics",
        "--target-domain", "kitchen", "--target-labels", "16", "--seed", "1", "--episodes", "2",
        "--inner-steps", "1", "--mlm-steps", "2", "--no-progress"]


def test_cli_schema_and_resume(tmp_path):
    out = tmp_path / "run"
    assert main([*ARGS, "--out", str(out)]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["method"] == "l2a" and m["domains"] == ["kitchen"] and m["target_labels"] == 16
    for split in ("dev", "test"):
        assert set(m["accuracy"][split]) == {"kitchen", "average"} and 0 <= m["accuracy"][split]["kitchen"] <= 1
    assert m["params"]["total"] < m["teacher_params"] and 0 < m["param_ratio"] < 1
    assert m["latency_ms"]["batch1"] > 0
    assert set(m["baselines"]) == {"teacher (source+target)", "teacher (target)", "student, no KD",
                                   "KD, target only", "KD + random augmentation",
                                   "KD + learned selection (L2A-style)"}
    assert m["baselines"]["KD + learned selection (L2A-style)"]["test"] == m["accuracy"]["test"]["kitchen"]
    aug = m["augmentation"]
    assert {"generated", "kept", "max_ngram_overlap_with_dev_test"} <= set(aug)
    assert aug["generated"] >= aug["unique"] >= 1 and 0 <= aug["max_ngram_overlap_with_dev_test"] <= 1
    assert aug["copies_of_dev_test"] >= 0 and aug["kept"] <= aug["shown_to_selector"]
    ep = np.load(out / "episodes.npz")
    assert ep["reward"].shape == (2,) and ep["keep_rate"].shape == (2,)
    assert ep["weights"].shape == (2, len(FEATURES) + 1) and list(ep["features"])[-1] == "bias"
    mp = np.load(out / "map.npz")
    assert len(mp["keep_prob"]) == aug["unique"] and mp["generated"].shape[0] == aug["unique"]
    assert (out / "generator" / "model.safetensors").is_file() and (out / "pool.safetensors").is_file()
    # an interrupted run: the last student and metrics.json are gone; the rerun trains only what is missing
    teacher_file = out / "teacher_source_target" / "teacher.json"
    stamp = teacher_file.stat().st_mtime_ns
    shutil.rmtree(out / "students" / "learned")
    (out / "metrics.json").unlink()
    assert main([*ARGS, "--out", str(out)]) == 0
    again = json.loads((out / "metrics.json").read_text())
    assert teacher_file.stat().st_mtime_ns == stamp
    assert again["accuracy"] == m["accuracy"] and again["augmentation"] == m["augmentation"]
    assert again["baselines"] == m["baselines"]
