"""Training with best-dev selection: the sampler's steps (:class:`DomainBatches`: one batch per domain for
several domains, a reshuffled single-domain loader, or all domains pooled), dev accuracy during training, and
each domain tested with its own best-dev checkpoint or with one checkpoint chosen on the mixed dev set
(:func:`train_with_selection`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from hrkd_lite.data.sampler import MultiDomainSampler
from hrkd_lite.errors import check_choice
from hrkd_lite.methods.shared.context import RunContext, Step
from hrkd_lite.methods.shared.evaluation import accuracy, mixed_accuracy
from hrkd_lite.models import MultiDomainClassifier
from hrkd_lite.train import TrainConfig, Trainer
from hrkd_lite.train.loop import LAST


class DomainBatches:
    """Adapts :class:`MultiDomainSampler` to the trainer: each item is one step, ``[(domain, indices), ...]``.

    ``mode="auto"``: one domain is reshuffled every epoch (the references' single-domain loaders), several
    follow HRKD's multi-domain sampler; ``"pooled"`` mixes all domains in one loader (Meta-KD's teachers).
    A domain with no rows in a pooled step is left out of that step. ``batch_size`` defaults to the profile's.
    """

    def __init__(self, ctx: RunContext, domains: Sequence[int], seed: int, mode: str = "auto",
                 batch_size: int | None = None):
        self.domains = list(domains)
        sizes = [ctx.encoded.size(d, "train") for d in self.domains]
        self.sampler = MultiDomainSampler(sizes, batch_size or ctx.profile.batch_size, seed=seed, mode=mode)
        self.steps_per_epoch = self.sampler.steps_per_epoch

    def epoch(self, e: int) -> list[Step]:
        return [[(d, idx) for d, idx in zip(self.domains, step) if len(idx)] for step in self.sampler.epoch(e)]


def train_with_selection(ctx: RunContext, model: torch.nn.Module, classifier: MultiDomainClassifier,
                         loss_fn: Callable[[Step], Any], domains: Sequence[int], *, name: str, epochs: int,
                         lr: float, head_of: Callable[[int], int] | None = None, callbacks=(),
                         sampler_mode: str = "auto", max_steps: int | None = None, batch_size: int | None = None,
                         select: str = "per_domain", schedule: str = "warmup_linear") -> dict:
    """Train ``model`` (holding every trainable part, e.g. classifier + projections) on ``domains``.

    ``select="per_domain"``: dev accuracy of each domain is evaluated every ``profile.eval_every`` steps and at
    each epoch end; each domain's best-dev weights are kept (HRKD's per-domain selection), then each domain's
    *test* accuracy is measured with its own best checkpoint. ``select="mixed"``: ONE checkpoint, the best
    accuracy on all domains' dev rows pooled (Meta-KD's teachers), used for every domain.
    ``sampler_mode`` / ``batch_size``: see :class:`DomainBatches`; ``schedule``: ``TrainConfig.schedule``.
    Returns ``{"dev": {...}, "test": {...}, "result": TrainResult, "trainer": Trainer}``.
    """
    check_choice("checkpoint selection", select, ("per_domain", "mixed"))
    head_of = head_of or (lambda d: d)
    names = {d: ctx.domains[d] for d in domains}

    def eval_fn() -> dict[str, float]:
        if select == "mixed":
            return {"mixed_dev": mixed_accuracy(classifier, ctx, domains, "dev", head_of)}
        return {names[d]: accuracy(classifier, ctx, d, "dev", head_of(d)) for d in domains}

    max_steps = ctx.profile.max_steps if max_steps is None else max_steps
    cfg = TrainConfig(epochs=epochs, lr=lr, eval_every=ctx.profile.eval_every, seed=ctx.seed,
                      out_dir=str(ctx.out_dir / name), desc=name, progress=ctx.progress, max_steps=max_steps,
                      mixed_precision=ctx.profile.mixed_precision,
                      select="mean" if select == "mixed" else "per_domain", schedule=schedule)
    batches = DomainBatches(ctx, domains, ctx.seed, sampler_mode, batch_size)
    trainer = Trainer(model, loss_fn, eval_fn, batches, cfg, callbacks=callbacks)
    result = trainer.fit()
    dev, test = {}, {}
    for d in domains:
        trainer.load_best(None if select == "mixed" else names[d])
        dev[names[d]] = accuracy(classifier, ctx, d, "dev", head_of(d))
        test[names[d]] = accuracy(classifier, ctx, d, "test", head_of(d))
    # The run is complete: its resume state (weights + AdamW moments, ~3x the model) is no longer
    # needed; the best-dev weights stay. This keeps a notebook's runs folder to a few hundred MB.
    if trainer.is_main:
        (Path(cfg.out_dir) / LAST).unlink(missing_ok=True)
    return {"dev": dev, "test": test, "result": result, "trainer": trainer}
