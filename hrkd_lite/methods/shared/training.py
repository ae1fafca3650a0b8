"""Multi-domain training with per-domain best-dev selection: one batch per domain per step
(:class:`DomainBatches`), dev accuracy of every domain during training, each domain tested with its own
best-dev checkpoint (:func:`train_with_selection`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from hrkd_lite.data.sampler import MultiDomainSampler
from hrkd_lite.methods.shared.context import RunContext, Step
from hrkd_lite.methods.shared.evaluation import accuracy
from hrkd_lite.models import MultiDomainClassifier
from hrkd_lite.train import TrainConfig, Trainer
from hrkd_lite.train.loop import LAST


class DomainBatches:
    """Adapts :class:`MultiDomainSampler` to the trainer: each item is one step, one batch per domain."""

    def __init__(self, ctx: RunContext, domains: Sequence[int], seed: int, mode: str = "hrkd"):
        self.domains = list(domains)
        sizes = [ctx.encoded.size(d, "train") for d in self.domains]
        self.sampler = MultiDomainSampler(sizes, ctx.profile.batch_size, seed=seed, mode=mode)
        self.steps_per_epoch = self.sampler.steps_per_epoch

    def epoch(self, e: int) -> list[Step]:
        return [list(zip(self.domains, step)) for step in self.sampler.epoch(e)]


def train_with_selection(ctx: RunContext, model: torch.nn.Module, classifier: MultiDomainClassifier,
                         loss_fn: Callable[[Step], Any], domains: Sequence[int], *, name: str, epochs: int,
                         lr: float, head_of: Callable[[int], int] | None = None, callbacks=(),
                         sampler_mode: str = "hrkd", max_steps: int | None = None) -> dict:
    """Train ``model`` (holding every trainable part, e.g. classifier + projections) on ``domains``.

    Dev accuracy of each domain is evaluated every ``profile.eval_every`` steps and at each epoch end; each
    domain's best-dev weights are kept (HRKD's per-domain selection), then each domain's *test* accuracy is
    measured with its own best checkpoint. Returns ``{"dev": {...}, "test": {...}, "result": TrainResult}``.
    """
    head_of = head_of or (lambda d: d)
    names = {d: ctx.domains[d] for d in domains}

    def eval_fn() -> dict[str, float]:
        return {names[d]: accuracy(classifier, ctx, d, "dev", head_of(d)) for d in domains}

    max_steps = ctx.profile.max_steps if max_steps is None else max_steps
    cfg = TrainConfig(epochs=epochs, lr=lr, eval_every=ctx.profile.eval_every, seed=ctx.seed,
                      out_dir=str(ctx.out_dir / name), desc=name, progress=ctx.progress, max_steps=max_steps,
                      mixed_precision=ctx.profile.mixed_precision)
    trainer = Trainer(model, loss_fn, eval_fn, DomainBatches(ctx, domains, ctx.seed, sampler_mode), cfg,
                      callbacks=callbacks)
    result = trainer.fit()
    dev, test = {}, {}
    for d in domains:
        trainer.load_best(names[d])
        dev[names[d]] = accuracy(classifier, ctx, d, "dev", head_of(d))
        test[names[d]] = accuracy(classifier, ctx, d, "test", head_of(d))
    # The run is complete: its resume state (weights + AdamW moments, ~3x the model) is no longer
    # needed; the best-dev weights stay. This keeps a notebook's runs folder to a few hundred MB.
    if trainer.is_main:
        (Path(cfg.out_dir) / LAST).unlink(missing_ok=True)
    return {"dev": dev, "test": test, "result": result, "trainer": trainer}
