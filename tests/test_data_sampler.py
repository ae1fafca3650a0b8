"""MultiDomainSampler: HRKD semantics (fixed fit order, block-shuffled others) and determinism."""

from __future__ import annotations

import numpy as np
import pytest

from hrkd_lite.data import MultiDomainSampler
from hrkd_lite.errors import HrkdError

SIZES = [50, 23, 41]


def test_shapes_and_range():
    s = MultiDomainSampler(SIZES, batch_size=8, seed=0)
    assert s.fit_domain == 0 and s.steps_per_epoch == 7 == len(s)
    ep = s.epoch(0)
    assert len(ep) == 7 and all(len(step) == 3 for step in ep)
    for step in ep:
        for d, idx in enumerate(step):
            assert idx.dtype == np.int64 and len(idx) == 8
            assert idx.min() >= 0 and idx.max() < SIZES[d]


def test_fit_domain_fixed_order_with_wrap():
    s = MultiDomainSampler(SIZES, batch_size=8, seed=0)
    fit0 = np.concatenate([step[0] for step in s.epoch(0)])
    fit3 = np.concatenate([step[0] for step in s.epoch(3)])
    np.testing.assert_array_equal(fit0, fit3)
    np.testing.assert_array_equal(fit0, np.arange(56) % 50)  # consecutive; last block wraps


def test_other_domains_block_shuffled_per_epoch():
    s = MultiDomainSampler(SIZES, batch_size=8, seed=0)
    blocks = {e: [tuple(step[2]) for step in s.epoch(e)] for e in range(4)}
    expected = {tuple(np.arange(b * 8, b * 8 + 8) % 41) for b in range(7)}
    for e in range(4):
        assert set(blocks[e]) == expected  # same consecutive (wrapping) blocks ...
    assert len({tuple(blocks[e]) for e in range(4)}) > 1  # ... in a different order per epoch
    covered = np.concatenate([step[1] for step in s.epoch(0)])
    assert np.bincount(covered, minlength=23).min() >= 2  # smaller domain wraps


def test_deterministic_and_resumable():
    a = MultiDomainSampler(SIZES, batch_size=8, seed=5).epoch(2)
    b = MultiDomainSampler(SIZES, batch_size=8, seed=5).epoch(2)
    c = MultiDomainSampler(SIZES, batch_size=8, seed=6).epoch(2)
    assert all(np.array_equal(x, y) for sa, sb in zip(a, b) for x, y in zip(sa, sb))
    assert not all(np.array_equal(x, y) for sa, sc in zip(a, c) for x, y in zip(sa, sc))
    s = MultiDomainSampler(SIZES, batch_size=8, seed=5)
    assert all(np.array_equal(x, y) for x, y in zip(s.step(2, 4), a[4]))


def test_shuffle_mode_and_explicit_fit_domain():
    s = MultiDomainSampler(SIZES, batch_size=8, seed=0, mode="shuffle")
    e0 = np.concatenate([step[0] for step in s.epoch(0)])
    e1 = np.concatenate([step[0] for step in s.epoch(1)])
    assert not np.array_equal(e0, e1) and set(e0[:50]) == set(range(50))
    f = MultiDomainSampler(SIZES, batch_size=8, seed=0, fit_domain=1)
    assert f.steps_per_epoch == 3
    # a larger non-fit domain is truncated to steps * batch positions
    assert np.concatenate([step[0] for step in f.epoch(0)]).max() < 24


def test_single_domain_and_errors():
    s = MultiDomainSampler([10], batch_size=4, seed=0)
    assert s.steps_per_epoch == 3 and len(s.epoch(0)[0]) == 1
    with pytest.raises(HrkdError, match="sizes"):
        MultiDomainSampler([10, 0], batch_size=4, seed=0)
    with pytest.raises(HrkdError, match="'random'"):
        MultiDomainSampler([10], batch_size=4, seed=0, mode="random")
    with pytest.raises(HrkdError, match="fit_domain 3"):
        MultiDomainSampler([10], batch_size=4, seed=0, fit_domain=3)
