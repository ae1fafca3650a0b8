"""Which data a notebook uses, and why: said out loud, never a silent swap of real data for synthetic.

A notebook names the data the paper used (``amazon`` or ``mnli``) and :func:`choose_data` decides:

- ``ci``: always ``synthetic`` (the tests stay offline and short);
- ``cpu``: the real data when it is on disk (``$HRKD_AMAZON_DIR`` or an earlier download for Amazon; a
  local MNLI folder), else ``synthetic``;
- ``gpu`` / ``paper`` (Colab): the real data, downloaded and cached on first use (Amazon from the JHU
  archive, MNLI from the hub); when that fails (no network) the reason is printed and ``synthetic`` is used.

The returned :class:`DataChoice` carries the source, the folder to pass to ``load_data`` and a one-line reason.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hrkd_lite.data.amazon import amazon_available, download_amazon
from hrkd_lite.errors import HrkdError, check_choice

REAL_SOURCES = ("amazon", "mnli")
DOWNLOAD_PROFILES = ("gpu", "paper")


@dataclass(frozen=True)
class DataChoice:
    """``source`` for :func:`hrkd_lite.data.load_data`, its ``data_dir`` (None = default), and why."""

    source: str
    data_dir: Path | None
    reason: str

    @property
    def real(self) -> bool:
        return self.source != "synthetic"

    def describe(self) -> str:
        return f"data: {self.source} ({self.reason})"


def _mnli_dir() -> Path | None:
    env = os.environ.get("HRKD_MNLI_DIR")
    return Path(env) if env and (Path(env) / "train.jsonl").is_file() else None


def _fetch_mnli() -> None:
    from hrkd_lite.data.mnli import load_mnli

    load_mnli(None, domains=["fiction"])  # the hub download; cached by datasets for the real load


def choose_data(profile_name: str, paper_source: str = "amazon", *, fetch: bool | None = None,
                amazon_fetch: Callable[[], Path] = download_amazon,
                mnli_fetch: Callable[[], None] = _fetch_mnli) -> DataChoice:
    """Pick the data for a notebook on ``profile_name`` (see the module docstring).

    Args:
        profile_name: ``ci | cpu | gpu | paper``.
        paper_source: the real data the paper used here, ``amazon`` or ``mnli``.
        fetch: download when absent (default: on the gpu and paper profiles).
        amazon_fetch, mnli_fetch: the download functions (tests replace them; no test touches the network).
    """
    check_choice("paper data source", paper_source, REAL_SOURCES)
    if profile_name == "ci":
        return DataChoice("synthetic", None, "the ci profile always uses the synthetic generator")
    fetch = profile_name in DOWNLOAD_PROFILES if fetch is None else fetch
    if paper_source == "amazon":
        found = amazon_available()
        if found is not None:
            return DataChoice("amazon", found, f"Amazon reviews found in {found}")
        if fetch:
            try:
                return DataChoice("amazon", amazon_fetch(), "Amazon reviews downloaded and cached")
            except HrkdError as err:
                return DataChoice("synthetic", None, f"Amazon reviews could not be fetched: {err}")
        return DataChoice("synthetic", None, "no Amazon folder on this machine (set HRKD_AMAZON_DIR); "
                                             "the gpu profile downloads it")
    local = _mnli_dir()
    if local is not None:
        return DataChoice("mnli", local, f"MNLI found in {local}")
    if fetch:
        try:
            mnli_fetch()
            return DataChoice("mnli", None, "MNLI by genre from the hub (cached)")
        except HrkdError as err:
            return DataChoice("synthetic", None, f"MNLI could not be fetched: {err}")
    return DataChoice("synthetic", None, "no MNLI folder on this machine (set HRKD_MNLI_DIR); "
                                         "the gpu profile downloads it")
