"""Cached teacher outputs: a frozen teacher's answers computed once per training example, reused every epoch.

During distillation the teacher is frozen and in eval mode (no dropout), so its logits and the hidden states /
attention scores of the layers the student is mapped to are a function of the input alone. Recomputing them
every epoch, and again for every method that shares the teacher, is pure waste: the teacher forward is the
largest single cost of a distillation step (it is the bigger network). This module keeps, per domain, one
table of the training rows' outputs:

- ``logits`` (N, C) and an optional ``feature`` (N, H_t) (Meta-KD's corrupted feature) in float32;
- the kept ``hidden_states`` (K_h, N, T, H_t) and ``attention_scores`` (K_a, N, h, T, T) in ``dtype``
  (float16 by default: half the memory; float32 reproduces the teacher exactly).

A row is computed the first time a training step asks for it (the first epoch's teacher calls are the
steps' own, on the whole batch), then read back: with float32 storage the losses equal the live ones
bitwise, with float16 within its rounding (2^-11 relative per stored value). Tables are keyed by a fingerprint of the teacher's weights, the head and the
encoded inputs, and live in one process-wide store, so a second method with the same teacher and data (KD
after TinyBERT, the ablations of a notebook) starts with a filled table. The store is bounded
(``HRKD_TEACHER_CACHE_MB``, default 2048 MB): older tables are dropped to make room; a cache that alone
exceeds the bound is switched off with one warning line and the teacher runs live, as without a cache.

When the inputs differ from the encoded rows (data augmentation rewrites them), the batch is checked
against the stored ``input_ids`` and the teacher runs live for it: a cache never answers for other inputs.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from hrkd_lite.errors import HrkdError

DEFAULT_MAX_MB = 2048
DTYPES = {"float16": torch.float16, "float32": torch.float32}
TeacherFn = Callable[[int, dict[str, Tensor]], Any]  # (domain, batch) -> ModelOutput or (ModelOutput, feature)


@dataclass(frozen=True)
class CacheSpec:
    """What a method reads from the teacher: the hidden-state and attention-score indices it maps to
    (teacher numbering: hidden 0 = embeddings, attention 0 = first layer), whether it reads a feature,
    and the storage dtype of the per-token tensors (``float16`` or ``float32``)."""

    hidden: tuple[int, ...] = ()
    attention: tuple[int, ...] = ()
    feature: bool = False
    dtype: str = "float16"

    @classmethod
    def for_layers(cls, indices: dict, feature: bool = False, dtype: str = "float16") -> CacheSpec:
        """What TinyBERT-style losses read: the mapped hidden states and attention scores of
        ``layer_maps.indices_from_map`` (keys ``hid_teacher``, ``attn_teacher``)."""
        return cls(tuple(indices["hid_teacher"]), tuple(indices["attn_teacher"]), feature, dtype)

    def covers(self, other: CacheSpec) -> bool:
        """True when a table stored with this spec answers every request of ``other``."""
        return (set(other.hidden) <= set(self.hidden) and set(other.attention) <= set(self.attention)
                and (self.feature or not other.feature) and self.dtype == other.dtype)


class LayerView(Sequence):
    """The teacher's per-layer list as the losses index it (``out.hidden_states[g]``), holding only the kept
    layers; ``len`` is the teacher's count, and reading a layer that was not kept raises HrkdError."""

    def __init__(self, kept: dict[int, Tensor], length: int, what: str) -> None:
        self.kept, self.length, self.what = kept, length, what

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            raise HrkdError(f"cached teacher {self.what} cannot be sliced; index single layers {sorted(self.kept)}")
        j = i + self.length if i < 0 else i
        if not 0 <= j < self.length:
            raise IndexError(i)
        if j not in self.kept:
            raise HrkdError(f"teacher {self.what}[{i}] is not cached; cached layers: {sorted(self.kept)} "
                            "(add it to the CacheSpec)")
        return self.kept[j]


@dataclass
class CachedOutput:
    """A teacher output read from the cache: ``logits`` (B, C), ``hidden_states`` / ``attention_scores`` as
    :class:`LayerView` (float32, (B, T, H) / (B, h, T, T)), ``feature`` (B, H) or None."""

    logits: Tensor
    hidden_states: LayerView
    attention_scores: LayerView
    feature: Tensor | None = None


@dataclass
class _Table:
    """One domain's rows: which are filled, their inputs (to detect changed inputs) and outputs."""

    spec: CacheSpec
    input_ids: Tensor  # (N, T) the encoded rows the table answers for
    filled: Tensor  # (N,) bool
    num_hidden: int = 0  # the teacher's L + 1
    num_attention: int = 0  # the teacher's L
    store: dict[str, Tensor] = field(default_factory=dict)

    @property
    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self.store.values())


_STORE: OrderedDict[str, _Table] = OrderedDict()  # least recently used first


