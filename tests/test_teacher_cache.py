"""Cached teacher outputs: losses equal with and without the cache, the teacher is not called again."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hrkd_lite.distill.layer_maps import indices_from_map
from hrkd_lite.distill.losses import soft_cross_entropy
from hrkd_lite.distill.projections import FitDenses
from hrkd_lite.distill.teacher_cache import (
    CacheSpec,
    TeacherCache,
    clear_teacher_cache,
    module_fingerprint,
)
from hrkd_lite.distill.tinybert import tinybert_layer_losses, tinybert_total
from hrkd_lite.errors import HrkdError
from hrkd_lite.models import BertConfig, BertEncoder, MultiDomainClassifier

D, N, T, B, C = 2, 12, 10, 4, 3
MAP = indices_from_map([0, 2, 4])  # student layers 1, 2 <- teacher layers 2, 4


@pytest.fixture(autouse=True)
def _empty_store():
    clear_teacher_cache()
    yield
    clear_teacher_cache()


def tiny(layers: int, seed: int) -> MultiDomainClassifier:
    torch.manual_seed(seed)
    cfg = BertConfig(vocab_size=50, hidden_size=16, num_layers=layers, num_heads=2, intermediate_size=32,
                     max_position_embeddings=T)
    return MultiDomainClassifier(BertEncoder(cfg), C, D)


@pytest.fixture
def setup():
    teacher = tiny(4, 0).eval().requires_grad_(False)
    student = tiny(2, 1).eval()  # no dropout: the runs below draw no random numbers
    fit = FitDenses(16, 16, 3)
    g = torch.Generator().manual_seed(0)
    data = []
    for _ in range(D):
        ids = torch.randint(5, 50, (N, T), generator=g)
        lengths = torch.randint(3, T + 1, (N,), generator=g)
        mask = (torch.arange(T)[None] < lengths[:, None]).long()
        data.append({"input_ids": ids * mask, "attention_mask": mask, "token_type_ids": torch.zeros_like(ids),
                     "labels": torch.randint(0, C, (N,), generator=g)})
    calls = []

    def teacher_fn(d, b):
        calls.append(b["input_ids"].shape[0])
        return teacher(b["input_ids"], b["attention_mask"], b["token_type_ids"], domain=d)

    return teacher, student, fit, data, teacher_fn, calls


def epochs(seed_count: int = 2):
    """Per epoch, per domain, batches of B row indices covering every row (a new order each epoch)."""
    out = []
    for e in range(seed_count):
        perm = np.random.default_rng(e).permutation(N)
        out.append([perm[i:i + B] for i in range(0, N, B)])
    return out


def tinybert_loss(student, fit, t_out, b, d):
    s = student(b["input_ids"], b["attention_mask"], b["token_type_ids"], domain=d)
    terms = tinybert_layer_losses(s, t_out, fit, MAP)
    return tinybert_total(terms) + soft_cross_entropy(s.logits, t_out.logits)


def run_losses(setup, cache: TeacherCache | None):
    teacher, student, fit, data, teacher_fn, calls = setup
    losses = []
    for batches in epochs():
        for idx in batches:
            for d in range(D):
                b = {k: v[torch.as_tensor(idx)] for k, v in data[d].items()}
                t_out = teacher_fn(d, b) if cache is None else cache(d, b, idx)[0]
                losses.append(tinybert_loss(student, fit, t_out, b, d))
    return torch.stack(losses)


def make_cache(setup, dtype="float32", **kw) -> TeacherCache:
    teacher, _, _, data, teacher_fn, _ = setup
    spec = CacheSpec(hidden=tuple(MAP["hid_teacher"]), attention=tuple(MAP["attn_teacher"]), dtype=dtype)
    key = module_fingerprint(teacher)
    return TeacherCache(teacher_fn, spec, [x["input_ids"] for x in data], [f"{key}/{d}" for d in range(D)], **kw)


def test_float32_cache_gives_the_same_losses_and_no_teacher_call_after_epoch_one(setup):
    live = run_losses(setup, None)
    calls = setup[5]
    calls.clear()
    cache = make_cache(setup, "float32")
    cached = run_losses(setup, cache)
    # epoch 1: the steps' own teacher calls, once per batch; epoch 2: none
    assert len(calls) == D * (N // B) and cache.stats["teacher_calls"] == D * (N // B)
    assert cache.stats["rows_computed"] == D * N and cache.stats["rows_read"] == 2 * D * N
    # float32 storage is exact: epoch 1 reads what the step itself computed, and epoch 2's rows were
    # computed in batches of the same shape (each row's result does not depend on its batch-mates)
    assert torch.equal(cached, live)


def test_float16_cache_is_within_the_tolerance_it_implies(setup):
    live = run_losses(setup, None)
    cached = run_losses(setup, make_cache(setup, "float16"))
    # float16 keeps 11 significant bits: each stored value within 2^-11 relative, so an MSE moves by at
    # most ~2 * 2^-11 * |t| / |s - t| relative; bound 1e-3 here (measured: 2.5e-5)
    rel = ((cached - live).abs() / live.abs()).max()
    assert 0 < rel < 1e-3


def test_second_cache_with_the_same_teacher_and_data_starts_full(setup):
    first = make_cache(setup)
    run_losses(setup, first)
    second = make_cache(setup)
    run_losses(setup, second)
    assert second.stats["teacher_calls"] == 0 and second.stats["rows_read"] == 2 * D * N


def test_other_teacher_weights_get_their_own_table(setup):
    run_losses(setup, make_cache(setup))
    with torch.no_grad():
        next(setup[0].parameters()).add_(1.0)
    again = make_cache(setup)
    run_losses(setup, again)
    assert again.stats["teacher_calls"] == D * (N // B)


def test_switched_off_cache_calls_the_teacher_every_time(setup):
    cache = make_cache(setup, enabled=False)
    live = run_losses(setup, None)
    off = run_losses(setup, cache)
    assert cache.stats["teacher_calls"] == 2 * D * (N // B) and cache.stats["rows_read"] == 0
    assert torch.equal(off, live)


def test_changed_inputs_run_the_teacher_live(setup):
    teacher, _, _, data, teacher_fn, _ = setup
    cache = make_cache(setup)
    idx = np.arange(B)
    b = {k: v[:B].clone() for k, v in data[0].items()}
    cache(0, b, idx)
    b["input_ids"][0, 1] = 7 if b["input_ids"][0, 1] != 7 else 8  # an augmented example
    out, _ = cache(0, b, idx)
    want = teacher_fn(0, b)
    assert torch.equal(out.logits, want.logits)
    assert cache.stats["live_batches"] == 1


def test_over_the_bound_warns_once_and_falls_back_to_the_live_teacher(setup):
    cache = make_cache(setup, max_bytes=1000)
    live = run_losses(setup, None)
    with pytest.warns(UserWarning, match="teacher cache off: it needs .* over the bound"):
        off = run_losses(setup, cache)
    assert torch.equal(off, live)
    assert cache.stats["rows_read"] == 0 and cache.stats["teacher_calls"] == 2 * D * (N // B)


def test_layers_not_kept_raise_and_bad_dtype_is_one_line(setup):
    cache = make_cache(setup)
    b = {k: v[:B] for k, v in setup[3][0].items()}
    out, feat = cache(0, b, np.arange(B))
    assert feat is None and len(out.hidden_states) == 5 and len(out.attention_scores) == 4
    assert out.hidden_states[4].shape == (B, T, 16) and out.attention_scores[-1].shape == (B, 2, T, T)
    with pytest.raises(HrkdError, match=r"hidden_states\[1\] is not cached; cached layers: \[0, 2, 4\]"):
        out.hidden_states[1]
    with pytest.raises(HrkdError, match="cache dtype 'int8'; valid choices: float16, float32"):
        TeacherCache(setup[4], CacheSpec(dtype="int8"), [], [])


def test_feature_is_cached_with_the_output(setup):
    teacher, _, _, data, _, _ = setup
    calls = []

    def with_feature(d, b):
        calls.append(1)
        out = teacher(b["input_ids"], b["attention_mask"], b["token_type_ids"], domain=d)
        return out, out.pooled * 2

    cache = TeacherCache(with_feature, CacheSpec(feature=True), [data[0]["input_ids"]], ["t"])
    b = {k: v[:B] for k, v in data[0].items()}
    first, f1 = cache(0, b, np.arange(B))
    second, f2 = cache(0, b, np.arange(B))
    assert len(calls) == 1 and torch.equal(f1, f2) and torch.equal(first.logits, second.logits)
