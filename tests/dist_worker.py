"""A toy two-domain Trainer run, launched by tests/test_distributed.py with one or two processes.

    python tests/dist_worker.py OUT            # one process
    accelerate launch --cpu --num_processes 2 tests/dist_worker.py OUT

No dropout, so one and two processes must reach the same weights (only float summation order differs).
Dev accuracy is computed on each process's share of the dev set and returned as (correct, count) pairs.
The main process writes OUT/result.json (history, evals, best) and OUT/weights.safetensors.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import safetensors.torch
import torch
import torch.nn.functional as F
from torch import nn

from hrkd_lite.train import TrainConfig, Trainer
from hrkd_lite.train.distributed import process_slice

N, BATCH = 64, 8


class Steps:
    steps_per_epoch = N // BATCH

    def epoch(self, e: int) -> list[list[tuple[int, np.ndarray]]]:
        rng = np.random.default_rng([0, e])
        perms = [rng.permutation(N) for _ in range(2)]
        return [[(d, p[i * BATCH : (i + 1) * BATCH]) for d, p in enumerate(perms)] for i in range(self.steps_per_epoch)]


def main(out: Path) -> None:
    g = torch.Generator().manual_seed(0)
    xs = [torch.randn(N, 6, generator=g) for _ in range(2)]
    w = torch.randn(6, generator=g)
    ys = [(x @ w > 0).long() for x in xs]
    dev = [torch.randn(N, 6, generator=g) for _ in range(2)]
    dev_y = [(x @ w > 0).long() for x in dev]
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 2))

    def loss_fn(step: list[tuple[int, np.ndarray]]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        losses = {f"loss_d{d}": F.cross_entropy(model(xs[d][idx]), ys[d][idx]) for d, idx in step}
        return sum(losses.values()), losses

    def eval_fn() -> dict[str, tuple[int, int]]:
        idx = process_slice(N)
        return {f"d{d}": (int((model(dev[d][idx]).argmax(-1) == dev_y[d][idx]).sum()), len(idx)) for d in range(2)}

    cfg = TrainConfig(epochs=2, lr=3e-2, eval_every=3, progress=False, out_dir=str(out / "run"))
    trainer = Trainer(model, loss_fn, eval_fn, Steps(), cfg)
    result = trainer.fit()
    trainer.load_best("d0")
    if trainer.is_main:
        safetensors.torch.save_file({k: v.contiguous() for k, v in model.state_dict().items()},
                                    str(out / "weights.safetensors"))
        (out / "result.json").write_text(json.dumps({"history": result.history, "evals": result.evals,
                                                     "best": result.best, "world": trainer.accelerator.num_processes}))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
