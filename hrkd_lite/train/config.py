"""What the trainer is given and what it returns: :class:`TrainConfig`, the :class:`Batches` protocol, the
callable types, :class:`TrainResult`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import torch

from hrkd_lite.errors import HrkdError, check_choice

PRECISIONS = ("no", "fp16", "bf16")
SCHEDULES = ("warmup_linear", "constant")


@dataclass
class TrainConfig:
    """Loop settings. Steps are optimiser steps; epochs and steps in logs are counted from 0 / 1.

    ``eval_every``: evaluate every that many steps (0: only at epoch ends; epoch ends always evaluate).
    ``save_every``: write ``last.safetensors`` every that many steps and at epoch ends (0: at every
    evaluation point). ``select``: ``"per_domain"`` keeps ``best_<domain>`` and ``best_mean`` weights,
    ``"mean"`` only ``best_mean``. ``max_steps`` caps the total (and the schedule length).
    ``mixed_precision``: "no" | "fp16" | "bf16" (autocast around ``loss_fn``; fp16 with loss scaling);
    forced to "no" on the CPU.
    ``schedule``: ``"warmup_linear"`` (linear warmup over ``warmup_ratio`` of the steps, then linear decay
    to 0: HRKD, Meta-KD's teacher and stage 2) or ``"constant"`` (``lr`` at every step: Meta-KD's
    stage 1 in the authors' code).
    """

    epochs: int
    lr: float
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0
    eval_every: int = 0
    save_every: int = 0
    seed: int = 0
    out_dir: str | None = None
    resume: bool = True
    desc: str = "train"
    select: str = "per_domain"
    max_steps: int | None = None
    progress: bool = True
    mixed_precision: str = "no"
    schedule: str = "warmup_linear"

    def __post_init__(self) -> None:
        check_choice("select", self.select, ["per_domain", "mean"])
        check_choice("schedule", self.schedule, SCHEDULES)
        check_choice("mixed_precision", self.mixed_precision, PRECISIONS)
        if self.epochs < 1:
            raise HrkdError(f"epochs must be >= 1, got {self.epochs}")
        if self.eval_every < 0 or self.save_every < 0:
            raise HrkdError(f"eval_every/save_every must be >= 0, got {self.eval_every}/{self.save_every}")
        if self.max_steps is not None and self.max_steps < 1:
            raise HrkdError(f"max_steps must be >= 1 or None, got {self.max_steps}")


class Batches(Protocol):
    """What the loop iterates: ``steps_per_epoch`` items per epoch, deterministic given (seed, e)."""

    steps_per_epoch: int

    def epoch(self, e: int) -> Sequence[Any]:
        """The items of epoch ``e`` (0-based); each is passed to ``loss_fn`` as is."""
        ...


LossFn = Callable[[Any], torch.Tensor | tuple[torch.Tensor, dict[str, float]]]
EvalFn = Callable[[], dict[str, float | tuple[float, int]]]
StepCallback = Callable[[int, dict[str, Any]], None]


@dataclass
class TrainResult:
    """What :meth:`Trainer.fit` returns.

    ``history``: one dict per step (step, epoch, loss, lr, grad_norm, extras of ``loss_fn``).
    ``evals``: ``{"step", "epoch", "scores"}`` per evaluation (scores include ``"average"``).
    ``best``: domain -> ``{"score", "step", "epoch"}`` (strictly greater wins, ties keep the earlier).
    ``best_mean``: the same for the average, or None without evaluation.
    """

    history: list[dict[str, Any]] = field(default_factory=list)
    evals: list[dict[str, Any]] = field(default_factory=list)
    best: dict[str, dict[str, Any]] = field(default_factory=dict)
    best_mean: dict[str, Any] | None = None
    steps: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form (JSON-encodable)."""
        return asdict(self)
