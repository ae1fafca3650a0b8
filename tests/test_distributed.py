"""Data parallelism and mixed precision of the trainer (accelerate), on the CPU.

The slow tests launch ``accelerate launch --multi_gpu --num_processes 2`` (on a machine without GPUs:
two CPU processes, gloo) next to a one-process run with the same global batch. Stated tolerances:

* toy trainer without dropout (tests/dist_worker.py): weights within 1e-5 and logged losses within
  1e-5 of the one-process run, identical gathered dev scores and best steps (measured: 1.0e-7 weights,
  1.2e-7 losses);
* ``run student --profile ci`` (BERT student WITH dropout: each process draws its own masks, so the two
  runs differ by dropout noise, 6 steps, 24 dev / test reviews per domain): per-domain mean training
  loss within 0.05 and average dev / test accuracy within 0.15 (measured: 0.016 loss, 0.073 dev,
  0.042 test).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import safetensors.torch
import torch
from torch import nn

from hrkd_lite.errors import HrkdError
from hrkd_lite.profiles import PROFILES
from hrkd_lite.train import TrainConfig, Trainer, distributed
from hrkd_lite.train.distributed import agree_scores, make_accelerator, process_slice, shard

ROOT = Path(__file__).resolve().parents[1]


def test_shard_splits_every_index_array_and_keeps_other_leaves() -> None:
    step = [(0, np.arange(8)), (3, np.arange(10, 15))]
    parts = [shard(step, r, 2) for r in range(2)]
    assert parts[0][0][0] == 0 and parts[1][1][0] == 3
    assert parts[0][0][1].tolist() == [0, 1, 2, 3] and parts[1][0][1].tolist() == [4, 5, 6, 7]
    assert parts[0][1][1].tolist() == [10, 11, 12] and parts[1][1][1].tolist() == [13, 14]
    t = {"ids": torch.arange(6)}
    assert shard(t, 1, 3)["ids"].tolist() == [2, 3]
    assert shard(step, 0, 1) is step
    with pytest.raises(HrkdError, match="cannot be split over 3 processes"):
        shard([np.arange(2)], 0, 3)


def test_agree_scores_in_one_process() -> None:
    acc = make_accelerator("no", torch.device("cpu"))
    assert agree_scores(acc, {"a": 0.5, "b": (3, 4)}) == {"a": 0.5, "b": 0.75}
    assert process_slice(5).tolist() == [0, 1, 2, 3, 4]


def test_mixed_precision_is_off_on_cpu_with_a_note(capsys: pytest.CaptureFixture[str]) -> None:
    distributed._NOTED.clear()
    model = nn.Linear(3, 1)
    cfg = TrainConfig(epochs=1, lr=1e-2, mixed_precision="fp16", progress=False)

    class One:
        steps_per_epoch = 1

        def epoch(self, e: int) -> list[int]:
            return [0]

    trainer = Trainer(model, lambda _: model(torch.ones(2, 3)).pow(2).mean(), None, One(), cfg)
    assert trainer.accelerator.mixed_precision == "no" and trainer.accelerator.scaler is None
    assert trainer.fit().steps == 1
    assert capsys.readouterr().err.count("mixed_precision='fp16' needs a GPU") == 1
    with pytest.raises(HrkdError, match="mixed_precision.*'fp8'.*bf16"):
        TrainConfig(epochs=1, lr=1e-2, mixed_precision="fp8")


def test_profiles_choose_mixed_precision() -> None:
    assert {n: p.mixed_precision for n, p in PROFILES.items()} == {
        "ci": "no", "cpu": "no", "gpu": "fp16", "paper": "fp16"
    }
    with pytest.raises(HrkdError, match="mixed_precision"):
        PROFILES["ci"].with_overrides(mixed_precision="half")


def _run(args: list[str], out: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "OMP_NUM_THREADS": "1"}
    env.pop("HRKD_PROFILE", None)
    cmd = [*args, "-m", "hrkd_lite", "run", "student", "--profile", "ci", "--data", "synthetic",
           "--out", str(out), "--no-progress"]
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _launch() -> list[str]:
    bindir = Path(sys.executable).parent
    # `--multi_gpu` is accelerate's torchrun launcher; without GPUs the trainer runs on the CPU with gloo.
    # (`--cpu --num_processes 2` would start ONE process unless an MPI hostfile is given.)
    return [str(bindir / "accelerate"), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
            "--mixed_precision", "no", "--dynamo_backend", "no"]


@pytest.mark.slow
def test_trainer_on_two_processes_reaches_the_one_process_weights(tmp_path: Path) -> None:
    """Toy run (no dropout): same weights to 1e-5, same gathered dev scores and best steps, one writer."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    worker = str(ROOT / "tests" / "dist_worker.py")
    procs = [subprocess.Popen([*cmd, worker, str(tmp_path / name)], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
             for name, cmd in (("two", _launch()), ("one", [sys.executable]))]
    for proc in procs:
        log, _ = proc.communicate(timeout=300)
        assert proc.returncode == 0, log[-3000:]
    one = json.loads((tmp_path / "one" / "result.json").read_text())
    two = json.loads((tmp_path / "two" / "result.json").read_text())
    assert (one["world"], two["world"]) == (1, 2)
    assert [h["loss"] for h in two["history"]] == pytest.approx([h["loss"] for h in one["history"]], abs=1e-5)
    assert [h["loss_d1"] for h in two["history"]] == pytest.approx([h["loss_d1"] for h in one["history"]], abs=1e-5)
    assert [e["scores"] for e in two["evals"]] == [e["scores"] for e in one["evals"]]
    assert two["best"] == one["best"]
    w1 = safetensors.torch.load_file(str(tmp_path / "one" / "weights.safetensors"))
    w2 = safetensors.torch.load_file(str(tmp_path / "two" / "weights.safetensors"))
    for k in w1:
        torch.testing.assert_close(w2[k], w1[k], rtol=0, atol=1e-5)
    assert sorted(p.name for p in (tmp_path / "two" / "run").iterdir()) == sorted(
        p.name for p in (tmp_path / "one" / "run").iterdir())


@pytest.mark.slow
def test_two_cpu_processes_match_one_process(tmp_path: Path) -> None:
    two = _run(_launch(), tmp_path / "two")
    one = _run([sys.executable], tmp_path / "one")
    for proc in (two, one):
        log, _ = proc.communicate(timeout=300)
        assert proc.returncode == 0, log[-3000:]
    assert [p.relative_to(tmp_path / "two") for p in (tmp_path / "two").rglob("metrics.json")] == [
        Path("metrics.json")
    ]
    a = json.loads((tmp_path / "one" / "metrics.json").read_text())
    b = json.loads((tmp_path / "two" / "metrics.json").read_text())
    assert set(a) == set(b) and a["domains"] == b["domains"]
    for split in ("dev", "test"):
        assert set(a["accuracy"][split]) == set(b["accuracy"][split])
        assert abs(a["accuracy"][split]["average"] - b["accuracy"][split]["average"]) <= 0.15, split
    for dom in a["domains"]:
        h1 = json.loads((tmp_path / "one" / "student" / dom / "history.json").read_text())
        h2 = json.loads((tmp_path / "two" / "student" / dom / "history.json").read_text())
        assert (h1["processes"], h2["processes"]) == (1, 2)
        assert len(h1["history"]) == len(h2["history"]) > 1
        mean1, mean2 = (sum(h["loss"] for h in h["history"]) / len(h["history"]) for h in (h1, h2))
        assert abs(mean1 - mean2) <= 0.05, dom
