"""Record what the MetaGraph produced at every training step, for the plots of notebook 04.

Per recorded step (L = M + 1 layers, D domains, h GAT heads; a grouped step stores the mean over its
prototype groups — weights still sum to 1):

- ``weights`` (L, D): domain weights w_m (docs/methods/hrkd.md §2.4);
- ``ratios`` (L, D, L): hierarchical ratios over layers 0..m (§2.3 b; NaN without hierarchy);
- ``reference_attention`` (L, D, D): cross-domain attention A1 (§2.3 a; NaN at m = 0 / when unused);
- ``gat_attention`` (L, h, D, D) and ``gat_out_attention`` (L, D, D): the GATs' attention;
- ``layer_terms`` (L, D), ``pred_terms`` (D,): the unweighted loss terms the weights multiplied.

Snapshots (few steps only: the first and each epoch end, as the H-wide vectors are large):
``snap_steps`` (K,), ``snap_prototypes`` (K, L, D, H) = P, ``snap_features`` (K, L, D, H) = the GAT
inputs feat_m (group means), for the pictures of the method, and ``snap_weights_eval`` (K, L, D): the
same step's weights recomputed with the graph in eval mode (no dropout), to separate the graph's
deterministic output from its dropout noise. ``snap_groups_padding`` and ``snap_groups_masked``
(K, G, L, D, H): the step's prototypes per group, not averaged, over all positions (padding included) and
over real tokens only, so a notebook can recompute the graph's weights under either masking.

Saved as ``recorded.npz`` (arrays with a leading step axis S) + ``recorded.json`` (domains, meta).
The weights of a no-graph run are NaN (there is no graph); its loss terms are still recorded.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from torch import Tensor

from hrkd_lite.errors import HrkdError
from hrkd_lite.utils import atomic_write_bytes, atomic_write_json

ARRAYS = ("weights", "ratios", "reference_attention", "gat_attention", "gat_out_attention",
          "layer_terms", "pred_terms")
SNAPSHOTS = ("snap_steps", "snap_prototypes", "snap_features", "snap_weights_eval", "snap_groups_padding",
             "snap_groups_masked")
NPZ_NAME, JSON_NAME = "recorded.npz", "recorded.json"


@dataclass
class Recording:
    """Recorded arrays with a leading step axis S (see module docstring), plus ``steps`` (S,) optimiser
    steps (1-based), ``epochs`` (S,), ``domains`` and free-form ``meta`` (config, data, seed)."""

    steps: np.ndarray
    epochs: np.ndarray
    weights: np.ndarray
    ratios: np.ndarray
    reference_attention: np.ndarray
    gat_attention: np.ndarray
    gat_out_attention: np.ndarray
    layer_terms: np.ndarray
    pred_terms: np.ndarray
    domains: list[str]
    meta: dict = field(default_factory=dict)
    snap_steps: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    snap_prototypes: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 0, 0), dtype=np.float32))
    snap_features: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 0, 0), dtype=np.float32))
    snap_weights_eval: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 0), dtype=np.float32))
    snap_groups_padding: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 0, 0, 0), dtype=np.float32))
    snap_groups_masked: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 0, 0, 0), dtype=np.float32))

    @property
    def num_steps(self) -> int:
        return int(self.steps.shape[0])

    @property
    def num_layers(self) -> int:
        return int(self.weights.shape[1])

    def index_of(self, step: int) -> int:
        """Index of the recorded step closest to ``step`` (an optimiser step number)."""
        if self.num_steps == 0:
            raise HrkdError("the recording is empty (no training step was recorded)")
        return int(np.abs(self.steps - step).argmin())

    def save(self, run_dir: str | Path) -> Path:
        """Write ``recorded.npz`` and ``recorded.json`` atomically into ``run_dir``; returns the npz path."""
        run_dir = Path(run_dir)
        buf = io.BytesIO()
        np.savez_compressed(buf, steps=self.steps, epochs=self.epochs,
                            **{name: getattr(self, name) for name in (*ARRAYS, *SNAPSHOTS)})
        atomic_write_bytes(run_dir / NPZ_NAME, buf.getvalue())
        atomic_write_json(run_dir / JSON_NAME, {"domains": self.domains, "meta": self.meta,
                                                "num_steps": self.num_steps, "arrays": list(ARRAYS)})
        return run_dir / NPZ_NAME

    @classmethod
    def load(cls, run_dir: str | Path) -> Recording:
        """Read a recording written by :meth:`save` (HrkdError naming the folder if absent)."""
        run_dir = Path(run_dir)
        npz, js = run_dir / NPZ_NAME, run_dir / JSON_NAME
        if not npz.is_file() or not js.is_file():
            raise HrkdError(f"no HRKD recording in {run_dir} (expected {NPZ_NAME} and {JSON_NAME}; "
                            "run `python -m hrkd_lite run hrkd` first)")
        info = json.loads(js.read_text())
        with np.load(npz) as z:
            arrays = {k: z[k] for k in z.files}
        return cls(domains=list(info["domains"]), meta=info.get("meta", {}), **arrays)


class Recorder:
    """Collects one entry per recorded step; :meth:`to_recording` stacks them.

    Args:
        domains: domain names (D).
        num_layers: L = M + 1.
        num_heads: GAT heads h (for the NaN placeholders of a no-graph run).
        every: record every this many steps (``HRKDConfig.record_every``).
    """

    def __init__(self, domains: list[str], num_layers: int, num_heads: int = 8, every: int = 1) -> None:
        self.domains, self.num_layers, self.num_heads, self.every = list(domains), num_layers, num_heads, every
        self._rows: list[dict[str, np.ndarray]] = []
        self._snaps: list[tuple] = []

    def __len__(self) -> int:
        return len(self._rows)

    def wants(self, step: int) -> bool:
        """Whether optimiser step ``step`` (1-based) is recorded."""
        return step % self.every == 0

    def add(self, step: int, epoch: int, graph: dict[str, Tensor] | None, layer_terms: Tensor,
            pred_terms: Tensor) -> None:
        """Add one step. ``graph``: :meth:`GraphOutput.record` (leading G allowed) or None (no graph);
        ``layer_terms`` (G, L, D) or (L, D) and ``pred_terms`` (G, D) or (D,), the unweighted terms."""
        L, D = self.num_layers, len(self.domains)
        nan = {
            "weights": (L, D), "ratios": (L, D, L), "reference_attention": (L, D, D),
            "gat_attention": (L, self.num_heads, D, D), "gat_out_attention": (L, D, D),
        }
        row: dict[str, np.ndarray] = {"steps": np.asarray(step), "epochs": np.asarray(epoch)}
        for name, shape in nan.items():
            if graph is None:
                row[name] = np.full(shape, np.nan, dtype=np.float32)
                continue
            arr = graph[name].detach().float().cpu().numpy()
            if arr.ndim == len(shape) + 1:  # grouped: mean over groups
                arr = arr.mean(axis=0)
            if arr.shape != shape:
                raise HrkdError(f"recorded {name} has shape {arr.shape}, expected {shape}")
            row[name] = arr.astype(np.float32)
        lt = layer_terms.detach().float().cpu().numpy()
        pt = pred_terms.detach().float().cpu().numpy()
        row["layer_terms"] = (lt.mean(axis=0) if lt.ndim == 3 else lt).astype(np.float32)
        row["pred_terms"] = (pt.mean(axis=0) if pt.ndim == 2 else pt).astype(np.float32)
        self._rows.append(row)

    def add_snapshot(self, step: int, prototypes: Tensor, features: Tensor, weights_eval: Tensor,
                     groups: dict[str, Tensor] | None = None) -> None:
        """Keep P and feat_m (G, L, D, H) or (L, D, H), and the eval-mode weights (G, L, D) or (L, D) of
        one step (groups averaged); ``groups`` = ``{"padding": P, "masked": P}`` (G, L, D, H) each, the
        step's prototypes per group both ways (kept as they are)."""
        arrs = []
        for t, full in ((prototypes, 4), (features, 4), (weights_eval, 3)):
            a = t.detach().float().cpu().numpy()
            arrs.append(a.mean(axis=0) if a.ndim == full else a)
        kept = []
        for key in ("padding", "masked"):
            g = None if groups is None else groups[key].detach().float().cpu().numpy()
            kept.append(None if g is None else (g if g.ndim == 4 else g[None]))
        self._snaps.append((step, *arrs, *kept))

    def truncate(self, upto_step: int) -> None:
        """Drop entries after optimiser step ``upto_step`` (used when a run resumes)."""
        self._rows = [r for r in self._rows if int(r["steps"]) <= upto_step]
        self._snaps = [s for s in self._snaps if s[0] <= upto_step]

    def extend(self, rec: Recording) -> None:
        """Prepend the entries of an earlier recording (resume)."""
        rows = [{"steps": rec.steps[i], "epochs": rec.epochs[i], **{a: getattr(rec, a)[i] for a in ARRAYS}}
                for i in range(rec.num_steps)]
        self._rows = rows + self._rows
        has_groups = len(rec.snap_groups_padding) == len(rec.snap_steps) and len(rec.snap_steps) > 0
        snaps = [(int(rec.snap_steps[i]), rec.snap_prototypes[i], rec.snap_features[i], rec.snap_weights_eval[i],
                  rec.snap_groups_padding[i] if has_groups else None, rec.snap_groups_masked[i] if has_groups else None)
                 for i in range(len(rec.snap_steps))]
        self._snaps = snaps + self._snaps

    def to_recording(self, meta: dict | None = None) -> Recording:
        """Stack the entries into a :class:`Recording` (arrays with a leading step axis)."""
        L, D, h = self.num_layers, len(self.domains), self.num_heads
        empty = {"weights": (0, L, D), "ratios": (0, L, D, L), "reference_attention": (0, L, D, D),
                 "gat_attention": (0, L, h, D, D), "gat_out_attention": (0, L, D, D),
                 "layer_terms": (0, L, D), "pred_terms": (0, D)}
        if self._rows:
            arrays = {k: np.stack([r[k] for r in self._rows]) for k in ("steps", "epochs", *ARRAYS)}
        else:
            arrays = {"steps": np.zeros(0, dtype=np.int64), "epochs": np.zeros(0, dtype=np.int64),
                      **{k: np.zeros(s, dtype=np.float32) for k, s in empty.items()}}
        if self._snaps:
            arrays["snap_steps"] = np.asarray([s[0] for s in self._snaps], dtype=np.int64)
            arrays["snap_prototypes"] = np.stack([s[1] for s in self._snaps]).astype(np.float32)
            arrays["snap_features"] = np.stack([s[2] for s in self._snaps]).astype(np.float32)
            arrays["snap_weights_eval"] = np.stack([s[3] for s in self._snaps]).astype(np.float32)
            if all(s[4] is not None for s in self._snaps):
                arrays["snap_groups_padding"] = np.stack([s[4] for s in self._snaps]).astype(np.float32)
                arrays["snap_groups_masked"] = np.stack([s[5] for s in self._snaps]).astype(np.float32)
        return Recording(domains=self.domains, meta=dict(meta or {}), **arrays)
