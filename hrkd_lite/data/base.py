"""The one container every data source returns: :class:`MultiDomainData`.

A multi-domain dataset is D domains that share one label set. Each domain has its own
``train`` / ``dev`` / ``test`` splits (a :class:`datasets.DatasetDict`) with the columns

- ``text`` (str), ``label`` (int in ``0..C-1``, indexing ``label_names``),
- ``text_pair`` (str) only when ``has_pair`` (MNLI: premise / hypothesis),
- any extras a source wants to keep (synthetic: ``transferable_share``, ``cue_kinds`` ...).

Every method that changes the data returns a new object; nothing is modified in place. Row order is
kept by all selections (subsampling keeps the selected rows in their original order), which matters
for recipes defined "in file order" (HRKD's MNLI split, the fixed-order fit domain of the sampler).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import datasets
import numpy as np

from hrkd_lite.errors import HrkdError, check_choice

SPLITS: tuple[str, ...] = ("train", "dev", "test")
#: ``few_shot(mode=...)``: the HRKD code's file-order prefix (default) or a stratified random subset.
FEW_SHOT_MODES: tuple[str, ...] = ("prefix", "stratified")


def make_split(columns: dict[str, Sequence[Any]]) -> datasets.Dataset:
    """Build one split from column lists; ``label`` is stored as int64.

    An empty split keeps its columns (string ``text``, int ``label``) so that it can be validated.
    """
    cols = {k: list(v) for k, v in columns.items()}
    if "label" in cols:
        cols["label"] = [int(x) for x in cols["label"]]
    if cols and all(len(v) == 0 for v in cols.values()):
        feats = {k: datasets.Value("int64" if k == "label" else "string") for k in cols}
        return datasets.Dataset.from_dict(cols, features=datasets.Features(feats))
    return datasets.Dataset.from_dict(cols)


def prefix_size(fraction: float, n: int) -> int:
    """Rows kept by the ``"prefix"`` few-shot rule: ``max(1, ⌊fraction·n⌋)`` (exact for decimal fractions:
    ``0.29·100`` keeps 29 rows although the float product is 28.999...)."""
    return max(1, min(n, math.floor(round(fraction * n, 9))))


def labels_of(ds: datasets.Dataset) -> np.ndarray:
    """The ``label`` column as an int64 array, shape (N,)."""
    if len(ds) == 0:
        return np.zeros(0, dtype=np.int64)
    return np.asarray(ds["label"], dtype=np.int64)


def stratified_indices(labels: np.ndarray, n: int, rng: np.random.Generator,
                       min_per_class: int = 0) -> np.ndarray:
    """Choose ``n`` row indices with class proportions kept (largest remainder), sorted ascending.

    Each class present gets at least ``min_per_class`` rows (when it has them), so ``n`` may be
    exceeded by at most the number of classes in that case.
    """
    total = len(labels)
    if n >= total:
        return np.arange(total)
    classes, counts = np.unique(labels, return_counts=True)
    exact = counts * (n / total)
    take = np.floor(exact).astype(int)
    rest = n - int(take.sum())
    if rest > 0:
        order = np.argsort(-(exact - take), kind="stable")
        take[order[:rest]] += 1
    take = np.minimum(np.maximum(take, np.minimum(min_per_class, counts)), counts)
    chosen = [rng.permutation(np.flatnonzero(labels == c))[:k] for c, k in zip(classes, take)]
    return np.sort(np.concatenate(chosen)) if chosen else np.zeros(0, dtype=np.int64)


@dataclass
class MultiDomainData:
    """D domains, one label set, per-domain train/dev/test splits.

    Attributes:
        source: where it came from (``synthetic``, ``amazon``, ``mnli``, ``local``).
        domains: domain names in domain-id order (domain id = position in this list).
        label_names: class names; ``label`` ints index this list.
        splits: domain name -> DatasetDict with keys ``train``, ``dev``, ``test``.
        has_pair: whether examples are sentence pairs (``text_pair`` column).
        similarity: ground-truth (D, D) domain similarity (synthetic data only), else None.
        info: free-form provenance (split recipe, generator settings, lexicons ...).
    """

    source: str
    domains: list[str]
    label_names: list[str]
    splits: dict[str, datasets.DatasetDict]
    has_pair: bool = False
    similarity: np.ndarray | None = None
    info: dict[str, Any] = field(default_factory=dict)

    # ------------------------------------------------------------------ lookups
    @property
    def num_domains(self) -> int:
        return len(self.domains)

    @property
    def num_labels(self) -> int:
        return len(self.label_names)

    def domain_index(self, name: str | int) -> int:
        """Domain id of ``name`` (an int is checked and returned). HrkdError for an unknown domain."""
        if isinstance(name, (int, np.integer)) and not isinstance(name, bool):
            if 0 <= int(name) < len(self.domains):
                return int(name)
            raise HrkdError(f"unknown domain index {name}; valid: 0..{len(self.domains) - 1} "
                            f"({', '.join(self.domains)})")
        check_choice("domain", name, self.domains)
        return self.domains.index(name)

    def split(self, domain: str | int, name: str) -> datasets.Dataset:
        """One split of one domain, e.g. ``data.split("books", "train")``."""
        dom = self.domains[self.domain_index(domain)]
        check_choice("split", name, SPLITS)
        return self.splits[dom][name]

    def sizes(self, name: str = "train") -> list[int]:
        """Per-domain sizes of one split, in domain order (what the sampler takes)."""
        check_choice("split", name, SPLITS)
        return [len(self.splits[d][name]) for d in self.domains]

    # ------------------------------------------------------------------ report
    def describe(self) -> str:
        """A plain-text table: per domain, split sizes and the label balance of each split."""
        short = [n[:3] for n in self.label_names]
        head = f"{'domain':<14}" + "".join(f"{s:>7}" for s in SPLITS) + "   label balance (train | dev | test)"
        lines = [f"{self.source}: {self.num_domains} domains, labels {self.label_names}"
                 f"{', sentence pairs' if self.has_pair else ''}", head, "-" * len(head)]
        for dom in self.domains:
            dd = self.splits[dom]
            sizes = "".join(f"{len(dd[s]):>7}" for s in SPLITS)
            bals = []
            for s in SPLITS:
                lab = labels_of(dd[s])
                if len(lab) == 0:
                    bals.append("-")
                    continue
                frac = np.bincount(lab, minlength=self.num_labels)[: self.num_labels] / len(lab)
                bals.append(" ".join(f"{n}:{f:.2f}" for n, f in zip(short, frac)))
            lines.append(f"{dom:<14}{sizes}   " + " | ".join(bals))
        tot = "".join(f"{sum(len(self.splits[d][s]) for d in self.domains):>7}" for s in SPLITS)
        lines.append(f"{'total':<14}{tot}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        sizes = {d: tuple(len(self.splits[d][s]) for s in SPLITS) for d in self.domains}
        return (f"MultiDomainData(source={self.source!r}, labels={self.label_names}, "
                f"has_pair={self.has_pair}, sizes(train,dev,test)={sizes})")

    # ------------------------------------------------------------------ transforms
    def _with_splits(self, splits: dict[str, datasets.DatasetDict], **changes: Any) -> MultiDomainData:
        return replace(self, splits=splits, info=dict(self.info), **changes)

    def subsample(self, train: int | None = None, dev: int | None = None, test: int | None = None,
                  seed: int = 0) -> MultiDomainData:
        """Cap each domain's splits at the given sizes (None = keep all).

        Rows are drawn stratified by label (largest-remainder class counts) with a generator seeded
        from ``(seed, domain id, split id)``, then kept in their original order: deterministic.
        """
        caps = {"train": train, "dev": dev, "test": test}
        for s, c in caps.items():
            if c is not None and c < 1:
                raise HrkdError(f"subsample size for {s} must be >= 1, got {c}")
        out: dict[str, datasets.DatasetDict] = {}
        for di, dom in enumerate(self.domains):
            parts = {}
            for si, s in enumerate(SPLITS):
                ds = self.splits[dom][s]
                cap = caps[s]
                if cap is None or cap >= len(ds):
                    parts[s] = ds
                    continue
                rng = np.random.default_rng((seed, di, si))
                parts[s] = ds.select(stratified_indices(labels_of(ds), cap, rng).tolist())
            out[dom] = datasets.DatasetDict(parts)
        return self._with_splits(out)

    def few_shot(self, fraction: float, seed: int = 0, domains: Iterable[str] | None = None,
                 mode: str = "prefix") -> MultiDomainData:
        """Keep a ``fraction`` of each domain's TRAIN split; dev and test are untouched.

        ``mode`` (the ``few_shot_mode`` switch):

        - ``"prefix"`` (default, the HRKD reference code's rule, ``docs/methods/hrkd.md`` §1.3): the first
          ``⌊f·N⌋`` rows of the train split in row (file) order, at least one. The HRKD scripts pass
          ``train_ratio = 0.9·f`` and keep the first ``⌊0.9·f·n⌋`` rows of each domain's n-row training file,
          whose first ``⌊0.9·n⌋`` rows are the full train split: the same rows up to one at the boundary.
          The dev split (the file's last 10 %) does not change with f; the train rows past the prefix are
          simply not used. No stratification: a prefix keeps whatever label mix the file order gives
          (``seed`` is unused).
        - ``"stratified"`` (our alternative): a stratified random subset of ``round(f·N)`` rows drawn with
          ``(seed, domain id)``, kept in row order; each class keeps at least one example.

        ``domains`` limits the reduction to those domains (e.g. the target domain of a few-shot curve);
        default all. ``fraction`` must be in (0, 1].
        """
        if not isinstance(fraction, (int, float)) or not 0.0 < float(fraction) <= 1.0:
            raise HrkdError(f"few-shot fraction must be in (0, 1], got {fraction!r}")
        check_choice("few_shot_mode", mode, FEW_SHOT_MODES)
        chosen = set(self.domains if domains is None else domains)
        for d in chosen:
            check_choice("domain", d, self.domains)
        out: dict[str, datasets.DatasetDict] = {}
        for di, dom in enumerate(self.domains):
            dd = self.splits[dom]
            if dom not in chosen or fraction >= 1.0:
                out[dom] = dd
                continue
            lab = labels_of(dd["train"])
            if mode == "prefix":
                idx = np.arange(prefix_size(fraction, len(lab)))
            else:
                n = max(1, int(round(fraction * len(lab))))
                rng = np.random.default_rng((seed, di, 1000))
                idx = stratified_indices(lab, n, rng, min_per_class=1)
            out[dom] = datasets.DatasetDict({"train": dd["train"].select(idx.tolist()),
                                             "dev": dd["dev"], "test": dd["test"]})
        new = self._with_splits(out)
        new.info["few_shot"] = {"fraction": float(fraction), "seed": seed, "domains": sorted(chosen),
                                "mode": mode}
        return new

    def select_domains(self, names: Iterable[str]) -> MultiDomainData:
        """Keep only ``names``, in that order (domain ids are renumbered; similarity is sliced)."""
        names = list(names)
        if not names:
            raise HrkdError(f"select_domains needs at least one domain; valid: {', '.join(self.domains)}")
        idx = [self.domain_index(n) for n in names]
        if len(set(idx)) != len(idx):
            raise HrkdError(f"duplicate domain in {names}")
        sim = None if self.similarity is None else self.similarity[np.ix_(idx, idx)].copy()
        return self._with_splits({n: self.splits[n] for n in names}, domains=names, similarity=sim)

    # ------------------------------------------------------------------ checks
    def validate(self) -> MultiDomainData:
        """Check the contract; return self. HrkdError on the first problem found.

        Checks: every domain has non-empty train/dev/test with ``text`` and ``label`` columns
        (``text_pair`` when ``has_pair``); labels lie in ``0..C-1``; all domains share the label set
        (a domain's ``info['label_names'][dom]``, when recorded by a loader, must equal ``label_names``);
        ``similarity`` (if any) is (D, D).
        """
        if not self.domains:
            raise HrkdError(f"{self.source}: no domains")
        if len(self.label_names) < 2:
            raise HrkdError(f"{self.source}: need at least 2 label names, got {self.label_names}")
        missing = [d for d in self.domains if d not in self.splits]
        if missing:
            raise HrkdError(f"{self.source}: no splits for domain(s) {missing}")
        per_dom_names = self.info.get("label_names_per_domain", {})
        for dom in self.domains:
            if dom in per_dom_names and list(per_dom_names[dom]) != list(self.label_names):
                raise HrkdError(f"{self.source}: label names of domain {dom!r} {per_dom_names[dom]} "
                                f"differ from {self.label_names}")
            for s in SPLITS:
                if s not in self.splits[dom]:
                    raise HrkdError(f"{self.source}: domain {dom!r} has no {s!r} split")
                ds = self.splits[dom][s]
                if len(ds) == 0:
                    raise HrkdError(f"{self.source}: split {s!r} of domain {dom!r} is empty")
                need = ["text", "label"] + (["text_pair"] if self.has_pair else [])
                lack = [c for c in need if c not in ds.column_names]
                if lack:
                    raise HrkdError(f"{self.source}: split {s!r} of domain {dom!r} lacks column(s) "
                                    f"{lack}; has {ds.column_names}")
                lab = labels_of(ds)
                bad = lab[(lab < 0) | (lab >= self.num_labels)]
                if len(bad):
                    raise HrkdError(f"{self.source}: split {s!r} of domain {dom!r} has label {int(bad[0])} "
                                    f"outside 0..{self.num_labels - 1} ({self.label_names})")
        if self.similarity is not None and self.similarity.shape != (self.num_domains, self.num_domains):
            raise HrkdError(f"similarity has shape {self.similarity.shape}, expected "
                            f"({self.num_domains}, {self.num_domains})")
        return self
