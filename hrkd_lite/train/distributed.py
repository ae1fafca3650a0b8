"""The trainer's data-parallel and mixed-precision pieces, on Hugging Face ``accelerate``.

One process per device (``accelerate launch``); every process holds the whole model. One training
step works like this (``P`` processes, rank ``r``):

1. :func:`shard` gives rank ``r`` its part of the step's item: every index array (one per domain for
   the multi-domain sampler) is split into ``P`` contiguous, equal-as-possible parts, part ``r`` kept.
   The global batch is therefore the same as in a one-process run.
2. the method's ``loss_fn`` runs on that part (under ``accelerator.autocast()`` for fp16 / bf16) and
   ``accelerator.backward`` computes the gradients (loss-scaled for fp16);
3. :func:`allreduce_gradients` averages the gradients over processes in ONE flat all-reduce. When a
   loss is a sum of per-domain batch means and each array splits evenly, the mean over processes of
   the part gradients is exactly the full-batch gradient, so P processes take the same optimiser step
   as one process (up to float summation order). We all-reduce by hand instead of wrapping the model
   in ``DistributedDataParallel`` because ``loss_fn`` calls the method's modules (student, projections,
   teachers...) directly, not through one wrapped ``forward``.
4. the optimiser (prepared by accelerate, which steps the fp16 grad scaler) updates every replica
   identically.

Evaluation: :func:`agree_scores` gathers every process's per-domain scores
(``accelerator.gather_for_metrics``) and combines them, so every rank sees the same numbers and picks
the same best checkpoint. Only the main process writes files (:func:`is_main_process`).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from accelerate import Accelerator, PartialState
from accelerate.state import AcceleratorState

from hrkd_lite.errors import HrkdError, check_choice
from hrkd_lite.train.config import PRECISIONS

_NOTED: set[str] = set()


def _note_once(text: str) -> None:
    if text not in _NOTED:
        _NOTED.add(text)
        print(f"note: {text}", file=sys.stderr)


def is_main_process() -> bool:
    """True in a one-process run and on rank 0 of a launched run (the only process that writes files)."""
    return PartialState().is_main_process


def process_slice(n: int) -> np.ndarray:
    """The indices ``0..n-1`` this process handles (contiguous, equal-as-possible parts; all of them alone)."""
    state = PartialState()
    return np.array_split(np.arange(int(n)), state.num_processes)[state.process_index]


def make_accelerator(mixed_precision: str, device: torch.device) -> Accelerator:
    """An :class:`accelerate.Accelerator` for a model living on ``device``.

    ``mixed_precision``: ``"no"`` | ``"fp16"`` (autocast + dynamic loss scaling, e.g. a T4) | ``"bf16"``
    (autocast, Ampere or newer). On the CPU it is forced to ``"no"`` with a one-line note. accelerate
    keeps its precision setting per process; a trainer asking for another one than the previous
    trainer resets that setting (the process group, if any, is kept).
    """
    check_choice("mixed_precision", mixed_precision, PRECISIONS)
    precision = mixed_precision
    if device.type == "cpu" and precision != "no":
        _note_once(f"mixed_precision={precision!r} needs a GPU; training in full precision on the CPU")
        precision = "no"
    partial = PartialState._shared_state
    distributed = bool(partial) and PartialState().num_processes > 1
    if partial and PartialState().device.type != device.type:
        if distributed:
            raise HrkdError(
                f"the model is on {device} but this launched process owns {PartialState().device}; "
                "build models on hrkd_lite.utils.pick_device('auto')"
            )
        AcceleratorState._reset_state(reset_partial_state=True)
    shared = AcceleratorState._shared_state
    if shared and shared.get("_mixed_precision") != precision:
        AcceleratorState._reset_state(reset_partial_state=False)
    return Accelerator(cpu=device.type == "cpu", mixed_precision=precision, device_placement=False)


def shard(item: Any, rank: int, world: int) -> Any:
    """Rank ``rank``'s part of one step's ``item``: every 1-D index array / tensor inside it is cut into
    ``world`` contiguous parts (``np.array_split``) and part ``rank`` kept; other leaves (domain ids,
    strings) are kept as they are. Lists, tuples and dicts are walked. ``world == 1`` returns ``item``.
    """
    if world == 1:
        return item
    if isinstance(item, np.ndarray | torch.Tensor):
        if item.ndim == 0:
            return item
        if len(item) < world:
            raise HrkdError(f"a batch of {len(item)} examples cannot be split over {world} processes; "
                            "raise the batch size or launch fewer processes")
        parts = np.array_split(np.arange(len(item)), world)[rank]
        return item[int(parts[0]) : int(parts[-1]) + 1]
    if isinstance(item, tuple):
        return tuple(shard(x, rank, world) for x in item)
    if isinstance(item, list):
        return [shard(x, rank, world) for x in item]
    if isinstance(item, Mapping):
        return {k: shard(v, rank, world) for k, v in item.items()}
    return item


def allreduce_gradients(accelerator: Accelerator, params: list[torch.nn.Parameter]) -> None:
    """Average ``p.grad`` over processes, in one flat all-reduce (no-op with one process).

    A parameter that got a gradient on some rank only gets a zero gradient elsewhere first, so every
    replica updates the same parameters (as the one-process run, which sees the whole batch, would).
    """
    if accelerator.num_processes == 1 or not params:
        return
    device = params[0].device
    has = torch.tensor([p.grad is not None for p in params], dtype=torch.float32, device=device)
    has = accelerator.reduce(has, reduction="sum")
    used = [p for p, h in zip(params, has.tolist()) if h > 0]
    for p in used:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
    if not used:
        return
    flat = torch.cat([p.grad.reshape(-1).float() for p in used])
    flat = accelerator.reduce(flat, reduction="mean")
    offset = 0
    for p in used:
        n = p.numel()
        p.grad.copy_(flat[offset : offset + n].view_as(p.grad))
        offset += n


def mean_over_processes(accelerator: Accelerator, values: list[float]) -> list[float]:
    """The mean of each value over processes (the logged loss of a step is the full-batch loss)."""
    if accelerator.num_processes == 1 or not values:
        return values
    t = torch.tensor(values, dtype=torch.float64, device=accelerator.device)
    return accelerator.reduce(t, reduction="mean").tolist()


def agree_scores(accelerator: Accelerator, raw: Mapping[str, Any]) -> dict[str, float]:
    """Combine each process's ``{domain: score}`` into one dict that is identical on every rank.

    A value may be a float (a score this process computed on the whole dev set: processes are averaged,
    which gives back that score) or a ``(correct, count)`` pair (this process's share, e.g. from
    :func:`process_slice`: the pairs are summed, so the score is correct / count over all examples).
    """
    names = list(raw)
    rows = []
    for name in names:
        v = raw[name]
        rows.append([float(v[0]), float(v[1])] if isinstance(v, tuple | list) else [float(v), 1.0])
    if accelerator.num_processes == 1:
        return {n: num / den for n, (num, den) in zip(names, rows)}
    t = torch.tensor(rows, dtype=torch.float64, device=accelerator.device).unsqueeze(0)
    total = accelerator.gather_for_metrics(t).sum(0)
    return {n: float(total[i, 0] / total[i, 1]) for i, n in enumerate(names)}
