"""Profiles: one switch, plus the sizes a data source needs on a profile (applied once)."""

from __future__ import annotations

from hrkd_lite.data import load_data
from hrkd_lite.profiles import SOURCE_OVERRIDES, get_profile


def test_amazon_on_cpu_gets_its_own_sizes_and_synthetic_keeps_the_cpu_numbers():
    cpu = get_profile("cpu")
    amazon = cpu.for_source("amazon")
    for k, v in SOURCE_OVERRIDES[("cpu", "amazon")].items():
        assert getattr(amazon, k) == v
    assert amazon.source == "amazon" and amazon.max_len == 128
    synthetic = cpu.for_source("synthetic")
    assert synthetic.with_overrides(source=None) == cpu  # no override for synthetic data
    assert cpu.max_len == 48 and cpu.train_per_domain == 400  # the synthetic cpu numbers are unchanged


def test_overrides_apply_once_and_later_choices_win():
    amazon = get_profile("cpu").for_source("amazon").with_overrides(teacher_epochs=5)
    assert amazon.for_source("amazon").teacher_epochs == 5
    assert get_profile("ci").for_source("amazon") == get_profile("ci").with_overrides(source="amazon")


def test_load_data_and_prepare_apply_the_source_override(amazon_dir, minilm_tokenizer, tmp_path):
    from hrkd_lite.methods.shared.context import prepare

    data = load_data("amazon", amazon_dir, profile=get_profile("cpu"), domains=["books"])
    assert data.info["profile"] == "cpu" and len(data.split("books", "train")) == 400
    ctx = prepare(get_profile("cpu"), data.subsample(train=8, dev=4, test=4), out_dir=tmp_path,
                  tokenizer=minilm_tokenizer)
    assert ctx.profile.max_len == 128 and ctx.encoded.max_len == 128 and ctx.profile.source == "amazon"


def test_fast_path_keeps_every_size_and_the_first_seed_only(monkeypatch):
    monkeypatch.delenv("HRKD_FAST", raising=False)
    for name in ("ci", "cpu", "gpu", "paper"):
        full, fast = get_profile(name), get_profile(name, fast=True)
        assert not full.fast and full.sweeps and fast.fast and not fast.sweeps
        assert fast.seeds == full.seeds[:1]
        assert fast.with_overrides(fast=False, seeds=full.seeds) == full  # nothing else changes
    monkeypatch.setenv("HRKD_FAST", "1")
    assert get_profile("cpu").fast and not get_profile("cpu", fast=False).fast
