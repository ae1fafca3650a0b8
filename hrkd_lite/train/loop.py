"""One generic training loop for every method (teachers, students, KD, TinyBERT, HRKD, Meta-KD).

The loop knows nothing about BERT. It trains one ``nn.Module`` that holds ALL trainable state
(student, projections, graph...) through two callables supplied by the method:

* ``loss_fn(item) -> loss`` or ``(loss, {name: float})``: called in train mode on one item of
  ``batches.epoch(e)`` (for the multi-domain sampler: the per-domain index arrays of one step);
* ``eval_fn() -> {domain: dev accuracy}``: called in eval mode under ``torch.no_grad``; the loop adds
  ``"average"`` (the mean over domains).

Reference behaviour (docs/methods/hrkd.md §1.3, §3): AdamW, linear warmup 10 % then linear decay, grad-norm
clip 1.0, validation every ``eval_every`` steps and at each epoch end, and **per-domain best-dev
checkpoints** (``best_<domain>.safetensors``) besides the best mean (``best_mean.safetensors``).

Resumption: ``out_dir/last.safetensors`` holds module + optimiser + scheduler + RNG states + loop state
(and the fp16 grad-scaler state), written atomically (temporary file, then rename). A new
:class:`Trainer` with ``resume=True`` continues from the saved step, skipping the items already done in
the current epoch (``batches.epoch(e)`` must be deterministic in ``e``), and reaches the same final
weights as an uninterrupted run. (We keep this one-file checkpoint rather than accelerate's
``save_state`` folder, which is not written atomically.)

Hugging Face ``accelerate`` does backward, gradient clipping, mixed precision (``mixed_precision``:
"no" | "fp16" | "bf16"; "no" on the CPU) and data parallelism: under ``accelerate launch`` every
process trains on its part of each step's batch and the gradients are averaged
(:mod:`hrkd_lite.train.distributed`); evaluation scores are gathered so that every process keeps the
same best checkpoints; only the main process writes files. The module stays on the device the caller
put it on (``hrkd_lite.utils.pick_device("auto")`` gives each launched process its own device).

Caveat: ``module.train()`` is called before every step. A frozen teacher stored inside ``module``
would have its dropout switched on; keep teachers outside ``module`` or call ``teacher.eval()`` in
``loss_fn``.
"""

from __future__ import annotations

import itertools
import math
import re
import time
from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from hrkd_lite.errors import HrkdError, check_choice
from hrkd_lite.train import distributed as dist
from hrkd_lite.train.checkpoint import (
    load_checkpoint,
    load_weights,
    save_checkpoint,
    save_weights,
    state_dict_copy,
)
from hrkd_lite.train.config import Batches, EvalFn, LossFn, StepCallback, TrainConfig, TrainResult
from hrkd_lite.train.optim import build_optimizer, linear_warmup_decay
from hrkd_lite.utils import atomic_write_json, forked_rng

__all__ = ["HISTORY", "LAST", "Batches", "EvalFn", "LossFn", "StepCallback", "TrainConfig", "TrainResult", "Trainer"]

LAST = "last.safetensors"
HISTORY = "history.json"
MEAN = "mean"


def _constant(step: int) -> float:
    """The ``"constant"`` schedule's multiplier (a module-level function, so the scheduler state pickles)."""
    return 1.0


