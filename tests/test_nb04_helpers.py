"""Notebook 04's result helpers (graph-change check, few-shot teachers, the results suite's run plan)."""

from __future__ import annotations

import json

import pytest

from hrkd_lite.errors import HrkdError
from hrkd_lite.experiments import nb04 as X


def _m(change: float) -> dict:
    return {"graph_max_abs_change": change, "accuracy": {"test": {"average": 0.5}}}


def test_graph_change_report_checks_frozen_and_trained_graphs():
    lines = X.graph_change_report({"hrkd": [_m(0.0), _m(0.0)], "trainable_graph": [_m(0.01)],
                                   "no_graph": [_m(0.0)], "student": [{}]})
    assert len(lines) == 2 and "frozen" in lines[0] and "trained" in lines[1]
    with pytest.raises(HrkdError, match="hrkd: graph parameters moved"):
        X.graph_change_report({"hrkd": [_m(1e-6)]})
    with pytest.raises(HrkdError, match="trainable_graph"):
        X.graph_change_report({"trainable_graph": [_m(0.0)]})


def test_few_shot_teachers_reads_each_fractions_teacher(tmp_path):
    for f, acc in ((0.1, 0.55), (0.5, 0.7)):
        folder = tmp_path / f"frac{f:g}" / "teacher"
        folder.mkdir(parents=True)
        (folder / "metrics.json").write_text(json.dumps({"accuracy": {"test": {"average": acc}}}))
    out = X.few_shot_teachers(tmp_path, [0.1, 0.5], full={"accuracy": {"test": {"average": 0.9}}})
    assert out == {0.1: 0.55, 0.5: 0.7, 1.0: 0.9}


def test_results_suite_runs_main_variants_with_every_seed_and_ablations_with_theirs(monkeypatch):
    calls = []

    def fake(ctx, teacher_dir, runs_dir, *, variants, baselines, seeds, reuse):
        calls.append((tuple(variants), tuple(baselines), tuple(seeds)))
        return {n: [_m(0.0)] * len(seeds) for n in [*variants, *baselines]}

    monkeypatch.setattr(X, "run_comparison", fake)
    res = X.results_suite(None, "t", "r", [0, 1, 2], ablation_seeds=[0])
    assert list(res) == [*X.VARIANTS, *X.TABLE_BASELINES]
    assert calls[0] == (X.MAIN_VARIANTS, X.TABLE_BASELINES, (0, 1, 2))
    assert calls[1] == (("no_hierarchy", "averaging", "no_reference_attention"), (), (0,))
    assert len(res["hrkd"]) == 3 and len(res["averaging"]) == 1


def test_results_suite_on_the_fast_path_skips_the_ablations(monkeypatch):
    def fake(ctx, teacher_dir, runs_dir, *, variants, baselines, seeds, reuse):
        return {n: [_m(0.0)] * len(seeds) for n in [*variants, *baselines]}

    monkeypatch.setattr(X, "run_comparison", fake)
    res = X.results_suite(None, "t", "r", [0], ablation_seeds=[])
    assert list(res) == [*X.MAIN_VARIANTS, *X.TABLE_BASELINES]
    res["trainable_graph"] = [_m(0.01)]
    assert len(X.graph_change_report(res)) == 2  # the notebook's next cell works on what is left
