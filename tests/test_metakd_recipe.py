"""Meta-KD's own recipe: reference defaults and the profile scaling."""

from __future__ import annotations

import pytest

from hrkd_lite.errors import HrkdError
from hrkd_lite.methods.metakd.recipe import MetaKDRecipe, recipe_for
from hrkd_lite.profiles import get_profile


def test_reference_defaults():
    r = MetaKDRecipe()
    assert (r.teacher_batch_size, r.teacher_sampler, r.teacher_lr, r.teacher_epochs, r.teacher_selection) == (
        32, "pooled", 2e-5, 3, "mixed_dev")
    assert (r.stage1_lr, r.stage1_epochs, r.stage1_schedule) == (5e-5, 10, "constant")
    assert (r.stage2_lr, r.stage2_epochs, r.stage2_schedule) == (3e-5, 3, "warmup_linear")
    assert r.student_batch_size == 32


@pytest.mark.parametrize("name", ["paper", "gpu"])
def test_reference_profiles_keep_the_reference_rates(name):
    prof = get_profile(name)
    r = recipe_for(prof, 4)
    assert r.teacher_lr == pytest.approx(2e-5) and r.stage1_lr == pytest.approx(5e-5)
    assert r.stage2_lr == pytest.approx(3e-5)
    assert r.teacher_batch_size == 32 and r.student_batch_size == 32
    assert r.stage2_epochs == 3 and r.teacher_epochs == 3
    assert r.stage1_epochs == min(10, prof.student_epochs)


def test_laptop_profiles_shrink_epochs_and_batches_and_keep_the_rate_ratios():
    for name in ("ci", "cpu"):
        prof = get_profile(name)
        r = recipe_for(prof, 4)
        assert r.teacher_epochs == min(3, prof.teacher_epochs)
        assert r.stage1_epochs == min(10, prof.student_epochs) and r.stage2_epochs == min(3, prof.student_epochs)
        assert r.teacher_batch_size == min(32, 4 * prof.batch_size)
        assert r.student_batch_size == min(32, prof.batch_size)
        assert r.teacher_lr == pytest.approx(0.4 * prof.teacher_lr)  # 2e-5 / 5e-5
        assert r.stage1_lr == pytest.approx(prof.student_lr)  # 5e-5 / 5e-5
        assert r.stage2_lr == pytest.approx(0.6 * prof.student_lr)  # 3e-5 / 5e-5
        assert r.stage1_schedule == "constant" and r.teacher_selection == "mixed_dev"


def test_bad_values_one_line():
    with pytest.raises(HrkdError, match="'best'.*mixed_dev, per_domain"):
        MetaKDRecipe(teacher_selection="best")
    with pytest.raises(HrkdError, match="stage1_schedule 'cosine'"):
        MetaKDRecipe(stage1_schedule="cosine")
    with pytest.raises(HrkdError, match="stage2_epochs must be >= 1"):
        MetaKDRecipe(stage2_epochs=0)
    with pytest.raises(HrkdError, match="teacher_lr must be > 0"):
        MetaKDRecipe().with_overrides(teacher_lr=0.0)
