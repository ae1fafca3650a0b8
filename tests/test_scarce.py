"""The data-scarce-domain experiment (``python -m hrkd_lite scarce``) and the one-domain few-shot switch."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hrkd_lite.cli import main
from hrkd_lite.data import load_data
from hrkd_lite.errors import HrkdError
from hrkd_lite.experiments import scarce as S
from hrkd_lite.methods.hrkd.recorder import Recording
from hrkd_lite.profiles import get_profile


def test_few_shot_domains_cuts_only_the_named_domain():
    prof = get_profile("ci")
    full = load_data("synthetic", profile=prof)
    cut = load_data("synthetic", profile=prof, few_shot=0.25, few_shot_domains=["kitchen"])
    for d in full.domains:
        n_full, n_cut = len(full.splits[d]["train"]), len(cut.splits[d]["train"])
        assert n_cut == (n_full // 4 if d == "kitchen" else n_full), d
        assert len(cut.splits[d]["test"]) == len(full.splits[d]["test"])
    with pytest.raises(HrkdError, match="few_shot_domains needs a few-shot fraction"):
        load_data("synthetic", profile=prof, few_shot_domains=["kitchen"])
    with pytest.raises(HrkdError, match="'toys'.*valid choices: books, movies, electronics, kitchen"):
        load_data("synthetic", profile=prof, few_shot=0.5, few_shot_domains=["toys"])


def test_cli_data_takes_few_shot_domains(capsys):
    assert main(["data", "--profile", "ci", "--few-shot", "0.25", "--few-shot-domains", "kitchen",
                 "--describe"]) == 0
    out = capsys.readouterr().out
    line = next(ln for ln in out.splitlines() if ln.strip().startswith("kitchen"))
    assert " 12 " in f" {line} "  # 48 train reviews on the ci profile, a quarter kept


def test_scarce_data_and_the_nearest_domain_by_ground_truth():
    data = S.scarce_data(get_profile("ci"), "kitchen", 0.25)
    assert len(data.splits["kitchen"]["train"]) == 12 and len(data.splits["books"]["train"]) == 48
    assert S.nearest_domain(data, "kitchen") == "electronics"  # both "devices": shared group cues
    assert S.nearest_domain(data, "books") == "movies"
    with pytest.raises(HrkdError, match="target domain 'toys'; valid choices"):
        S.scarce_data(get_profile("ci"), "toys")


def _recording(weights: np.ndarray, eval_weights: np.ndarray) -> Recording:
    s, layers, d = weights.shape
    z = np.zeros((s, layers, d), dtype=np.float32)
    return Recording(steps=np.arange(1, s + 1), epochs=np.zeros(s, dtype=np.int64), weights=weights,
                     ratios=np.zeros((s, layers, d, layers)), reference_attention=np.zeros((s, layers, d, d)),
                     gat_attention=np.zeros((s, layers, d, d)), gat_out_attention=np.zeros((s, layers, d, d)),
                     layer_terms=z, pred_terms=np.zeros((s, d)), domains=["books", "movies", "electronics", "kitchen"],
                     snap_steps=np.array([1]), snap_weights_eval=eval_weights)


def test_graph_departure_measures_distance_from_uniform(tmp_path):
    w = np.full((3, 2, 4), 0.25)
    w[1, 0] = [0.10, 0.20, 0.30, 0.40]  # one step departs by at most 0.15
    ev = np.full((1, 2, 4), 0.25)
    ev[0, 1] = [0.25, 0.25, 0.24, 0.26]
    _recording(w, ev).save(tmp_path)
    g = S.graph_departure(tmp_path, "kitchen", "electronics")
    assert g["uniform"] == 0.25 and g["steps"] == 3
    assert g["max_dev_train"] == pytest.approx(0.15)
    assert g["mean_dev_train"] == pytest.approx(0.05)  # (0 + 0.15 + 0) / 3
    assert g["max_dev_eval"] == pytest.approx(0.01)
    assert g["target_weight"] == pytest.approx((5 * 0.25 + 0.40) / 6)
    assert g["nearest_weight"] == pytest.approx((5 * 0.25 + 0.30) / 6)
    _recording(np.full((2, 2, 4), np.nan), ev).save(tmp_path / "nograph")
    with pytest.raises(HrkdError, match="no graph weights"):
        S.graph_departure(tmp_path / "nograph", "kitchen", "electronics")


@pytest.mark.slow
def test_scarce_command_runs_every_method_and_writes_json(tmp_path, capsys):
    out = tmp_path / "scarce"
    assert main(["scarce", "--profile", "ci", "--fraction", "0.25", "--seeds", "0", "--out", str(out),
                 "--no-progress"]) == 0
    printed = capsys.readouterr().out
    res = json.loads((out / "scarce.json").read_text())
    assert res["target"] == "kitchen" and res["nearest"] == "electronics"
    assert res["train_sizes"]["kitchen"] == 12 and res["train_sizes"]["books"] == 48
    assert set(res["accuracy"]) == set(S.METHODS) and all(len(v["target"]) == 1 for v in res["accuracy"].values())
    assert all(c["verdict"].startswith("one seed") for c in res["comparisons"].values())
    for v in S.GRAPH_VARIANTS:
        g = res["graph"][v][0]
        assert g["steps"] > 0 and 0 <= g["max_dev_eval"] <= 1 and g["max_dev_train"] >= g["mean_dev_train"]
    assert "kitchen: 12 train reviews" in printed and "wrote" in printed
    assert len(S.scarce_report(res)) == 2 + len(S.METHODS) + len(S.COMPARISONS) + len(S.GRAPH_VARIANTS)
