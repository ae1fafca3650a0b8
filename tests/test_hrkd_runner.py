"""``run multi-teacher`` and ``run hrkd`` through the CLI on the ci profile (real offline teacher)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hrkd_lite.cli import main
from hrkd_lite.data import load_data
from hrkd_lite.experiments.nb04 import run_graph
from hrkd_lite.methods.hrkd import PRESETS, Recording
from hrkd_lite.methods.registry import get_method
from hrkd_lite.methods.shared.context import prepare
from hrkd_lite.profiles import get_profile

COMMON = ["--profile", "ci", "--data", "synthetic", "--domains", "books,kitchen", "--no-progress"]


def test_methods_are_registered_with_their_ablation_flags():
    hrkd = get_method("hrkd")
    names = {f.name for f in hrkd.flags}
    assert {"preset", "graph_trainable", "detach_prototypes", "use_graph", "hierarchical",
            "reference_attention", "aggregation", "gat_dropout", "prototype_group_size",
            "soft_ce_reduction", "per_domain_teacher", "checkpoint_selection", "teacher_dir"} <= names
    preset_flag = next(f for f in hrkd.flags if f.name == "preset")
    assert set(preset_flag.choices) == set(PRESETS)
    assert get_method("multi-teacher").name == "multi-teacher"


def test_bad_preset_is_one_line_error(capsys, tmp_path):
    assert main(["run", "hrkd", "--profile", "ci", "--out", str(tmp_path), "--preset", "nope"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "nope" in err


@pytest.fixture(scope="module")
def teacher_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("mt")
    assert main(["run", "multi-teacher", *COMMON, "--out", str(out)]) == 0
    return out


@pytest.mark.slow
def test_multi_teacher_keeps_per_domain_best_checkpoints(teacher_dir):
    tm = json.loads((teacher_dir / "metrics.json").read_text())
    assert tm["method"] == "multi-teacher" and set(tm["accuracy"]["test"]) == {"books", "kitchen", "average"}
    assert "accuracy_best_mean" in tm
    for d in ("books", "kitchen"):
        assert (teacher_dir / "teacher" / f"best_{d}.safetensors").is_file()


@pytest.mark.slow
def test_cli_hrkd_records_every_step_and_resumes(teacher_dir, tmp_path):
    out = tmp_path / "hrkd"
    args = ["run", "hrkd", *COMMON, "--out", str(out), "--teacher-dir", str(teacher_dir), "--max-steps", "3"]
    assert main(args) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["method"] == "hrkd" and m["graph_max_abs_change"] == 0.0 and m["train_steps"] == 3
    assert m["hrkd_config"]["graph_trainable"] is False
    rec = Recording.load(out)
    assert rec.num_steps == 3 and list(rec.steps) == [1, 2, 3] and rec.weights.shape == (3, 3, 2)
    assert np.allclose(rec.weights.sum(-1), 1.0, atol=1e-5)
    assert list(rec.snap_steps) == [1, 3] and rec.snap_prototypes.shape == (2, 3, 2, 384)
    # per-group prototypes both ways (ci: 8 examples per domain = one group of 8), for the live recomputation
    assert rec.snap_groups_padding.shape == rec.snap_groups_masked.shape == (2, 1, 3, 2, 384)
    assert np.allclose(rec.snap_groups_padding[:, 0], rec.snap_prototypes, atol=1e-6)
    assert not np.allclose(rec.snap_groups_padding, rec.snap_groups_masked)  # ci batches hold padding
    # the frozen graph rebuilt from the seed reproduces the recorded eval-mode weights (checked inside)
    ctx = prepare(get_profile("ci"), load_data("synthetic", profile=get_profile("ci"), domains=["books", "kitchen"]),
                  seed=0, out_dir=tmp_path / "ctx", progress=False)
    graph = run_graph(ctx, rec)
    assert not graph.training and graph.num_layers == 3
    # rerunning the same command resumes from last.safetensors: no new step, recording unchanged
    assert main(args) == 0
    again = Recording.load(out)
    assert np.array_equal(again.weights, rec.weights) and list(again.steps) == [1, 2, 3]


@pytest.mark.slow
def test_cli_trainable_graph_and_no_graph(teacher_dir, tmp_path):
    tg = tmp_path / "tg"
    assert main(["run", "hrkd", *COMMON, "--out", str(tg), "--teacher-dir", str(teacher_dir), "--max-steps", "2",
                 "--graph-trainable", "true", "--prototype-group-size", "0"]) == 0
    m = json.loads((tg / "metrics.json").read_text())
    assert m["method"] == "hrkd[graph_trainable=True,prototype_group_size=None]"
    assert m["graph_max_abs_change"] > 0
    ng = tmp_path / "ng"
    assert main(["run", "hrkd", *COMMON, "--out", str(ng), "--teacher-dir", str(teacher_dir), "--max-steps", "2",
                 "--preset", "no_graph"]) == 0
    rec = Recording.load(ng)
    assert np.isnan(rec.weights).all() and np.isfinite(rec.layer_terms).all()  # no graph, terms recorded


def test_snapshot_due_matches_the_steps_the_callback_snapshots(tmp_path):
    from hrkd_lite.methods.hrkd.recorder import Recorder
    from hrkd_lite.methods.hrkd.runner import RecordCallback

    cb = RecordCallback(Recorder(["a", "b"], 2, 1, 1), tmp_path, steps_per_epoch=4, eval_every=0, total_steps=10,
                        meta={})
    assert cb.snapshot_due()  # before the first callback (a fresh start or a resume) the coming step is unknown
    due = []
    for last in range(1, 10):
        cb.last_step = last
        due.append(cb.snapshot_due())
    assert [last + 1 for last, d in zip(range(1, 10), due) if d] == [4, 8, 10]  # epoch ends and the last step
