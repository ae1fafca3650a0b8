"""The batch sampler of every training loop: HRKD's multi-domain order, and the references' per-epoch
reshuffling for single-domain and pooled runs (``docs/methods/hrkd.md`` §3, switch ``sampler``;
``docs/methods/meta_kd.md``, recipe).

In ``"hrkd"`` and ``"shuffle"`` mode every step draws one block of ``batch_size`` indices from EVERY domain.

``mode="hrkd"`` (the reference code's semantics):

- The *fit domain* (default: the largest) sets the epoch length:
  ``steps_per_epoch = ceil(sizes[fit] / batch_size)``.
- Fit domain: consecutive blocks in a FIXED order, identical in every epoch (never shuffled).
  Its last block **wraps around** to the start so every block is full (positions taken modulo the
  domain size); we chose wrapping (as the reference's "last wraps") over a short last block.
- Other domains: ``steps_per_epoch * batch_size`` positions cut into consecutive blocks, positions
  taken modulo the domain size (a smaller domain wraps; a larger one is *truncated*: rows past
  that count are never seen — pick the largest domain as fit domain). The ORDER of the blocks is
  shuffled per epoch with ``np.random.default_rng((seed, epoch))``; the content of each block is fixed.

``mode="shuffle"``: every domain (fit domain included) is reshuffled per epoch; when an epoch needs more
positions than the domain has, further fresh permutations are appended (wrap with reshuffle).

``mode="reshuffle"`` (what ``"auto"`` picks for ONE domain): a PyTorch ``DataLoader(shuffle=True,
drop_last=False)`` — the fit domain is one fresh permutation per epoch, cut into consecutive blocks, the
last block SHORT (``sizes[fit] % batch_size`` rows when that is not 0), so every row is seen exactly once
per epoch in a new order. This is how the single-domain reference scripts iterate (HRKD's single-domain
teacher and TinyBERT-KD baseline, Meta-KD's students and its single / mix teachers); HRKD's fixed order is
a property of its *multi-domain* sampler only. Other domains (if any) follow a reshuffled stream cut to the
same block lengths.

``mode="pooled"``: all domains pooled into one dataset (row ``(d, i)``), one permutation of the pool per
epoch, consecutive blocks of ``batch_size`` rows, the last one short: ``ceil(sum(sizes) / batch_size)``
steps, and a step holds, per domain, the indices of that domain's rows in the block (possibly none). This is
the references' *mixed-domain* loader (Meta-KD's meta-teacher and BERT_B-mix: 32 examples per step drawn
from all domains together), as opposed to HRKD's one block per domain.

``mode="auto"`` (the default): ``"reshuffle"`` for one domain, ``"hrkd"`` for several.

Everything is a pure function of ``(sizes, batch_size, seed, fit_domain, mode, epoch)``, so a resumed
run can rebuild an epoch and skip to its step (:meth:`MultiDomainSampler.step`).
"""

from __future__ import annotations

import math

import numpy as np

from hrkd_lite.errors import HrkdError, check_choice

MODES = ("auto", "hrkd", "shuffle", "reshuffle", "pooled")


def resolve_mode(mode: str, num_domains: int) -> str:
    """``"auto"`` -> ``"reshuffle"`` for one domain, ``"hrkd"`` for several; any other mode unchanged."""
    check_choice("sampler mode", mode, MODES)
    if mode != "auto":
        return mode
    return "reshuffle" if num_domains == 1 else "hrkd"


