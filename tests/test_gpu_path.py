"""Every ``run`` method on the ``gpu`` profile's code path, on a CPU, in seconds.

The gpu profile loads a teacher and a student from checkpoints in the Hugging Face folder format (hub names
on Colab), the student is another model of another width (learned projections between the widths) and
depth (TinyBERT's uniform layer map), and the trainer runs with mixed precision where CUDA exists. Here the
checkpoints are tiny random BERTs written by the ``tiny_hub_models`` fixture (teacher 64 wide x 4 layers,
student 32 x 2), passed with ``--teacher`` / ``--student``, and ``--max-steps`` stops every training loop.
The profile keeps its name and code path; only its sizes (sequence length, batch, data, latency repeats)
are shrunk so that each run takes seconds on 2 cores.
"""

from __future__ import annotations

import json

import pytest

from hrkd_lite import cli
from hrkd_lite.profiles import PROFILES
from hrkd_lite.train import loop

SMALL = {"max_len": 24, "batch_size": 4, "eval_batch_size": 32, "synthetic_per_domain": 60,
         "train_per_domain": 24, "dev_per_domain": 12, "test_per_domain": 12, "latency_repeats": 1,
         "eval_every": 0, "seeds": (0,)}
STEPS = 2

METHODS = {  # method -> its own arguments; student methods are checked for the student's width
    "teacher": [],
    "student": [],
    "kd": [],
    "tinybert": [],
    "multi-teacher": [],
    "hrkd": [],
    "meta-teacher": [],
    "meta-kd": ["--targets", "books"],
    "adabert": ["--domains", "books,electronics", "--hidden", "16", "--max-depth", "2"],  # a small supernet
    "l2a": ["--source-domain", "electronics", "--target-domain", "kitchen", "--target-labels", "8"],
}
STUDENTS = {"student", "kd", "tinybert", "hrkd", "meta-kd"}


@pytest.fixture
def small_gpu_profile(monkeypatch):
    monkeypatch.setitem(PROFILES, "gpu", PROFILES["gpu"].with_overrides(**SMALL))
    monkeypatch.setenv("HRKD_PROFILE", "gpu")
    return PROFILES["gpu"]


@pytest.mark.slow
@pytest.mark.parametrize("method", list(METHODS))
def test_every_method_runs_the_gpu_path_with_tiny_hub_checkpoints(method, tiny_hub_models, small_gpu_profile,
                                                                   one_torch_thread, tmp_path, capsys, monkeypatch):
    teacher, student = tiny_hub_models
    precisions: list[str] = []
    init = loop.Trainer.__init__

    def recording_init(self, module, loss_fn, eval_fn, batches, config, *args, **kwargs):
        precisions.append(config.mixed_precision)
        init(self, module, loss_fn, eval_fn, batches, config, *args, **kwargs)

    monkeypatch.setattr(loop.Trainer, "__init__", recording_init)
    out = tmp_path / method
    argv = ["run", method, "--profile", "gpu", "--data", "synthetic", "--teacher", str(teacher), "--student",
            str(student), "--max-steps", str(STEPS), "--out", str(out), "--no-progress", *METHODS[method]]
    assert cli.main(argv) == 0, capsys.readouterr().err
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["profile"] == "gpu"
    # mixed precision is on for every trainer of the gpu profile; on this CPU the trainer runs in fp32
    assert small_gpu_profile.mixed_precision == "fp16" and precisions and set(precisions) == {"fp16"}
    assert 0.0 <= metrics["accuracy"]["test"]["average"] <= 1.0
    if method in STUDENTS:  # the narrow student (hidden 32), not the teacher (hidden 64) truncated
        assert metrics["params"]["embeddings"] < 1_000_000 and metrics["params"]["total"] < 1_100_000


def test_overrides_are_profile_fields_and_bad_values_are_one_line(tiny_hub_models, capsys):
    teacher, _ = tiny_hub_models
    args = cli._Parser(prog="x")
    cli._common(args)
    cli._models(args)
    ns = args.parse_args(["--profile", "gpu", "--teacher", str(teacher), "--max-steps", "3"])
    prof = cli._profile(ns)
    assert (prof.name, prof.teacher, prof.student, prof.max_steps) == ("gpu", str(teacher),
                                                                       PROFILES["gpu"].student, 3)
    assert cli.main(["run", "student", "--profile", "gpu", "--max-steps", "0", "--out", "x"]) == 2
    assert "--max-steps must be >= 1, got 0" in capsys.readouterr().err
    assert cli.main(["run", "student", "--profile", "ci", "--teacher", "no/such-model", "--out", "x"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'no/such-model'" in err and "local folder" in err
