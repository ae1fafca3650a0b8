"""The TinyBERT-KD single-domain baseline with the reference's single-domain teachers, and the samplers the
teacher / student loops get (tiny random BERTs, fast)."""

from __future__ import annotations

import json

import pytest
import torch

import hrkd_lite.methods.shared.context as context
import hrkd_lite.methods.shared.teachers as teachers
import hrkd_lite.methods.shared.training as training
from hrkd_lite.data import load_data
from hrkd_lite.errors import HrkdError
from hrkd_lite.methods.baselines.runner import run_teacher, run_tinybert
from hrkd_lite.models import BertConfig, BertEncoder, MultiDomainClassifier, truncate_encoder
from hrkd_lite.models.factory import load_tokenizer
from hrkd_lite.profiles import get_profile

TINY = BertConfig(vocab_size=30522, hidden_size=32, num_layers=4, num_heads=4, intermediate_size=64,
                  max_position_embeddings=64)


def _enc() -> BertEncoder:
    torch.manual_seed(123)
    return BertEncoder(TINY)


@pytest.fixture
def tiny_ctx(tmp_path, monkeypatch):
    monkeypatch.setattr(teachers, "build_teacher", lambda p, c, num_domains=1, shared_head=False, **k:
                        MultiDomainClassifier(_enc(), c, num_domains, shared_head))
    monkeypatch.setattr(context, "build_student", lambda p, c, num_domains=1, shared_head=False, **k:
                        MultiDomainClassifier(truncate_encoder(_enc(), (2, 4)), c, num_domains, shared_head))
    prof = get_profile("ci").with_overrides(max_len=16, batch_size=4, train_per_domain=10, dev_per_domain=8,
                                            test_per_domain=8, student_layers=(2, 4), synthetic_domains=2,
                                            synthetic_per_domain=60, latency_repeats=1, eval_batch_size=16)
    data = load_data("synthetic", profile=prof, seed=0)
    return context.prepare(prof, data, seed=0, out_dir=tmp_path, progress=False, tokenizer=load_tokenizer("minilm"))


def test_single_domain_loops_reshuffle_and_multi_domain_keeps_hrkd_order(tiny_ctx):
    single = training.DomainBatches(tiny_ctx, [1], seed=0)
    assert single.sampler.mode == "reshuffle"
    orders = [tuple(i for step in single.epoch(e) for _, idx in step for i in idx.tolist()) for e in range(3)]
    assert len(set(orders)) == 3 and sorted(orders[0]) == list(range(10))
    assert training.DomainBatches(tiny_ctx, [0, 1], seed=0).sampler.mode == "hrkd"
    pooled = training.DomainBatches(tiny_ctx, [0, 1], seed=0, mode="pooled", batch_size=6)
    assert pooled.steps_per_epoch == 4 and all(len(idx) for step in pooled.epoch(0) for _, idx in step)


def test_tinybert_from_single_domain_teachers(tiny_ctx):
    m = run_tinybert(tiny_ctx, setting="single", teacher_variant="single")
    assert m["method"] == "tinybert/single-teacher" and m["teacher"] == "single"
    info = json.loads((tiny_ctx.out_dir / "single_teacher" / "teacher.json").read_text())
    assert info["mode"] == "single" and info["shared_head"]
    assert info["lr"] == pytest.approx(0.4 * tiny_ctx.profile.teacher_lr)  # 2e-5 / 5e-5 of the reference
    assert len(set(info["weights"].values())) == 2  # one teacher per domain
    assert set(m["accuracy"]["test"]) == {*tiny_ctx.domains, "average"}
    multi = run_teacher(tiny_ctx, mode="multitask")
    with pytest.raises(HrkdError, match="--mode single"):
        run_tinybert(tiny_ctx, teacher_variant="single", teacher_dir=multi["teacher_dir"])
    with pytest.raises(HrkdError, match="'mix'.*multitask, single"):
        run_tinybert(tiny_ctx, teacher_variant="mix")