class MultiDomainSampler:
    """Per step, per domain, an index array of length ``batch_size``.

    Args:
        sizes: number of training examples per domain (all >= 1).
        batch_size: examples per domain per step.
        seed: base seed; epoch e uses ``np.random.default_rng((seed, e))``.
        fit_domain: domain id that sets the epoch length (default: the largest, first on ties; unused
            by ``"pooled"``).
        mode: ``"auto"`` (``"reshuffle"`` for one domain, else ``"hrkd"``), ``"hrkd"`` (fixed fit order,
            block-shuffled others), ``"shuffle"``, ``"reshuffle"`` or ``"pooled"`` (see the module text).
            The resolved mode is ``self.mode``.
    """

    def __init__(self, sizes: list[int], batch_size: int, seed: int = 0, fit_domain: int | None = None,
                 mode: str = "auto") -> None:
        self.sizes = [int(s) for s in sizes]
        if not self.sizes or min(self.sizes) < 1:
            raise HrkdError(f"every domain needs at least one training example, got sizes {self.sizes}")
        if batch_size < 1:
            raise HrkdError(f"batch_size must be >= 1, got {batch_size}")
        if seed < 0:
            raise HrkdError(f"seed must be >= 0, got {seed}")
        check_choice("sampler mode", mode, MODES)
        self.mode = resolve_mode(mode, len(self.sizes))
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        if fit_domain is None:
            fit_domain = int(np.argmax(self.sizes))
        if not 0 <= fit_domain < len(self.sizes):
            raise HrkdError(f"fit_domain {fit_domain} out of range 0..{len(self.sizes) - 1}")
        self.fit_domain = int(fit_domain)
        rows = sum(self.sizes) if self.mode == "pooled" else self.sizes[self.fit_domain]
        self.steps_per_epoch = math.ceil(rows / self.batch_size)

    @property
    def num_domains(self) -> int:
        return len(self.sizes)

    def __len__(self) -> int:
        return self.steps_per_epoch

    def _blocks(self, size: int) -> np.ndarray:
        """(steps, batch) positions 0.. steps*batch-1 modulo ``size``: consecutive wrapping blocks."""
        pos = np.arange(self.steps_per_epoch * self.batch_size) % size
        return pos.reshape(self.steps_per_epoch, self.batch_size)

    def _shuffled_stream(self, size: int, rng: np.random.Generator) -> np.ndarray:
        need = self.steps_per_epoch * self.batch_size
        perms = [rng.permutation(size) for _ in range(math.ceil(need / size))]
        return np.concatenate(perms)[:need].reshape(self.steps_per_epoch, self.batch_size)

    def _block_bounds(self, rows: int) -> list[tuple[int, int]]:
        """(start, stop) of each step's block over ``rows`` positions: full blocks, the last one short."""
        return [(s * self.batch_size, min(rows, (s + 1) * self.batch_size)) for s in range(self.steps_per_epoch)]

    def _reshuffled(self, rng: np.random.Generator) -> list[list[np.ndarray]]:
        bounds = self._block_bounds(self.sizes[self.fit_domain])
        need = bounds[-1][1]
        streams = []
        for d, size in enumerate(self.sizes):
            perm = rng.permutation(size)
            if d != self.fit_domain and size < need:
                perm = np.concatenate([perm, *[rng.permutation(size) for _ in range(math.ceil(need / size) - 1)]])
            streams.append(perm)
        return [[streams[d][a:b].astype(np.int64) for d in range(self.num_domains)] for a, b in bounds]

    def _pooled(self, rng: np.random.Generator) -> list[list[np.ndarray]]:
        owner = np.concatenate([np.full(n, d, dtype=np.int64) for d, n in enumerate(self.sizes)])
        local = np.concatenate([np.arange(n, dtype=np.int64) for n in self.sizes])
        order = rng.permutation(len(owner))
        out = []
        for a, b in self._block_bounds(len(owner)):
            rows = order[a:b]
            out.append([local[rows[owner[rows] == d]] for d in range(self.num_domains)])
        return out

    def epoch(self, e: int) -> list[list[np.ndarray]]:
        """Indices of epoch ``e``: ``result[step][domain]`` is an int64 array.

        Its length is ``batch_size`` in ``"hrkd"`` / ``"shuffle"`` mode; in ``"reshuffle"`` mode the last
        step is shorter when the fit domain's size is not a multiple of ``batch_size``; in ``"pooled"`` mode
        the lengths of one step sum to ``batch_size`` (less on the last step) and may be 0 for a domain.
        """
        if e < 0:
            raise HrkdError(f"epoch must be >= 0, got {e}")
        rng = np.random.default_rng((self.seed, int(e)))
        if self.mode == "reshuffle":
            return self._reshuffled(rng)
        if self.mode == "pooled":
            return self._pooled(rng)
        per_domain = []
        for d, size in enumerate(self.sizes):
            if self.mode == "shuffle":
                per_domain.append(self._shuffled_stream(size, rng))
            elif d == self.fit_domain:
                per_domain.append(self._blocks(size))
            else:
                per_domain.append(self._blocks(size)[rng.permutation(self.steps_per_epoch)])
        return [[per_domain[d][s].astype(np.int64) for d in range(self.num_domains)]
                for s in range(self.steps_per_epoch)]

    def step(self, e: int, s: int) -> list[np.ndarray]:
        """Indices of step ``s`` of epoch ``e`` (for resuming mid-epoch)."""
        if not 0 <= s < self.steps_per_epoch:
            raise HrkdError(f"step {s} out of range 0..{self.steps_per_epoch - 1}")
        return self.epoch(e)[s]

    def __repr__(self) -> str:
        return (f"MultiDomainSampler(sizes={self.sizes}, batch_size={self.batch_size}, seed={self.seed}, "
                f"fit_domain={self.fit_domain}, mode={self.mode!r}, steps_per_epoch={self.steps_per_epoch})")
