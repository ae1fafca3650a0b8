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


def test_single_domain_reshuffles_every_epoch_like_a_dataloader():
    """One domain ("auto" -> "reshuffle"): each epoch is a new permutation, every row exactly once, last
    block short (DataLoader(shuffle=True, drop_last=False)), deterministic in (seed, epoch)."""
    s = MultiDomainSampler([10], batch_size=4, seed=3)
    assert s.mode == "reshuffle" and s.steps_per_epoch == 3
    orders = []
    for e in range(4):
        ep = s.epoch(e)
        assert [len(step[0]) for step in ep] == [4, 4, 2]
        order = np.concatenate([step[0] for step in ep])
        assert sorted(order.tolist()) == list(range(10))  # each row once per epoch
        orders.append(tuple(order.tolist()))
    assert len(set(orders)) == 4  # the order differs between epochs
    assert orders[1] == tuple(np.concatenate([st[0] for st in MultiDomainSampler([10], 4, seed=3).epoch(1)]))
    assert np.array_equal(s.step(1, 2)[0], s.epoch(1)[2][0])


def test_multi_domain_auto_keeps_the_hrkd_rule():
    """Several domains ("auto" -> "hrkd"): the fit domain's order is the same in every epoch."""
    s = MultiDomainSampler(SIZES, batch_size=8, seed=0)
    assert s.mode == "hrkd"
    explicit = MultiDomainSampler(SIZES, batch_size=8, seed=0, mode="hrkd")
    for e in range(3):
        assert all(np.array_equal(x, y) for a, b in zip(s.epoch(e), explicit.epoch(e)) for x, y in zip(a, b))
    fits = {tuple(np.concatenate([step[0] for step in s.epoch(e)]).tolist()) for e in range(3)}
    assert len(fits) == 1


def test_pooled_mode_mixes_domains_and_reshuffles():
    s = MultiDomainSampler([5, 3, 4], batch_size=5, seed=1, mode="pooled")
    assert s.steps_per_epoch == 3  # ceil(12 / 5)
    seen = []
    for e in range(2):
        ep = s.epoch(e)
        assert [sum(len(i) for i in step) for step in ep] == [5, 5, 2]
        rows = sorted((d, int(i)) for step in ep for d, idx in enumerate(step) for i in idx)
        assert rows == [(d, i) for d, n in enumerate([5, 3, 4]) for i in range(n)]  # each row once
        seen.append([tuple(map(tuple, step)) for step in ep])
    assert seen[0] != seen[1]
    assert any(sum(len(i) > 0 for i in step) > 1 for step in s.epoch(0))  # a block mixes domains
