"""Amazon multi-domain sentiment (Blitzer et al. 2007, balanced ``sorted_data_acl``), HRKD split.

Layout expected: ``<dir>/<domain>/{positive,negative}.review`` for the domains books, dvd,
electronics, kitchen (a folder ``kitchen_&_housewares``, as in the original JHU archive, is accepted
as ``kitchen``). Each file is pseudo-XML; the review text is between ``<review_text>`` and
``</review_text>``. 1000 reviews per file.

Split (HRKD, ``docs/methods/background.md`` §1.2): per domain, the 2000 examples (negatives then positives, file
order) get one ``random.Random(seed).shuffle`` (seed 42 by default), then fixed counts
train/dev/test: books 1631/170/199, dvd 1621/194/185, electronics 1615/172/213, kitchen 1613/184/203.
These sum to 6480/720/800, the totals of Meta-KD's pooled split; the membership is our own shuffle's.
Labels are an explicit list ``["negative", "positive"]`` (HRKD took them from a Python set).
"""

from __future__ import annotations

import os
import random
import re
import shutil
import tarfile
import urllib.request
import warnings
from collections.abc import Sequence
from pathlib import Path

import datasets

from hrkd_lite.data.base import MultiDomainData, make_split
from hrkd_lite.errors import HrkdError

LABEL_NAMES = ["negative", "positive"]
DOMAINS: tuple[str, ...] = ("books", "dvd", "electronics", "kitchen")
FOLDER_ALIASES: dict[str, tuple[str, ...]] = {"kitchen": ("kitchen", "kitchen_&_housewares")}
HRKD_SPLIT: dict[str, tuple[int, int, int]] = {
    "books": (1631, 170, 199), "dvd": (1621, 194, 185),
    "electronics": (1615, 172, 213), "kitchen": (1613, 184, 203),
}
ARCHIVE_URL = "https://www.cs.jhu.edu/~mdredze/datasets/sentiment/domain_sentiment_data.tar.gz"
REVIEW_RE = re.compile(r"<review_text>\s*(.*?)\s*</review_text>", re.S)
DEFAULT_CACHE = Path.home() / ".cache" / "hrkd_lite" / "amazon"
LAYOUT = "<dir>/<domain>/positive.review and negative.review for domains " + ", ".join(DOMAINS)


def default_amazon_dir() -> Path:
    """``$HRKD_AMAZON_DIR``, else what an earlier ``download=True`` extracted under ``~/.cache/hrkd_lite/amazon``."""
    env = os.environ.get("HRKD_AMAZON_DIR")
    if env:
        return Path(env)
    cache = DEFAULT_CACHE
    found = _find_root(cache) if cache.is_dir() else None
    return found or cache


def amazon_available(data_dir: str | Path | None = None) -> Path | None:
    """The Amazon folder (``data_dir`` or :func:`default_amazon_dir`) when it holds the reviews, else None."""
    root = Path(data_dir) if data_dir is not None else default_amazon_dir()
    return root if (root / "books" / "positive.review").is_file() else None


def parse_reviews(path: Path) -> list[str]:
    """Review texts of one ``.review`` file, whitespace collapsed. HrkdError if unreadable/empty."""
    try:
        raw = path.read_bytes().decode("utf-8", errors="replace")
    except OSError as err:
        raise HrkdError(f"cannot read Amazon review file {path}: {err.strerror or err}") from err
    texts = [" ".join(m.group(1).split()) for m in REVIEW_RE.finditer(raw)]
    if not texts:
        raise HrkdError(f"no <review_text> entries in {path}; is it a Blitzer .review file?")
    return texts


def _domain_folder(root: Path, domain: str) -> Path:
    for name in FOLDER_ALIASES.get(domain, (domain,)):
        if (root / name).is_dir():
            return root / name
    have = sorted(p.name for p in root.iterdir() if p.is_dir())
    raise HrkdError(f"Amazon domain folder {str(root / domain)!r} not found (expected layout {LAYOUT}); "
                    f"folders present: {', '.join(have) or 'none'}")


def split_counts(domain: str, total: int) -> tuple[int, int, int]:
    """HRKD's fixed train/dev/test counts; scaled proportionally (with a warning) if ``total`` != 2000."""
    counts = HRKD_SPLIT.get(domain, (1620, 180, 200))
    if total == sum(counts) and domain in HRKD_SPLIT:
        return counts
    dev = int(round(counts[1] / sum(counts) * total))
    test = int(round(counts[2] / sum(counts) * total))
    train = total - dev - test
    warnings.warn(f"Amazon domain {domain!r} has {total} reviews, not {sum(counts)}: HRKD split counts "
                  f"scaled to {train}/{dev}/{test}", stacklevel=3)
    return train, dev, test


