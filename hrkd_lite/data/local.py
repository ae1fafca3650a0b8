"""Your own multi-domain data from local files.

Two layouts:

1. A folder with one sub-folder per domain, each holding ``train``, ``dev`` and ``test`` files
   (``.jsonl`` or ``.csv``)::

       mydata/books/train.jsonl   mydata/books/dev.jsonl   mydata/books/test.jsonl
       mydata/music/train.jsonl   ...

2. One ``.jsonl`` / ``.csv`` file with a ``domain`` column. Each domain is split 80/10/10 into
   train/dev/test, stratified by label and seeded; a ``split`` column (train/dev/test), when present,
   is used instead.

Fields: ``text`` (required), ``label`` (required: an int, or a label-name string), ``text_pair``
(optional; then every row needs it). Other fields are ignored. Label names come from a
``labels.json`` (a JSON list of names) in the folder / next to the file, else the sorted unique
string labels, else the ints ``0..max``.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import datasets
import numpy as np

from hrkd_lite.data.base import MultiDomainData, make_split
from hrkd_lite.errors import HrkdError

SPLIT_FILES = ("train", "dev", "test")
SUFFIXES = (".jsonl", ".csv")
SPLIT_ALIASES = {"train": "train", "dev": "dev", "validation": "dev", "valid": "dev", "val": "dev",
                 "test": "test"}

Row = dict[str, Any]


def read_jsonl(path: Path) -> list[tuple[int, Row]]:
    """Rows of a JSON-lines file as (line number, dict). Blank lines are skipped.

    HrkdError naming the file (and line) when it cannot be read or a line is not a JSON object.
    """
    try:
        lines = path.read_text(encoding="utf-8").split("\n")
    except (OSError, UnicodeDecodeError) as err:
        raise HrkdError(f"cannot read {path}: {err}") from err
    rows = []
    for no, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as err:
            raise HrkdError(f"malformed JSON in {path} line {no}: {err.msg}") from err
        if not isinstance(obj, dict):
            raise HrkdError(f"{path} line {no}: expected a JSON object, got {type(obj).__name__}")
        rows.append((no, obj))
    return rows


def read_csv(path: Path) -> list[tuple[int, Row]]:
    """Rows of a CSV file with a header line, as (line number, dict)."""
    try:
        with open(path, encoding="utf-8", newline="") as fh:
            reader = csv.DictReader(fh)
            rows = []
            for row in reader:
                if None in row:
                    raise HrkdError(f"malformed CSV in {path} line {reader.line_num}: more fields than the header")
                rows.append((reader.line_num, dict(row)))
            return rows
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise HrkdError(f"cannot read {path}: {err}") from err


def read_table(path: Path) -> list[tuple[int, Row]]:
    """Dispatch on the suffix (``.jsonl`` / ``.json`` lines, ``.csv``)."""
    if path.suffix in (".jsonl", ".json"):
        return read_jsonl(path)
    if path.suffix == ".csv":
        return read_csv(path)
    raise HrkdError(f"unsupported file type {path.suffix!r} ({path}); use .jsonl or .csv")


def _check_columns(path: Path, rows: list[tuple[int, Row]], need: Sequence[str]) -> None:
    for no, row in rows:
        lack = [c for c in need if c not in row or row[c] is None]
        if lack:
            raise HrkdError(f"{path} line {no}: missing column(s) {', '.join(lack)}; "
                            f"expected {', '.join(need)} (+ optional text_pair)")


def _as_int(raw: Any) -> int | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw
    if isinstance(raw, float) and raw.is_integer():
        return int(raw)
    if isinstance(raw, str) and raw.strip().lstrip("-").isdigit():
        return int(raw.strip())
    return None


def read_label_names(path: Path) -> list[str] | None:
    """Names from ``labels.json`` (a JSON list of strings), or None when the file is absent."""
    if not path.is_file():
        return None
    try:
        names = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise HrkdError(f"cannot read label names from {path}: {err}") from err
    if not isinstance(names, list) or len(names) < 2 or not all(isinstance(n, str) for n in names):
        raise HrkdError(f"{path} must hold a JSON list of at least two label-name strings")
    return names


class LabelMap:
    """Maps raw labels (ints, digit strings or names) to ints, and decides the label names."""

    def __init__(self, raw: list[Any], names: list[str] | None) -> None:
        self.names = names
        if names is None:
            strs = sorted({str(r) for r in raw if _as_int(r) is None})
            ints = [i for i in (_as_int(r) for r in raw) if i is not None]
            if strs and ints:
                raise HrkdError(f"label mismatch: both ints and names ({strs[:3]}) used as labels; "
                                f"use one kind or add a labels.json")
            self.names = strs if strs else [str(i) for i in range(max(ints, default=0) + 1)]
            if len(self.names) < 2:
                self.names = [str(i) for i in range(2)] if ints else self.names
        self.index = {n: i for i, n in enumerate(self.names)}

    def __call__(self, raw: Any, where: str) -> int:
        if isinstance(raw, str) and raw in self.index:
            return self.index[raw]
        as_int = _as_int(raw)
        if as_int is not None and 0 <= as_int < len(self.names):
            return as_int
        raise HrkdError(f"{where}: label {raw!r} not in the label names {self.names}")


def _stratified_order(labels: list[Any], rng: np.random.Generator) -> np.ndarray:
    """A permutation whose every prefix keeps class proportions (rank-in-class spread + jitter)."""
    lab = np.array([str(x) for x in labels])
    key = np.empty(len(lab))
    for c in np.unique(lab):
        idx = np.flatnonzero(lab == c)
        perm = rng.permutation(idx)
        key[perm] = (np.arange(len(perm)) + rng.random(len(perm))) / len(perm)
    return np.argsort(key, kind="stable")


def _build(rows: list[tuple[int, Row]], labels: LabelMap, where: str, has_pair: bool) -> datasets.Dataset:
    cols: dict[str, list] = {"text": [], "label": []}
    if has_pair:
        cols["text_pair"] = []
    for no, row in rows:
        cols["text"].append(str(row["text"]))
        cols["label"].append(labels(row["label"], f"{where} line {no}"))
        if has_pair:
            if row.get("text_pair") is None:
                raise HrkdError(f"{where} line {no}: missing column text_pair (other rows have it)")
            cols["text_pair"].append(str(row["text_pair"]))
    return make_split(cols)


def _check_domain_labels(raw_by_domain: dict[str, list[Any]]) -> None:
    """With string labels and no labels.json, every domain must use the same label names."""
    sets = {d: {str(r) for r in raws if _as_int(r) is None} for d, raws in raw_by_domain.items()}
    first = next(iter(sets))
    for d, s in sets.items():
        if s != sets[first]:
            raise HrkdError(f"label mismatch: domain {d!r} has labels {sorted(s)} but domain {first!r} has "
                            f"{sorted(sets[first])}; use the same names or add a labels.json listing them")


def _find_split_file(folder: Path, split: str) -> Path:
    for suf in SUFFIXES:
        if (folder / f"{split}{suf}").is_file():
            return folder / f"{split}{suf}"
    raise HrkdError(f"missing {split} file in {folder}: expected {split}.jsonl or {split}.csv")


def load_local(path: str | Path, *, seed: int = 0, domains: Sequence[str] | None = None,
               split: tuple[float, float, float] = (0.8, 0.1, 0.1)) -> MultiDomainData:
    """Load a local folder of per-domain splits, or one file with a ``domain`` column (see module doc)."""
    root = Path(path)
    if not root.exists():
        raise HrkdError(f"local data path {str(root)!r} not found; expected a folder "
                        f"<domain>/{{train,dev,test}}.jsonl or one .jsonl/.csv file with a domain column")
    if root.is_dir():
        return _load_folder(root, domains)
    return _load_file(root, seed, domains, split)


def _load_folder(root: Path, domains: Sequence[str] | None) -> MultiDomainData:
    found = sorted(p.name for p in root.iterdir()
                   if p.is_dir() and any((p / f"train{s}").is_file() for s in SUFFIXES))
    if not found:
        raise HrkdError(f"no domain folders in {root}: expected <domain>/train.jsonl, dev.jsonl, test.jsonl")
    names = list(domains) if domains is not None else found
    for d in names:
        if d not in found:
            raise HrkdError(f"unknown domain {d!r} in {root}; valid choices: {', '.join(found)}")
    tables = {}
    for d in names:
        for s in SPLIT_FILES:
            f = _find_split_file(root / d, s)
            rows = read_table(f)
            _check_columns(f, rows, ["text", "label"])
            tables[(d, s)] = (f, rows)
    label_names = read_label_names(root / "labels.json")
    raw = [r["label"] for _, rows in tables.values() for _, r in rows]
    if label_names is None:
        _check_domain_labels({d: [r["label"] for s in SPLIT_FILES for _, r in tables[(d, s)][1]]
                              for d in names})
    lmap = LabelMap(raw, label_names)
    has_pair = any("text_pair" in r for _, rows in tables.values() for _, r in rows)
    splits = {d: datasets.DatasetDict({s: _build(tables[(d, s)][1], lmap, str(tables[(d, s)][0]), has_pair)
                                       for s in SPLIT_FILES}) for d in names}
    return MultiDomainData(source="local", domains=names, label_names=list(lmap.names), splits=splits,
                           has_pair=has_pair, info={"path": str(root), "layout": "folder"})


def _load_file(path: Path, seed: int, domains: Sequence[str] | None,
               split: tuple[float, float, float]) -> MultiDomainData:
    rows = read_table(path)
    if not rows:
        raise HrkdError(f"{path} has no rows")
    _check_columns(path, rows, ["domain", "text", "label"])
    found = sorted({str(r["domain"]) for _, r in rows})
    names = list(domains) if domains is not None else found
    for d in names:
        if d not in found:
            raise HrkdError(f"unknown domain {d!r} in {path}; valid choices: {', '.join(found)}")
    by_dom = {d: [(no, r) for no, r in rows if str(r["domain"]) == d] for d in names}
    label_names = read_label_names(path.parent / "labels.json")
    if label_names is None:
        _check_domain_labels({d: [r["label"] for _, r in rs] for d, rs in by_dom.items()})
    lmap = LabelMap([r["label"] for _, rs in by_dom.items() for _, r in rs], label_names)
    has_pair = any("text_pair" in r for _, r in rows)
    use_split_col = all("split" in r for _, r in rows)
    splits = {}
    for di, d in enumerate(names):
        rs = by_dom[d]
        if use_split_col:
            parts: dict[str, list] = {s: [] for s in SPLIT_FILES}
            for no, r in rs:
                key = SPLIT_ALIASES.get(str(r["split"]).strip().lower())
                if key is None:
                    raise HrkdError(f"{path} line {no}: unknown split {r['split']!r}; valid: train, dev, test")
                parts[key].append((no, r))
        else:
            order = _stratified_order([r["label"] for _, r in rs], np.random.default_rng((seed, di)))
            n_tr = int(round(split[0] * len(rs)))
            n_dev = int(round(split[1] * len(rs)))
            cuts = [0, n_tr, n_tr + n_dev, len(rs)]
            parts = {s: [rs[i] for i in sorted(order[lo:hi])]
                     for s, lo, hi in zip(SPLIT_FILES, cuts[:-1], cuts[1:])}
        splits[d] = datasets.DatasetDict({s: _build(parts[s], lmap, str(path), has_pair) for s in SPLIT_FILES})
    info = {"path": str(path), "layout": "file", "split": "column" if use_split_col else f"{split}, seed {seed}"}
    return MultiDomainData(source="local", domains=names, label_names=list(lmap.names), splits=splits,
                           has_pair=has_pair, info=info)
