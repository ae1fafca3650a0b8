"""Profiles: one switch, plus the sizes a data source needs on a profile (applied once)."""

from __future__ import annotations

from hrkd_lite.data import load_data
from hrkd_lite.profiles import SOURCE_OVERRIDES, get_profile


def test_amazon_on_cpu_gets_its_own_sizes_and_synthetic_keeps_the_cpu_numbers():
    cpu = get_profile("cpu")
    amazon = cpu.for_source("amazon")
    for k, v in SOURCE_OVERRIDES[("cpu", "amazon")].items():
        assert getattr(amazon, k) == v
    assert amazon.source == "amazon" and amazon.truncation == "head_tail"
    synthetic = cpu.for_source("synthetic")
    assert synthetic.with_overrides(source=None) == cpu  # no override for synthetic data
    assert cpu.max_len == 48 and cpu.train_per_domain == 400  # the synthetic cpu numbers are unchanged


def test_overrides_apply_once_and_later_choices_win():
    amazon = get_profile("cpu").for_source("amazon").with_overrides(teacher_epochs=5)
    assert amazon.for_source("amazon").teacher_epochs == 5
    assert get_profile("ci").for_source("amazon") == get_profile("ci").with_overrides(source="amazon")


def test_load_data_applies_the_source_sizes(amazon_dir):
    data = load_data("amazon", amazon_dir, profile=get_profile("cpu"), domains=["books"])
    assert len(data.split("books", "train")) == 1631  # HRKD's full split, not the cpu cap of 400
