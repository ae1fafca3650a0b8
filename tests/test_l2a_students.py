"""L2A-style students: the reward reads target dev only (a poisoned test split would fail), resume equals an
uninterrupted run, the random baseline keeps about half, the no-augmentation students keep none."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hrkd_lite.data import load_data
from hrkd_lite.methods.l2a import students as S
from hrkd_lite.methods.l2a.chain import build_pool, teacher_view
from hrkd_lite.methods.l2a.config import config_for
from hrkd_lite.methods.l2a.generator import MLMGenerator, special_ids_of
from hrkd_lite.methods.l2a.setting import SOURCE, TARGET, make_setting
from hrkd_lite.methods.shared.context import prepare
from hrkd_lite.models.bert import BertConfig, BertEncoder
from hrkd_lite.models.factory import build_student
from hrkd_lite.profiles import get_profile

pytestmark = pytest.mark.slow


class Poisoned(dict):
    """A split that fails the test as soon as anything reads it."""

    def __getitem__(self, key):
        raise AssertionError(f"the test split was read ({key!r})")

    def items(self):
        raise AssertionError("the test split was read")

    values = items


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    prof = get_profile("ci")
    data = load_data("synthetic", profile=prof, seed=0)
    st = make_setting(data, "electronics", "kitchen", 16, seed=0)
    ctx = prepare(prof, st.data, seed=0, out_dir=tmp_path_factory.mktemp("l2a"), progress=False)
    teacher = build_student(prof, 2, 1, shared_head=True).eval()  # a small stand-in teacher keeps this fast
    torch.manual_seed(0)
    gen = MLMGenerator(BertEncoder(BertConfig(vocab_size=teacher.config.vocab_size, hidden_size=16, num_layers=1,
                                              num_heads=2, intermediate_size=32)))
    enc = ctx.encoded.tensors
    pool = build_pool(gen, enc[TARGET]["train"], enc[SOURCE]["train"], [enc[TARGET]["dev"], enc[TARGET]["test"]],
                      special_ids_of(ctx.tokenizer), ctx.tokenizer.mask_token_id, seeds=12, source_share=0.3,
                      rate=0.15, steps=2, seed=0)
    pool.teacher_logits, pool.embedding = teacher_view(teacher, 0, {"input_ids": pool.input_ids,
                                                                    "attention_mask": pool.attention_mask})
    t_logits, t_emb = teacher_view(teacher, 0, enc[TARGET]["train"])
    cfg = config_for("ci", episodes=4, inner_steps=1, checkpoint_every=1, candidates_per_episode=12)
    return S.StudentInputs(ctx, cfg, teacher, 0, t_logits, pool, t_emb.mean(0))


def test_reward_never_reads_test_labels(inputs, tmp_path):
    enc = inputs.ctx.encoded.tensors[TARGET]
    real = enc["test"]
    enc["test"] = Poisoned(real)
    try:
        _, log, selector = S.run_episodes(inputs, "learned", tmp_path / "learned")
        assert len(log) == 4 and all("reward" in e for e in log)
        assert selector.phi.abs().sum() > 0  # the selector was updated from dev rewards alone
        with pytest.raises(AssertionError, match="test split was read"):  # the guard does catch a read
            S.evaluate_best(inputs, S.new_student(inputs), tmp_path / "learned")
    finally:
        enc["test"] = real


def test_resume_equals_uninterrupted(inputs, tmp_path, monkeypatch):
    full = S.train_student(inputs, "learned", tmp_path / "a")
    real_save = S.save_checkpoint
    calls = {"n": 0}

    def crash_after_second(*args, **kwargs):
        real_save(*args, **kwargs)
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt("simulated crash")

    monkeypatch.setattr(S, "save_checkpoint", crash_after_second)
    with pytest.raises(KeyboardInterrupt):
        S.train_student(inputs, "learned", tmp_path / "b")
    assert (tmp_path / "b" / S.LAST).is_file() and not (tmp_path / "b" / S.RESULT).is_file()
    monkeypatch.setattr(S, "save_checkpoint", real_save)
    resumed = S.train_student(inputs, "learned", tmp_path / "b")
    for key in ("dev", "test", "best_episode", "phi"):
        assert resumed[key] == full[key], key
    assert [e["reward"] for e in resumed["log"]] == [e["reward"] for e in full["log"]]
    assert not (tmp_path / "b" / S.LAST).exists()  # a finished run drops its resume state


def test_modes(inputs, tmp_path):
    rnd = S.train_student(inputs, "random", tmp_path / "random")
    rates = [e["keep_rate"] for e in rnd["log"]]
    assert all(0.0 <= r <= 1.0 for r in rates) and 0.2 < sum(rates) / len(rates) < 0.8
    assert all(e["mean_keep_prob"] == 0.5 for e in rnd["log"]) and rnd["phi"] == [0.0] * 7  # no selector
    kd = S.train_student(inputs, "kd", tmp_path / "kd")
    assert all(e["kept"] == 0 and e["keep_rate"] is None for e in kd["log"])
    assert 0.0 <= kd["test"] <= 1.0
    with pytest.raises(Exception, match="student mode"):
        S.run_episodes(inputs, "oracle", tmp_path / "x")


def test_tinybert_kd_loss_switch(inputs, tmp_path):
    import dataclasses

    from hrkd_lite.models.factory import build_teacher

    teacher = build_teacher(inputs.ctx.profile, 2, 1, shared_head=True).eval()
    cfg = inputs.cfg.with_overrides(kd_loss="tinybert", episodes=1, student_layers=(2, 4, 6))
    inp = dataclasses.replace(inputs, cfg=cfg, teacher=teacher)
    student, log, _ = S.run_episodes(inp, "learned", tmp_path / "tb")
    assert student.fit is not None and len(student.fit) == 4  # embeddings + 3 student layers
    assert student.fit[0].bias.abs().sum() > 0  # the TinyBERT terms trained the projections (bias starts at 0)
    assert student.classifier.config.num_layers == 3 and np.isfinite(log[0]["train_loss"])