def clear_teacher_cache() -> None:
    """Drop every cached table of this process (frees the memory)."""
    _STORE.clear()


def cache_bound_bytes() -> int:
    """The store's bound in bytes: ``$HRKD_TEACHER_CACHE_MB`` (default 2048)."""
    raw = os.environ.get("HRKD_TEACHER_CACHE_MB", str(DEFAULT_MAX_MB))
    try:
        mb = float(raw)
    except ValueError:
        raise HrkdError(f"HRKD_TEACHER_CACHE_MB={raw!r} is not a number of megabytes") from None
    return int(mb * 2**20)


def fingerprint(*tensors: Tensor) -> str:
    """A short hash of tensors' shapes, dtypes and bytes (the key of cached data)."""
    h = hashlib.blake2b(digest_size=12)
    for t in tensors:
        t = t.detach().cpu().contiguous()
        h.update(f"{tuple(t.shape)}{t.dtype}".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def module_fingerprint(model: nn.Module) -> str:
    """A hash of a model's weights and buffers: the same checkpoint gives the same key."""
    state = model.state_dict()
    return fingerprint(*(state[k] for k in sorted(state)))


class TeacherCache:
    """A frozen teacher with per-domain tables of its outputs on the training rows.

    Args:
        teacher: ``teacher(d, batch)`` -> ModelOutput (``.logits``, ``.hidden_states``, ``.attention_scores``)
            or ``(ModelOutput, feature (B, H))``; called under ``torch.no_grad``.
        spec: what to keep (:class:`CacheSpec`).
        inputs: per domain, the encoded training ``input_ids`` (N_d, T) the tables answer for.
        keys: per domain, what identifies domain d's teacher (e.g. ``module_fingerprint`` + head).
        enabled: False = the teacher runs live every time (``--no-teacher-cache``).
        max_bytes: bound of the process-wide store (default :func:`cache_bound_bytes`).

    ``cache(d, batch, idx)`` answers for rows ``idx`` of domain d's training split. ``stats`` counts
    ``teacher_calls`` (live forwards), ``rows_computed`` and ``rows_read``.
    """

    def __init__(self, teacher: TeacherFn, spec: CacheSpec, inputs: Sequence[Tensor], keys: Sequence[str],
                 enabled: bool = True, max_bytes: int | None = None) -> None:
        if spec.dtype not in DTYPES:
            raise HrkdError(f"cache dtype {spec.dtype!r}; valid choices: {', '.join(DTYPES)}")
        if len(inputs) != len(keys):
            raise HrkdError(f"{len(inputs)} input tables but {len(keys)} teacher keys")
        self.teacher, self.spec, self.enabled = teacher, spec, enabled
        self.max_bytes = cache_bound_bytes() if max_bytes is None else int(max_bytes)
        self.inputs = [x.detach().cpu() for x in inputs]
        self.keys = [f"{k}|{fingerprint(x)}" for k, x in zip(keys, self.inputs)]
        self.stats = {"teacher_calls": 0, "rows_computed": 0, "rows_read": 0, "live_batches": 0}
        self.disabled_reason: str | None = None if enabled else "switched off"

    # -- public ------------------------------------------------------------------------------------

    @torch.no_grad()
    def __call__(self, d: int, batch: dict[str, Tensor], idx: np.ndarray | Sequence[int] | Tensor
                 ) -> tuple[Any, Tensor | None]:
        """``(output, feature)`` for rows ``idx`` of domain d: a :class:`CachedOutput` read from the table,
        or the live teacher's output (feature None when the teacher gives none)."""
        rows = torch.as_tensor(np.asarray(idx, dtype=np.int64))
        if self.disabled_reason is not None or not self._same_inputs(d, batch, rows):
            self.stats["live_batches"] += 1
            return self._live(d, batch)
        table = self._table(d)
        if not bool(table.filled[rows].all()):
            live = self._fill(d, table, batch, rows)
            if self.disabled_reason is not None:  # the first fill found the cache over the bound
                self.stats["live_batches"] += 1
                return live
        self.stats["rows_read"] += int(rows.numel())
        out = self._read(table, rows, batch["input_ids"].device)
        return out, out.feature

    def bytes_needed(self, per_row: int) -> int:
        """Bytes of every domain's table at ``per_row`` bytes per training row."""
        return per_row * sum(int(x.shape[0]) for x in self.inputs)

    # -- internals ---------------------------------------------------------------------------------

    def _live(self, d: int, batch: dict[str, Tensor]) -> tuple[Any, Tensor | None]:
        self.stats["teacher_calls"] += 1
        out = self.teacher(d, batch)
        return out if isinstance(out, tuple) else (out, None)

    def _same_inputs(self, d: int, batch: dict[str, Tensor], rows: Tensor) -> bool:
        ids = batch["input_ids"]
        ref = self.inputs[d]
        if ids.shape[1:] != ref.shape[1:] or ids.shape[0] != rows.numel():
            return False
        return bool(torch.equal(ids.cpu(), ref.index_select(0, rows)))

    def _table(self, d: int) -> _Table:
        key = self.keys[d]
        table = _STORE.get(key)
        if table is None or not table.spec.covers(self.spec):
            n = self.inputs[d].shape[0]
            table = _Table(self.spec, self.inputs[d], torch.zeros(n, dtype=torch.bool))
            _STORE[key] = table
        _STORE.move_to_end(key)
        return table

    def _fill(self, d: int, table: _Table, batch: dict[str, Tensor], rows: Tensor
              ) -> tuple[Any, Tensor | None]:
        """Run the teacher on the whole batch and store its rows not yet stored (allocating on first use).

        The whole batch, not only the missing rows: every stored row is then computed in a batch of the
        training shape, exactly as a live call would compute it. Returns the live output."""
        out, feat = self._live(d, batch)
        if not table.store and not self._allocate(table, out, feat):
            return out, feat
        todo = ~table.filled[rows]
        pos, missing = torch.nonzero(todo).squeeze(1), rows[todo]  # a repeated row is written twice, same value
        s, sp = table.store, table.spec

        def put(name: str, j: int | None, value: Tensor) -> None:
            dest = s[name] if j is None else s[name][j]
            dest[missing] = value.detach().index_select(0, pos.to(value.device)).cpu().to(dest.dtype)

        put("logits", None, out.logits)
        for j, g in enumerate(sp.hidden):
            put("hidden", j, out.hidden_states[g])
        for j, g in enumerate(sp.attention):
            put("attention", j, out.attention_scores[g])
        if sp.feature:
            if feat is None:
                raise HrkdError("CacheSpec(feature=True) but the teacher returned no feature")
            put("feature", None, feat)
        table.filled[missing] = True
        self.stats["rows_computed"] += int(torch.unique(missing).numel())
        return out, feat

    def _allocate(self, table: _Table, out: Any, feat: Tensor | None) -> bool:
        """Allocate the table from the first output's shapes; False (cache off, warned) if over the bound."""
        sp, n = table.spec, table.input_ids.shape[0]
        dt = DTYPES[sp.dtype]
        shapes = {"logits": ((n, out.logits.shape[-1]), torch.float32)}
        if sp.hidden:
            shapes["hidden"] = ((len(sp.hidden), n, *out.hidden_states[0].shape[1:]), dt)
        if sp.attention:
            shapes["attention"] = ((len(sp.attention), n, *out.attention_scores[0].shape[1:]), dt)
        if sp.feature and feat is not None:
            shapes["feature"] = ((n, feat.shape[-1]), torch.float32)
        per_row = sum(int(np.prod(shape)) // n * torch.empty((), dtype=t).element_size()
                      for shape, t in shapes.values())
        need = self.bytes_needed(per_row)
        if need > self.max_bytes:
            self.disabled_reason = (f"teacher cache off: it needs {need / 2**20:.0f} MB for "
                                    f"{sum(x.shape[0] for x in self.inputs)} rows, over the bound of "
                                    f"{self.max_bytes / 2**20:.0f} MB (raise HRKD_TEACHER_CACHE_MB, or use "
                                    "dtype float16); the teacher runs live")
            warnings.warn(self.disabled_reason, stacklevel=4)
            return False
        self._evict_for(per_row * n, keep=table)
        table.num_hidden, table.num_attention = len(out.hidden_states), len(out.attention_scores)
        table.store = {k: torch.zeros(shape, dtype=t) for k, (shape, t) in shapes.items()}
        return True

    def _evict_for(self, nbytes: int, keep: _Table) -> None:
        """Drop least recently used tables (other than this cache's) until ``nbytes`` more fit."""
        mine = set(self.keys)
        for key in list(_STORE):
            if sum(t.nbytes for t in _STORE.values()) + nbytes <= self.max_bytes:
                return
            if key not in mine and _STORE[key] is not keep:
                del _STORE[key]

    def _read(self, table: _Table, rows: Tensor, device: torch.device) -> CachedOutput:
        s, sp = table.store, self.spec
        pos_h = {g: j for j, g in enumerate(table.spec.hidden)}
        pos_a = {g: j for j, g in enumerate(table.spec.attention)}

        def take(t: Tensor) -> Tensor:
            return t.index_select(0, rows).to(device=device, dtype=torch.float32)

        hidden = {g: take(s["hidden"][pos_h[g]]) for g in sp.hidden}
        attention = {g: take(s["attention"][pos_a[g]]) for g in sp.attention}
        feat = take(s["feature"]) if sp.feature else None
        return CachedOutput(take(s["logits"]), LayerView(hidden, table.num_hidden, "hidden_states"),
                            LayerView(attention, table.num_attention, "attention_scores"), feat)
