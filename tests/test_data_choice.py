"""Which data a notebook uses, and why; Amazon fetched on GPU profiles. Offline: every fetch is replaced."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

import pytest

import hrkd_lite.data.amazon as amazon_mod
from hrkd_lite.data import choose_data, load_data
from hrkd_lite.errors import HrkdError
from hrkd_lite.profiles import get_profile


def fake_amazon(root: Path, per_class: int = 12) -> Path:
    """A tiny Blitzer-layout folder (four domains, ``per_class`` reviews per label)."""
    for d in amazon_mod.DOMAINS:
        (root / d).mkdir(parents=True)
        for lab in ("positive", "negative"):
            body = "".join(f"<review_text>\n{lab} review {i} of {d}\n</review_text>\n" for i in range(per_class))
            (root / d / f"{lab}.review").write_text(body)
    return root


@pytest.fixture
def no_amazon(monkeypatch, tmp_path):
    """No Amazon folder anywhere: the env var and the download cache point at empty folders."""
    monkeypatch.setenv("HRKD_AMAZON_DIR", str(tmp_path / "absent"))
    monkeypatch.setattr(amazon_mod, "DEFAULT_CACHE", tmp_path / "cache")
    monkeypatch.delenv("HRKD_MNLI_DIR", raising=False)
    return tmp_path


def never(*_a, **_k):
    raise AssertionError("no download expected")


def test_ci_is_always_synthetic_and_says_so(no_amazon):
    choice = choose_data("ci", "amazon", amazon_fetch=never, mnli_fetch=never)
    assert choice.source == "synthetic" and not choice.real and "ci profile" in choice.describe()


def test_cpu_uses_amazon_on_disk_else_says_why_synthetic(no_amazon, monkeypatch):
    choice = choose_data("cpu", "amazon", amazon_fetch=never)
    assert choice.source == "synthetic" and "HRKD_AMAZON_DIR" in choice.reason
    root = fake_amazon(no_amazon / "amazon")
    monkeypatch.setenv("HRKD_AMAZON_DIR", str(root))
    choice = choose_data("cpu", "amazon", amazon_fetch=never)
    assert (choice.source, choice.data_dir) == ("amazon", root) and str(root) in choice.describe()


def test_gpu_fetches_amazon_and_reports_a_failed_fetch(no_amazon):
    root = fake_amazon(no_amazon / "downloaded")
    choice = choose_data("gpu", "amazon", amazon_fetch=lambda: root)
    assert (choice.source, choice.data_dir) == ("amazon", root) and "downloaded" in choice.reason

    def offline():
        raise HrkdError("could not download https://example.invalid/x.tar.gz: no network")

    choice = choose_data("gpu", "amazon", amazon_fetch=offline)
    assert choice.source == "synthetic" and "could not be fetched: could not download" in choice.describe()


def test_mnli_by_genre_on_gpu_and_from_a_local_folder(no_amazon, monkeypatch):
    calls = []
    choice = choose_data("gpu", "mnli", mnli_fetch=lambda: calls.append(1))
    assert choice.source == "mnli" and choice.data_dir is None and calls == [1]
    assert choose_data("cpu", "mnli", mnli_fetch=never).source == "synthetic"
    local = Path(__file__).parent / "fixtures" / "mnli_small"
    monkeypatch.setenv("HRKD_MNLI_DIR", str(local))
    choice = choose_data("cpu", "mnli", mnli_fetch=never)
    assert (choice.source, choice.data_dir) == ("mnli", local)
    data = load_data(choice.source, choice.data_dir, domains=["fiction", "travel"])
    assert data.has_pair and data.domains == ["fiction", "travel"]
    with pytest.raises(HrkdError, match="paper data source.*'books'"):
        choose_data("gpu", "books")


@pytest.mark.filterwarnings("ignore:Amazon domain")
def test_load_data_amazon_downloads_on_gpu_profiles_only(no_amazon, monkeypatch):
    root = fake_amazon(no_amazon / "fetched")
    calls = []
    monkeypatch.setattr(amazon_mod, "download_amazon", lambda cache=None: calls.append(cache) or root)
    data = load_data("amazon", profile=get_profile("gpu"), seed=0)
    assert calls == [None] and data.source == "amazon" and data.info["path"] == str(root)
    with pytest.raises(HrkdError, match="not found"):
        load_data("amazon", profile=get_profile("cpu"), seed=0)
    assert calls == [None]


def test_offline_download_is_one_clear_line(no_amazon, monkeypatch):
    def refuse(*_a, **_k):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    with pytest.raises(HrkdError) as err:
        load_data("amazon", profile=get_profile("gpu"), seed=0)
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith("could not download https://") and "by hand" in msg