def _review_files(root: Path, domain: str) -> list[Path]:
    """``[negative.review, positive.review]`` of one domain (label order); HrkdError if missing."""
    folder = _domain_folder(root, domain)
    paths = [folder / f"{name}.review" for name in LABEL_NAMES]
    for path in paths:
        if not path.is_file():
            raise HrkdError(f"missing Amazon file {path} (expected layout {LAYOUT})")
    return paths


def read_domain(root: Path, domain: str, seed: int = 42) -> datasets.DatasetDict:
    """Parse one domain and split it the HRKD way (one seeded shuffle, fixed counts)."""
    examples: list[tuple[str, int]] = []
    for label, path in enumerate(_review_files(root, domain)):
        examples += [(t, label) for t in parse_reviews(path)]
    random.Random(seed).shuffle(examples)
    n_train, n_dev, _ = split_counts(domain, len(examples))
    bounds = {"train": (0, n_train), "dev": (n_train, n_train + n_dev), "test": (n_train + n_dev, len(examples))}
    parts = {}
    for s, (lo, hi) in bounds.items():
        rows = examples[lo:hi]
        parts[s] = make_split({"text": [t for t, _ in rows], "label": [y for _, y in rows]})
    return datasets.DatasetDict(parts)


def load_amazon(data_dir: str | Path | None = None, *, domains: Sequence[str] | None = None, seed: int = 42,
                download: bool = False, cache_dir: str | Path | None = None) -> MultiDomainData:
    """Load Amazon multi-domain sentiment with HRKD's per-domain split.

    Args:
        data_dir: folder with one sub-folder per domain (default :func:`default_amazon_dir`).
        domains: subset / order of ``books, dvd, electronics, kitchen`` (default all four).
        seed: seed of the per-domain ``random.Random`` shuffle (HRKD: 42).
        download: fetch the JHU archive first when the folder is missing (GPU/Colab use; needs network).
        cache_dir: where ``download`` puts the archive (default ``~/.cache/hrkd_lite/amazon``).
    """
    names = list(domains) if domains is not None else list(DOMAINS)
    for d in names:
        if d not in DOMAINS:
            raise HrkdError(f"unknown Amazon domain {d!r}; valid choices: {', '.join(DOMAINS)}")
    root = Path(data_dir) if data_dir is not None else default_amazon_dir()
    if download and amazon_available(root) is None:
        root = download_amazon(cache_dir)  # HrkdError, one line, when offline
    if not root.is_dir():
        raise HrkdError(f"Amazon data folder {str(root)!r} not found; expected layout {LAYOUT} "
                        f"(set HRKD_AMAZON_DIR, pass data_dir, or download=True on a machine with network)")
    for d in names:  # check the whole layout before parsing anything
        _review_files(root, d)
    splits = {d: read_domain(root, d, seed=seed) for d in names}
    info = {"path": str(root), "split": "hrkd", "shuffle_seed": seed,
            "recipe": "per domain: negatives then positives, random.Random(seed).shuffle, fixed counts"}
    return MultiDomainData(source="amazon", domains=names, label_names=list(LABEL_NAMES), splits=splits,
                           has_pair=False, similarity=None, info=info)


def _find_root(base: Path) -> Path | None:
    """The folder under ``base`` that holds ``books/positive.review`` (prefer ``sorted_data_acl``)."""
    hits = sorted(p.parent.parent for p in base.rglob("positive.review") if p.parent.name == "books")
    hits.sort(key=lambda p: (p.name != "sorted_data_acl", len(p.parts)))
    return hits[0] if hits else None


def download_amazon(cache_dir: str | Path | None = None, url: str = ARCHIVE_URL) -> Path:
    """Download and extract the JHU archive (once) and return the balanced-data folder.

    Only called explicitly (``download=True``); never in tests. The archive's
    ``kitchen_&_housewares`` folder is read as ``kitchen``.
    """
    cache = Path(cache_dir) if cache_dir else DEFAULT_CACHE
    cache.mkdir(parents=True, exist_ok=True)
    found = _find_root(cache)
    if found is not None:
        return found
    archive = cache / "domain_sentiment_data.tar.gz"
    if not archive.is_file():
        tmp = archive.with_suffix(".part")
        try:
            with urllib.request.urlopen(url, timeout=60) as resp, open(tmp, "wb") as fh:
                shutil.copyfileobj(resp, fh)
        except OSError as err:
            raise HrkdError(f"could not download {url}: {err}; download it by hand and pass data_dir") from err
        tmp.replace(archive)
    try:
        with tarfile.open(archive) as tar:
            if hasattr(tarfile, "data_filter"):
                tar.extractall(cache, filter="data")
            else:  # Python < 3.12 without the backported filter
                tar.extractall(cache)  # archive from a fixed, known URL
    except (OSError, tarfile.TarError) as err:
        raise HrkdError(f"cannot extract {archive}: {err}; delete it and retry") from err
    found = _find_root(cache)
    if found is None:
        raise HrkdError(f"no books/positive.review inside {archive}; expected layout {LAYOUT}")
    return found