def _safe_name(domain: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", str(domain))


class Trainer:
    """Train ``module`` with ``loss_fn`` over ``batches``, validate with ``eval_fn``, keep best weights.

    Args:
        module: holds every trainable parameter (frozen parameters are not optimised).
        loss_fn: ``item -> loss`` or ``(loss, extras)``; ``loss`` is a scalar tensor.
        eval_fn: ``() -> {domain: score}`` (higher is better) or None for no validation. A score may
            also be a ``(correct, count)`` pair over this process's share of the dev examples
            (:func:`hrkd_lite.train.distributed.process_slice`); pairs are summed over processes.
        batches: a :class:`Batches` (e.g. the multi-domain sampler).
        config: a :class:`TrainConfig`.
        optimizer: default ``build_optimizer(module, config.lr, config.weight_decay)``.
        scheduler: default ``linear_warmup_decay(optimizer, total_steps, config.warmup_ratio)``.
        callbacks: callables ``(step, logs)`` run after every optimiser step (they may add float
            entries to ``logs``; an exception they raise stops training, e.g. to simulate a crash).
    """

    def __init__(
        self,
        module: nn.Module,
        loss_fn: LossFn,
        eval_fn: EvalFn | None,
        batches: Batches,
        config: TrainConfig,
        optimizer: torch.optim.Optimizer | None = None,
        scheduler: Any | None = None,
        callbacks: Iterable[StepCallback] = (),
    ) -> None:
        self.module = module
        self.loss_fn = loss_fn
        self.eval_fn = eval_fn
        self.batches = batches
        self.config = config
        self.callbacks = list(callbacks)
        first = next(iter(module.parameters()), None)
        self.accelerator = dist.make_accelerator(
            config.mixed_precision, first.device if first is not None else torch.device("cpu")
        )
        self.is_main = self.accelerator.is_main_process
        self.steps_per_epoch = int(batches.steps_per_epoch)
        if self.steps_per_epoch < 1:
            raise HrkdError(f"batches.steps_per_epoch must be >= 1, got {self.steps_per_epoch}")
        total = config.epochs * self.steps_per_epoch
        self.total_steps = min(total, config.max_steps) if config.max_steps is not None else total
        if optimizer is None:
            optimizer = build_optimizer(module, config.lr, config.weight_decay)
        if scheduler is None:
            if config.schedule == "warmup_linear":
                scheduler = linear_warmup_decay(optimizer, self.total_steps, config.warmup_ratio)
            else:  # "constant": lr at every step (Meta-KD's stage 1)
                scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _constant)
        # The optimizer is wrapped (fp16: scaler.step / update); the scheduler is not (accelerate's
        # wrapper would step it once per process), it is stepped below unless an fp16 step was skipped.
        self.optimizer = self.accelerator.prepare_optimizer(optimizer)
        self.scheduler = scheduler
        self._params = [p for g in optimizer.param_groups for p in g["params"]]
        self.out_dir = Path(config.out_dir) if config.out_dir is not None else None
        self.step = 0
        self.result = TrainResult()
        self._memory_best: dict[str, dict[str, torch.Tensor]] = {}

    # ------------------------------------------------------------------ paths and state
    def best_path(self, domain: str | None = None) -> Path:
        """``out_dir/best_<domain>.safetensors`` (``best_mean`` for None); needs ``out_dir``."""
        if self.out_dir is None:
            raise HrkdError("best_path needs TrainConfig.out_dir (best weights are kept in memory)")
        return self.out_dir / f"best_{_safe_name(domain or MEAN)}.safetensors"

    def _state(self) -> dict[str, Any]:
        r = self.result
        return {
            "step": self.step,
            "epoch": self.step // self.steps_per_epoch,
            "steps_per_epoch": self.steps_per_epoch,
            "total_steps": self.total_steps,
            "history": r.history,
            "evals": r.evals,
            "best": r.best,
            "best_mean": r.best_mean,
            "seconds": r.seconds,
            "scaler": self.accelerator.scaler.state_dict() if self.accelerator.scaler is not None else None,
        }

    def _resume(self) -> None:
        path = self.out_dir / LAST if self.out_dir is not None else None
        if path is None or not self.config.resume or not path.is_file():
            return
        state = load_checkpoint(path, self.module, self.optimizer, self.scheduler, restore_rng=True)
        for key in ("steps_per_epoch", "total_steps"):
            if state.get(key) != getattr(self, key):
                raise HrkdError(
                    f"checkpoint {path} was written with {key}={state.get(key)}, this run has "
                    f"{getattr(self, key)}; use another out_dir or resume=False"
                )
        self.step = int(state["step"])
        if self.accelerator.scaler is not None and state.get("scaler"):
            self.accelerator.scaler.load_state_dict(state["scaler"])
        self.result = TrainResult(
            history=list(state["history"]),
            evals=list(state["evals"]),
            best=dict(state["best"]),
            best_mean=state["best_mean"],
            steps=self.step,
            seconds=float(state["seconds"]),
        )

    def _save_last(self) -> None:
        if self.out_dir is not None and self.is_main:
            save_checkpoint(self.out_dir / LAST, self.module, self.optimizer, self.scheduler, self._state())

    # ------------------------------------------------------------------ evaluation
    def evaluate(self) -> dict[str, float]:
        """Run ``eval_fn`` in eval mode under ``no_grad``; return its scores plus ``"average"``."""
        if self.eval_fn is None:
            raise HrkdError("no eval_fn was given to the Trainer")
        was_training = self.module.training
        self.module.eval()
        try:
            with torch.no_grad():
                raw = dict(self.eval_fn())
        finally:
            self.module.train(was_training)
        scores = dist.agree_scores(self.accelerator, {str(k): v for k, v in raw.items() if k != "average"})
        if not scores:
            raise HrkdError("eval_fn returned no domain scores")
        if MEAN in scores:
            raise HrkdError(f"eval_fn returned a domain named {MEAN!r}, which clashes with best_mean")
        scores["average"] = sum(scores.values()) / len(scores)
        return scores

    def _keep_best(self, key: str, score: float, epoch: int) -> None:
        info = {"score": score, "step": self.step, "epoch": epoch}
        if key == MEAN:
            self.result.best_mean = info
        else:
            self.result.best[key] = info
        if key != MEAN and self.config.select == "mean":
            return
        if self.out_dir is not None:
            if self.is_main:
                save_weights(self.best_path(key), self.module, metadata={"domain": key, **info})
        else:
            self._memory_best[key] = state_dict_copy(self.module)

    def _evaluate_and_select(self, epoch: int) -> dict[str, float]:
        scores = self.evaluate()
        self.result.evals.append({"step": self.step, "epoch": epoch, "scores": scores})
        for domain, score in scores.items():
            if domain == "average":
                continue
            prev = self.result.best.get(domain)
            if prev is None or score > prev["score"]:
                self._keep_best(domain, score, epoch)
        prev = self.result.best_mean
        if prev is None or scores["average"] > prev["score"]:
            self._keep_best(MEAN, scores["average"], epoch)
        self.accelerator.wait_for_everyone()  # best files are complete before any rank may read them
        return scores

    def load_best(self, domain: str | None = None) -> None:
        """Load the best weights for ``domain`` (None / ``"mean"`` / ``"average"``: best mean) into ``module``.

        With ``select="mean"`` every domain gets the best-mean weights.
        """
        key = MEAN if domain in (None, MEAN, "average") or self.config.select == "mean" else str(domain)
        known = sorted(self.result.best) + [MEAN]
        if key == MEAN and self.result.best_mean is None:
            raise HrkdError("no best checkpoint yet: fit() has not evaluated (is eval_fn None?)")
        check_choice("domain", key, known)
        if self.out_dir is not None:
            load_weights(self.best_path(key), self.module)
        elif key in self._memory_best:
            self.module.load_state_dict(self._memory_best[key])
        else:
            raise HrkdError(f"best weights for {key!r} are not in memory (was this Trainer resumed?)")

    # ------------------------------------------------------------------ training
    def _train_step(self, item: Any, epoch: int) -> dict[str, Any]:
        acc = self.accelerator
        self.module.train()
        with acc.autocast():
            out = self.loss_fn(dist.shard(item, acc.process_index, acc.num_processes))
        loss, extras = out if isinstance(out, tuple) else (out, {})
        if not torch.isfinite(loss.detach()).all():
            raise HrkdError(f"non-finite loss {loss.item()} at step {self.step + 1}; lower the learning rate")
        lr = float(self.optimizer.param_groups[0]["lr"])
        acc.backward(loss)
        dist.allreduce_gradients(acc, self._params)
        params = [p for p in self._params if p.grad is not None]
        if self.config.max_grad_norm and self.config.max_grad_norm > 0 and params:
            grad_norm = float(acc.clip_grad_norm_(params, self.config.max_grad_norm))
        else:
            grad_norm = float("nan")
        self.optimizer.step()
        if not acc.optimizer_step_was_skipped:
            self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.step += 1
        names = [str(k) for k in extras]
        values = [float(v.detach() if isinstance(v, torch.Tensor) else v) for v in extras.values()]
        values = dist.mean_over_processes(acc, [float(loss.detach()), *values])
        logs: dict[str, Any] = {"step": self.step, "epoch": epoch, "loss": values[0], "lr": lr}
        if not math.isnan(grad_norm):
            logs["grad_norm"] = grad_norm
        logs.update(zip(names, values[1:]))
        return logs

    def _epoch_items(self, epoch: int, skip: int) -> Iterable[Any]:
        items = self.batches.epoch(epoch)
        if hasattr(items, "__len__") and len(items) < self.steps_per_epoch:
            raise HrkdError(
                f"batches.epoch({epoch}) gave {len(items)} items, steps_per_epoch is {self.steps_per_epoch}"
            )
        return itertools.islice(items, skip, self.steps_per_epoch)

    def fit(self) -> TrainResult:
        """Train to ``total_steps`` (resuming from ``out_dir/last.safetensors`` when allowed).

        Dropout draws from the global random streams, seeded here from ``config.seed`` (plus the process
        index: own masks per process) inside :func:`hrkd_lite.utils.forked_rng`, so the caller's random
        state is the same after ``fit`` as before it.
        """
        with forked_rng(self.config.seed + self.accelerator.process_index):
            return self._fit()

    def _fit(self) -> TrainResult:
        cfg = self.config
        self._resume()
        started = time.perf_counter()
        seconds_before = self.result.seconds
        spe = self.steps_per_epoch
        self.optimizer.zero_grad(set_to_none=True)
        bar = tqdm(
            total=self.total_steps,
            initial=self.step,
            desc=cfg.desc,
            disable=not cfg.progress or not self.is_main,
            dynamic_ncols=True,
        )
        try:
            while self.step < self.total_steps:
                epoch = self.step // spe
                done = 0
                for item in self._epoch_items(epoch, self.step - epoch * spe):
                    logs = self._train_step(item, epoch)
                    done += 1
                    for cb in self.callbacks:
                        cb(self.step, logs)
                    self.result.history.append(logs)
                    bar.update(1)
                    bar.set_postfix(loss=f"{logs['loss']:.4f}", lr=f"{logs['lr']:.2e}", refresh=False)
                    epoch_end = self.step % spe == 0 or self.step >= self.total_steps
                    eval_point = epoch_end or (cfg.eval_every > 0 and self.step % cfg.eval_every == 0)
                    if eval_point and self.eval_fn is not None:
                        scores = self._evaluate_and_select(epoch)
                        bar.set_postfix(loss=f"{logs['loss']:.4f}", avg=f"{scores['average']:.4f}")
                    save = (
                        epoch_end
                        or (cfg.save_every > 0 and self.step % cfg.save_every == 0)
                        or (cfg.save_every == 0 and eval_point)
                    )
                    if save:
                        self.result.seconds = seconds_before + time.perf_counter() - started
                        self.result.steps = self.step
                        self._save_last()
                    if self.step >= self.total_steps:
                        break
                if done == 0 and self.step < self.total_steps:
                    raise HrkdError(f"batches.epoch({epoch}) gave no items")
        finally:
            bar.close()
        self.result.steps = self.step
        self.result.seconds = seconds_before + time.perf_counter() - started
        if self.out_dir is not None and self.is_main:
            atomic_write_json(self.out_dir / HISTORY, {**self.result.to_dict(), "config": asdict(cfg),
                                                       "processes": self.accelerator.num_processes})
        return self.result
