"""``python -m hrkd_lite run adabert``: one-line errors, the metrics schema, search.npz, resume."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hrkd_lite.cli import main

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize(("flags", "needles"), [
    (["--layer-map", "diagonal"], ["'diagonal'", "ceil", "floor", "tf"]),
    (["--stem", "glove"], ["'glove'", "teacher", "table"]),
    (["--final-training", "none"], ["'none'", "warm_ce", "scratch_kd"]),
    (["--beta", "lots"], ["--beta", "'lots'"]),
    (["--allow-depth-zero", "maybe"], ["'maybe'", "true", "false"]),
])
def test_bad_flags_are_one_clear_line(flags, needles, capsys, tmp_path):
    assert main(["run", "adabert", "--profile", "ci", "--out", str(tmp_path), *flags]) == 2
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    for n in needles:
        assert n in err, (n, err)


@pytest.mark.parametrize(("flags", "needles"), [
    (["--second-order", "true"], ["second_order", "false"]),
    (["--beta", "-1"], ["beta", "-1"]),
])
def test_unsupported_switch_values_are_one_clear_line(flags, needles, capsys, tmp_path):
    assert main(["run", "adabert", "--profile", "ci", "--domains", "books", "--out", str(tmp_path), *flags]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and all(n in err for n in needles), err


ARGS = ["run", "adabert", "--profile", "ci", "--data", "synthetic", "--domains", "books,electronics",
        "--search-epochs", "2", "--no-progress"]


@pytest.mark.slow
def test_cli_writes_schema_and_resumes(tmp_path, monkeypatch):
    a = tmp_path / "a"
    assert main([*ARGS, "--out", str(a)]) == 0
    m = json.loads((a / "metrics.json").read_text())
    assert m["method"] == "adabert" and m["profile"] == "ci" and m["domains"] == ["books", "electronics"]
    for split in ("dev", "test"):
        assert set(m["accuracy"][split]) == {"books", "electronics", "average"}
        assert set(m["supernet_accuracy"][split]) == {"books", "electronics", "average"}
        assert all(0.0 <= v <= 1.0 for v in m["supernet_accuracy"][split].values())
    arch = m["architecture"]
    assert 1 <= arch["depth"] <= 3 and len(arch["cells"]) == 3
    assert all(len(node) == 2 and all(op != "none" for op, _ in node) for node in arch["cells"])
    assert m["params"]["total"] == m["params"]["stem"] + m["params"]["cells"] + m["params"]["head"]
    assert m["params"]["total"] < m["teacher"]["params"]["total"]
    assert m["latency_ms"]["batch1"] > 0 and m["latency_ms"]["batch32"] > 0
    h = np.load(a / "search.npz")
    steps = len(h["step"])
    assert h["alpha"].shape == (steps, 9, 10) and h["depth"].shape == (steps, 3)
    for key in ("tau", "ce", "kd_final", "kd_probe", "eff"):
        assert h[key].shape == (steps,)

    # interrupted after one search step, then the same command again: same search as uninterrupted
    from hrkd_lite.methods.adabert import runner

    real = runner.run_search

    def interrupted(*args, **kw):
        real(*args, **{**kw, "max_steps": 1})
        raise KeyboardInterrupt

    b = tmp_path / "b"
    monkeypatch.setattr(runner, "run_search", interrupted)
    assert main([*ARGS, "--teacher-dir", str(a / "teacher"), "--out", str(b)]) == 130
    assert (b / "search" / "last.safetensors").is_file() and not (b / "metrics.json").exists()
    monkeypatch.setattr(runner, "run_search", real)
    assert main([*ARGS, "--teacher-dir", str(a / "teacher"), "--out", str(b)]) == 0
    hb = np.load(b / "search.npz")
    assert np.allclose(hb["loss"], h["loss"], atol=1e-5) and np.allclose(hb["alpha"], h["alpha"], atol=1e-6)
    assert json.loads((b / "metrics.json").read_text())["architecture"] == arch
