"""MNLI by genre, HRKD's recipe (``docs/methods/hrkd.md`` §1.1, ``docs/methods/background.md`` §1.2).

Domains (genres, in domain-id order): fiction, government, slate, telephone, travel. Labels in the hub
order ``["entailment", "neutral", "contradiction"]`` (HRKD used GLUE's order; we keep the hub's, one
order everywhere). Pairs: ``text`` = premise, ``text_pair`` = hypothesis.

Recipe: per genre, train = the first ``int(0.9 * n)`` rows of the training split in file order,
dev = the rest; test = ``validation_matched`` rows of that genre. Whether the hub split keeps GLUE's
``train.tsv`` row order is not established (noted in ``info``).

Sources: the hub (``datasets.load_dataset("nyu-mll/multi_nli")``; GPU/Colab profiles, needs network),
or a local folder with ``train.jsonl`` and ``validation_matched.jsonl`` in the hub schema (fields
``premise``, ``hypothesis``, ``label`` (int or name), ``genre``; others ignored). Rows with label -1
(no gold label) are dropped.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import datasets
import numpy as np

from hrkd_lite.data.base import MultiDomainData, make_split
from hrkd_lite.data.local import read_jsonl
from hrkd_lite.errors import HrkdError

GENRES: tuple[str, ...] = ("fiction", "government", "slate", "telephone", "travel")
LABEL_NAMES = ["entailment", "neutral", "contradiction"]
HUB_NAME = "nyu-mll/multi_nli"
FIELDS = ("premise", "hypothesis", "label", "genre")
LOCAL_FILES = {"train": "train.jsonl", "test": "validation_matched.jsonl"}


def _label_id(raw: object, where: str) -> int:
    if isinstance(raw, str):
        if raw in LABEL_NAMES:
            return LABEL_NAMES.index(raw)
        if raw.strip().lstrip("-").isdigit():
            raw = int(raw)
        else:
            raise HrkdError(f"{where}: unknown MNLI label {raw!r}; valid: {', '.join(LABEL_NAMES)} or 0..2")
    if isinstance(raw, (int, np.integer)) and not isinstance(raw, bool) and -1 <= int(raw) <= 2:
        return int(raw)
    raise HrkdError(f"{where}: unknown MNLI label {raw!r}; valid: {', '.join(LABEL_NAMES)} or 0..2")


def _columns_from_jsonl(path: Path) -> dict[str, list]:
    """premise/hypothesis/label/genre columns of a local jsonl file (labels as ints, -1 kept)."""
    if not path.is_file():
        raise HrkdError(f"missing MNLI file {path}; expected {', '.join(LOCAL_FILES.values())} "
                        f"(hub schema: {', '.join(FIELDS)})")
    cols: dict[str, list] = {f: [] for f in FIELDS}
    for no, row in read_jsonl(path):
        lack = [f for f in FIELDS if f not in row]
        if lack:
            raise HrkdError(f"{path} line {no}: missing field(s) {', '.join(lack)}; expected {', '.join(FIELDS)}")
        for f in ("premise", "hypothesis", "genre"):
            cols[f].append(str(row[f]))
        cols["label"].append(_label_id(row["label"], f"{path} line {no}"))
    return cols


def _columns_from_hub(split: datasets.Dataset) -> dict[str, list]:
    """The same columns from a hub split (checks the hub's label order)."""
    feat = split.features.get("label")
    names = getattr(feat, "names", None)
    if names is not None and list(names) != LABEL_NAMES:
        raise HrkdError(f"{HUB_NAME} label order {names} differs from the expected {LABEL_NAMES}")
    return {f: list(split[f]) for f in FIELDS}


def _take(cols: dict[str, list], rows: np.ndarray) -> datasets.Dataset:
    """Rows ``rows`` of premise/hypothesis/label columns as a split (text, text_pair, label)."""
    return make_split({"text": [cols["premise"][i] for i in rows],
                       "text_pair": [cols["hypothesis"][i] for i in rows],
                       "label": [cols["label"][i] for i in rows]})


def genre_splits(train: dict[str, list], test: dict[str, list], genres: Sequence[str],
                 dev_fraction: float = 0.1) -> dict[str, datasets.DatasetDict]:
    """HRKD recipe on column dicts: per genre, first ``int((1-dev_fraction) * n)`` train rows in file
    order -> train, the rest -> dev; test rows of the genre -> test. Rows with label -1 are dropped
    before the cut.
    """
    out = {}
    tr_genre, te_genre = np.asarray(train["genre"]), np.asarray(test["genre"])
    tr_ok, te_ok = np.asarray(train["label"]) >= 0, np.asarray(test["label"]) >= 0
    dropped = int((~tr_ok).sum() + (~te_ok).sum())
    if dropped:
        warnings.warn(f"MNLI: dropped {dropped} rows without a gold label (-1)", stacklevel=3)
    for g in genres:
        idx = np.flatnonzero((tr_genre == g) & tr_ok)
        n_train = int((1.0 - dev_fraction) * len(idx))
        parts = {"train": idx[:n_train], "dev": idx[n_train:]}
        te_idx = np.flatnonzero((te_genre == g) & te_ok)
        out[g] = datasets.DatasetDict({"train": _take(train, parts["train"]), "dev": _take(train, parts["dev"]),
                                       "test": _take(test, te_idx)})
    return out


def load_mnli(data_dir: str | Path | None = None, *, domains: Sequence[str] | None = None,
              dev_fraction: float = 0.1) -> MultiDomainData:
    """Load MNLI by genre with HRKD's split.

    Args:
        data_dir: a folder with ``train.jsonl`` and ``validation_matched.jsonl`` (hub schema); None loads
            ``nyu-mll/multi_nli`` from the hub (network; GPU profiles).
        domains: genres to keep, in order (default all five).
        dev_fraction: share of each genre's training rows (the tail, in file order) used as dev.
    """
    names = list(domains) if domains is not None else list(GENRES)
    for g in names:
        if g not in GENRES:
            raise HrkdError(f"unknown MNLI genre {g!r}; valid choices: {', '.join(GENRES)}")
    if data_dir is None:
        try:
            hub = datasets.load_dataset(HUB_NAME)
        except Exception as err:  # offline, no cache, hub error: one actionable line
            raise HrkdError(f"cannot load {HUB_NAME} from the hub ({type(err).__name__}: {err}); MNLI needs "
                            f"network (Colab) or a local folder with train.jsonl and validation_matched.jsonl"
                            ) from err
        train, test = _columns_from_hub(hub["train"]), _columns_from_hub(hub["validation_matched"])
        where = HUB_NAME
    else:
        root = Path(data_dir)
        if not root.is_dir():
            raise HrkdError(f"MNLI folder {str(root)!r} not found; expected train.jsonl and "
                            f"validation_matched.jsonl with fields {', '.join(FIELDS)}")
        train = _columns_from_jsonl(root / LOCAL_FILES["train"])
        test = _columns_from_jsonl(root / LOCAL_FILES["test"])
        where = str(root)
    splits = genre_splits(train, test, names, dev_fraction=dev_fraction)
    info = {"path": where, "split": "hrkd: per genre first int(0.9 n) train rows in file order, rest dev; "
                                    "test = validation_matched",
            "note": "hub row order vs GLUE train.tsv not verified"}
    return MultiDomainData(source="mnli", domains=names, label_names=list(LABEL_NAMES), splits=splits,
                           has_pair=True, similarity=None, info=info)
