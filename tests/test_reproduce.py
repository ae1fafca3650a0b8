"""``reproduce``: the plan, bad input, resume/skip, measured costs, and the tables built from the runs."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from hrkd_lite.cli import main
from hrkd_lite.errors import HrkdError
from hrkd_lite.experiments import nb05
from hrkd_lite.experiments import reproduce as R
from hrkd_lite.experiments.costs import measure_costs
from hrkd_lite.methods.registry import MethodSpec, load_all, register
from hrkd_lite.models import BertConfig, BertEncoder
from hrkd_lite.models.measure import measure_latency
from hrkd_lite.noise import compare, format_accuracy
from hrkd_lite.profiles import get_profile

CI = get_profile("ci")
DOMS = ["books", "dvd", "electronics", "kitchen"]


def test_plan_orders_core_seeds_before_ablations_and_uses_registered_flags():
    plan = R.build_plan(CI, "synthetic", DOMS, [0, 1], "all")
    core = [s for s in plan if s.group != "ablation"]
    assert [s.seed for s in plan[:len(core)]] == [0] * 10 + [1] * 10  # core of every seed first
    assert all(s.group == "ablation" for s in plan[len(core):]) and len(plan) == 2 * 23
    registry = load_all()
    for s in plan:  # every method and flag exists in the registry (a renamed flag would fail here)
        names = {f.name for f in registry[s.method].flags}
        assert set(s.flags) <= names, (s.key, set(s.flags) - names)
        if s.teacher is not None:
            assert "teacher_dir" in names
            assert [p.key for p in plan].index(s.teacher) < [p.key for p in plan].index(s.key)
    l2a = next(s for s in plan if s.key == "l2a")
    assert l2a.flags == {"source_domain": "electronics", "target_domain": "kitchen", "target_labels": 16}
    assert len(R.build_plan(CI, "synthetic", DOMS, [0], "none")) == 10


def test_methods_filter_keeps_the_teachers_a_run_needs():
    keys = lambda m: [s.key for s in R.build_plan(CI, "synthetic", DOMS, [0], "all", m)]  # noqa: E731
    assert keys(["hrkd"]) == ["teacher", "hrkd"]
    assert keys(["adabert-no-le"]) == ["teacher-mixed", "adabert-no-le"]
    assert keys(["meta-kd-batch-mean"]) == ["meta-kd", "meta-kd-batch-mean"]
    assert keys(["student"]) == ["student"]


@pytest.mark.parametrize("kwargs, needle", [
    ({"ablations": "some"}, "unknown ablations 'some'; valid choices: all, none"),
    ({"methods": ["hrkdd"]}, "unknown method 'hrkdd'; valid choices: teacher,"),
    ({"seeds": []}, "seeds must name at least one seed"),
])
def test_bad_plan_input_is_one_line(kwargs, needle):
    args = {"profile": CI, "source": "synthetic", "domains": DOMS, "seeds": [0], **kwargs}
    with pytest.raises(HrkdError, match=needle[:30]) as err:
        R.build_plan(**args)
    assert "\n" not in str(err.value) and needle in str(err.value)


@pytest.mark.parametrize("argv, needle", [
    (["--data", "synth"], "unknown data source 'synth'; valid choices: synthetic, amazon, mnli, local"),
    (["--seeds", "0,x"], "invalid --seeds '0,x'; valid choices"),
    (["--seeds", "1,1"], "invalid --seeds '1,1'; valid choices: distinct"),
    (["--ablations", "half"], "unknown ablations 'half'; valid choices: all, none"),
    (["--profile", "laptop"], "unknown profile 'laptop'; valid choices: ci, cpu, gpu, paper"),
])
def test_cli_bad_input_exits_2_with_one_line(argv, needle, tmp_path, capsys):
    assert main(["reproduce", "--out", str(tmp_path), *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and needle in err


def test_dry_run_prints_the_plan_and_runs_nothing(tmp_path, capsys):
    assert main(["reproduce", "--profile", "ci", "--seeds", "0,1", "--ablations", "none", "--out",
                 str(tmp_path / "o"), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "20 runs, 0 done; estimated" in out and "run hrkd --preset hrkd" in out
    assert not (tmp_path / "o" / "results.json").exists()


def test_estimates_use_finished_runs(tmp_path):
    plan = R.build_plan(CI, "synthetic", DOMS, [0, 1], "none", ["student"])
    assert R.estimate_seconds(plan[0], CI, tmp_path) == R.ESTIMATE_S["ci"]["student"]
    f0 = plan[0].folder(tmp_path)
    f0.mkdir(parents=True)
    (f0 / "metrics.json").write_text("{}")
    (f0 / "cost.json").write_text(json.dumps({"wall_s": 7.0}))
    assert R.estimate_seconds(plan[0], CI, tmp_path) == 0.0  # finished
    assert R.estimate_seconds(plan[1], CI, tmp_path) == 7.0  # seed 1: the measured seed-0 time
    assert "2 runs, 1 done; estimated 0 min left" in R.describe_plan(plan, CI, tmp_path)


def _fake_ctx(tmp_path):
    """The fields of a RunContext that the driver touches, as a dataclass (the driver uses replace())."""
    from dataclasses import make_dataclass

    C = make_dataclass("C", [("out_dir", Path), ("seed", int), ("device", torch.device), ("profile", object)])
    return C(tmp_path, 0, torch.device("cpu"), CI)


def test_run_one_measures_cost_passes_teacher_dir_deletes_weights_and_skips_when_done(tmp_path):
    calls = []
    enc = BertEncoder(BertConfig(vocab_size=50, hidden_size=8, num_layers=1, num_heads=2, intermediate_size=16))
    enc.requires_grad_(False)

    def runner(ctx, teacher_dir=None, k=0):
        calls.append((ctx.out_dir, ctx.seed, teacher_dir, k))
        with torch.no_grad():
            for b in (3, 5):
                enc(torch.ones(b, 4, dtype=torch.long), torch.ones(b, 4, dtype=torch.long))
        (ctx.out_dir / "w.safetensors").write_bytes(b"x")
        m = {"accuracy": {"test": {"a": 0.5, "average": 0.5}}, "k": k}
        (ctx.out_dir / "metrics.json").write_text(json.dumps(m))
        return m

    register(MethodSpec("fake-compare", runner, "test only"))
    spec = R.RunSpec("fake", "fake run", "fake-compare", "baseline", seed=2, flags={"k": 3}, teacher="teacher")
    res = R.run_one(_fake_ctx(tmp_path), spec, tmp_path)
    folder = tmp_path / "runs" / "fake" / "seed2"
    assert calls == [(folder, 2, str(tmp_path / "runs" / "teacher" / "seed2" / "teacher"), 3)]
    assert res["metrics"]["k"] == 3 and res["label"] == "fake run"
    assert res["cost"]["teacher_forward_examples"] == 8 and res["cost"]["teacher_forward_calls"] == 2
    assert res["cost"]["resumed"] is False and not (folder / "w.safetensors").exists()
    again = R.run_one(_fake_ctx(tmp_path), spec, tmp_path)  # metrics.json exists: read back, not rerun
    assert len(calls) == 1 and again["metrics"] == res["metrics"]


def test_costs_count_frozen_encoders_only_and_see_memory(monkeypatch):
    import hrkd_lite.experiments.costs as costs_module

    rss = [100.0]  # the process's resident memory as the sampler reads it (allocator-independent)
    monkeypatch.setattr(costs_module, "_rss_mb", lambda: rss[0])
    enc = BertEncoder(BertConfig(vocab_size=50, hidden_size=8, num_layers=1, num_heads=2, intermediate_size=16))
    ids = torch.ones(4, 6, dtype=torch.long)
    with measure_costs(interval=0.01) as cost:
        enc(ids, torch.ones_like(ids))  # trainable: a student, not counted
        rss[0] = 140.0  # 40 MB more while the sampler runs ...
        time.sleep(0.1)
        rss[0] = 100.0  # ... and given back before the block ends: only the sampler saw the peak
    assert cost.teacher_forward_calls == 0 and cost.wall_s >= 0.1
    assert cost.added_rss_mb == 40.0 and cost.peak_rss_mb == 140.0
    enc.requires_grad_(False)
    with measure_costs() as cost:
        enc(ids, torch.ones_like(ids))
        measure_latency(lambda: enc(ids, torch.ones_like(ids)), repeats=2)  # not a use of the teacher
    assert (cost.teacher_forward_calls, cost.teacher_forward_examples) == (1, 4)


def _run(key, group, seed, acc, params=15.6e6, ms=(4.0, 80.0), wall=10.0, extra=None):
    m = {"accuracy": {"test": {**acc, "average": float(np.mean(list(acc.values())))}},
         "params": {"total": params}, "latency_ms": {"batch1": ms[0], "batch32": ms[1]}, **(extra or {})}
    return {"key": key, "label": key.upper(), "method": key, "group": group, "seed": seed, "flags": {},
            "metrics": m, "cost": {"wall_s": wall, "added_rss_mb": 100.0, "teacher_forward_examples": 640}}


def fake_runs() -> list[dict]:
    runs = []
    for s, (t, k) in enumerate([(0.9, 0.7), (0.8, 0.8), (0.85, 0.75)]):
        runs.append(_run("teacher", "reference", s, {"a": t, "b": t}, params=22.7e6, ms=(10.0, 200.0), wall=30))
        runs.append(_run("tinybert", "baseline", s, {"a": k, "b": k - 0.1}))
    base = {"teacher (source+target)": {"test": 0.8}, "teacher (target)": {"test": 0.6},
            "student, no KD": {"test": 0.5}, "KD, target only": {"test": 0.6},
            "KD + random augmentation": {"test": 0.65}, "KD + learned selection (L2A-style)": {"test": 0.7}}
    runs.append(_run("l2a", "method", 0, {"b": 0.7}, extra={"baselines": base, "source_domain": "a",
                                                           "target_domain": "b", "target_labels": 32}))
    return runs


def test_summary_table_speedup_costs_and_l2a_rows():
    rows = nb05.summarize(fake_runs())
    assert [r.key for r in rows][:2] == ["teacher", "tinybert"] and len(rows) == 2 + 6
    tb = rows[1]
    assert tb.seeds == [0, 1, 2] and tb.acc["b"] == pytest.approx([0.6, 0.7, 0.65])
    table = nb05.table_markdown(rows)
    main, l2a = table.split("\n\n")
    assert f"| TINYBERT | {format_accuracy([0.7, 0.8, 0.75])} | {format_accuracy([0.6, 0.7, 0.65])} |" in main
    assert "| 15.60 | 4.0 | 80.0 | 2.5x | 10 |" in main  # 200 ms / 80 ms
    assert "| 1.0x |" in main.splitlines()[2]  # the teacher against itself
    assert "KD + learned selection (L2A-style) | 70.0 (1 seed) |" in l2a and "| b |" in l2a.splitlines()[0]
    cost = nb05.cost_markdown(rows)
    assert "| TINYBERT | embeddings, attention scores" in cost and "| 10 | 100 | 640 |" in cost


def test_verdicts_use_the_noise_rule_paired_by_seed():
    rows = nb05.summarize(fake_runs())
    sizes = {"a": 100, "b": 100}
    got = nb05.verdict(rows, "tinybert", "teacher", sizes)
    want = compare([0.65, 0.75, 0.7], [0.9, 0.8, 0.85], [100, 100], paired=True)
    assert got.verdict == want.verdict == "worse" and got.seeds == 3
    assert (got.diff, got.se_seeds, got.noise) == pytest.approx((want.diff, want.se_seeds, want.noise))
    lines = nb05.verdict_lines(rows, sizes)
    assert [q for q, _, _ in lines] == ["L2A: learned vs random selection", "L2A: student vs its teacher"]
    assert lines[0][2].endswith("one seed: within noise")  # 70 vs 65 on 100 examples
    claims = nb05.claim_rows(rows, sizes)
    tb = next(c for c in claims if c[0] == "TINYBERT")
    assert "reference code" in tb[2] and "1.5x fewer parameters" in tb[3] and "2.5x faster @32" in tb[3]
    assert all(c[2].split(" (")[0] in ("abstract", "reference code") for c in claims)


@pytest.mark.slow
def test_reproduce_ci_runs_then_reuses_everything(tmp_path, capsys):
    out = tmp_path / "rep"
    argv = ["reproduce", "--profile", "ci", "--seeds", "0", "--methods", "student", "--out", str(out),
            "--no-progress"]
    assert main(argv) == 0
    doc = json.loads((out / "results.json").read_text())
    assert [r["key"] for r in doc["runs"]] == ["student"] and doc["test_sizes"]["books"] > 0
    run = doc["runs"][0]
    assert set(run["metrics"]["accuracy"]["test"]) == {"books", "movies", "electronics", "kitchen", "average"}
    assert run["cost"]["teacher_forward_examples"] == 0 and run["cost"]["wall_s"] > 0  # no teacher at all
    assert not list((out / "runs").rglob("*.safetensors"))  # a finished student keeps no weights
    assert (out / "05_pareto.png").stat().st_size > 0 and "student, no KD" in (out / "table.md").read_text()
    stamp = (out / "runs" / "student" / "seed0" / "metrics.json").stat().st_mtime
    assert main(argv) == 0
    assert "1 runs, 1 done" in capsys.readouterr().out
    assert (out / "runs" / "student" / "seed0" / "metrics.json").stat().st_mtime == stamp
    assert json.loads((out / "results.json").read_text())["runs"] == doc["runs"]


def test_a_failed_run_is_reported_and_the_plan_goes_on(tmp_path):
    def boom(ctx):
        raise RuntimeError("out of memory\nsecond line")

    def fine(ctx):
        (ctx.out_dir / "metrics.json").write_text(json.dumps({"accuracy": {"test": {"average": 0.5}}}))
        return {}

    register(MethodSpec("fake-boom", boom, "test only"))
    register(MethodSpec("fake-fine", fine, "test only"))
    plan = [R.RunSpec("a", "A", "fake-boom", "baseline"), R.RunSpec("b", "B", "fake-fine", "baseline")]
    seen = []
    with pytest.raises(HrkdError, match=r"1 of 2 runs failed .*a seed 0: RuntimeError: out of memory$"):
        R.run_plan(_fake_ctx(tmp_path), plan, tmp_path, progress=False, on_result=lambda res: seen.append(len(res)))
    assert seen == [1] and (tmp_path / "runs" / "b" / "seed0" / "metrics.json").is_file()


def test_front_labels_and_a_wider_band():
    rows = nb05.summarize(fake_runs())
    assert nb05.front_labels(rows, "params") == ["TINYBERT", "TEACHER"]
    sizes = {"a": 100, "b": 100}
    assert nb05.verdict(rows, "tinybert", "teacher", sizes, z=40).verdict == "within noise"
