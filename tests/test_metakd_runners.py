"""Meta-KD runners on tiny random BERTs (fast) and, marked slow, the real CLI on the ci profile.

Checks: the meta-teacher trains with t_i and the corruption loss and is reused; zero-shot leaves the
target out; the two distillation stages touch what they should (stage 1: no classifier-head gradient;
stage 2: the head learns); a baseline teacher gives a plain TinyBERT student; metrics.json schema.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import hrkd_lite.methods.metakd.features as features
import hrkd_lite.methods.metakd.meta_teacher as meta_teacher
import hrkd_lite.methods.metakd.runner as meta_kd
import hrkd_lite.methods.shared.teachers as teachers
from hrkd_lite.data import load_data
from hrkd_lite.errors import HrkdError
from hrkd_lite.methods.metakd.config import MetaKDConfig
from hrkd_lite.methods.metakd.features import prototype_scores, scores_by_domain
from hrkd_lite.methods.metakd.probe import linear_probe_accuracy
from hrkd_lite.methods.shared.context import prepare
from hrkd_lite.models import BertConfig, BertEncoder, MultiDomainClassifier, truncate_encoder
from hrkd_lite.profiles import get_profile

REPO = Path(__file__).resolve().parents[1]
TINY = BertConfig(vocab_size=30522, hidden_size=32, num_layers=4, num_heads=4, intermediate_size=64,
                  max_position_embeddings=64)


def _tiny_encoder(*_a, **_k) -> BertEncoder:
    torch.manual_seed(123)
    return BertEncoder(BertConfig(**{**TINY.to_dict()}))


def _tiny_teacher(profile, num_labels, num_domains=1, shared_head=False, head_input="dropout",
                  **_k) -> MultiDomainClassifier:
    return MultiDomainClassifier(_tiny_encoder(), num_labels, num_domains, shared_head, head_input=head_input)


def _tiny_student(profile, num_labels, num_domains=1, shared_head=False, init_from=None, head_input="dropout"):
    return MultiDomainClassifier(truncate_encoder(_tiny_encoder(), (2, 4)), num_labels, num_domains, shared_head,
                                 head_input=head_input)


@pytest.fixture
def tiny_ctx(tmp_path, monkeypatch):
    for mod in (meta_teacher, teachers):
        monkeypatch.setattr(mod, "build_teacher", _tiny_teacher)
    monkeypatch.setattr(features, "load_encoder", _tiny_encoder)
    monkeypatch.setattr(meta_kd, "build_student", _tiny_student)
    prof = get_profile("ci").with_overrides(max_len=16, batch_size=4, train_per_domain=12, dev_per_domain=8,
                                            test_per_domain=8, student_layers=(2, 4), synthetic_domains=3,
                                            synthetic_per_domain=60, latency_repeats=1, eval_batch_size=16)
    data = load_data("synthetic", profile=prof, seed=0)
    from hrkd_lite.models.factory import load_tokenizer

    return prepare(prof, data, seed=0, out_dir=tmp_path, progress=False, tokenizer=load_tokenizer("minilm"))


def test_meta_teacher_trains_reuses_and_zero_shot(tiny_ctx):
    cfg = MetaKDConfig()
    bank = meta_teacher.train_meta_teacher(tiny_ctx, cfg, "mt")
    info = json.loads((tiny_ctx.out_dir / "mt" / "meta_teacher.json").read_text())
    assert info["trained_on"] == tiny_ctx.domains
    assert all("domain_ce" in h for h in info["history"])  # corruption loss on
    assert set(bank.accuracy["test"]) == {*tiny_ctx.domains, "average"}
    assert not (tiny_ctx.out_dir / "mt" / "last.safetensors").exists()  # optimiser state removed
    again = meta_teacher.train_meta_teacher(tiny_ctx, cfg, "mt")  # reused, not retrained
    assert again.info == bank.info
    with pytest.raises(HrkdError, match="another name"):
        meta_teacher.train_meta_teacher(tiny_ctx, cfg.with_overrides(use_domain_loss=False), "mt")
    zs = meta_teacher.train_meta_teacher(tiny_ctx, cfg, "zs", exclude=0)
    assert zs.info["trained_on"] == tiny_ctx.domains[1:]
    assert zs.info["weights"][tiny_ctx.domains[0]] == "best_mean.safetensors"
    out, corr = zs[0](*(tiny_ctx.batch(0, "dev", np.arange(3))[k] for k in ("input_ids", "attention_mask")))
    assert out.logits.shape == (3, 2) and corr.feature.shape == (3, 32)
    assert meta_teacher.meta_teacher_name(cfg) == "meta_teacher"
    # Meta-KD's recipe: mixed-domain batches, ONE checkpoint chosen on the mixed dev set, relu head, h̄ after [CLS]
    rc = meta_teacher.recipe_for(tiny_ctx.profile, 3)
    assert info["config"]["recipe"]["teacher_lr"] == pytest.approx(rc.teacher_lr)
    assert set(info["weights"].values()) == {"best_mean.safetensors"}
    pooled_rows = sum(tiny_ctx.encoded.sizes("train"))
    steps = -(-pooled_rows // rc.teacher_batch_size) * rc.teacher_epochs
    assert len(info["history"]) == steps
    assert bank[0].classifier.head_input == "relu" and bank[0].skip_cls
    per_domain = meta_teacher.train_meta_teacher(
        tiny_ctx, cfg, "mt_pd", recipe=rc.with_overrides(teacher_selection="per_domain", teacher_sampler="per_domain"))
    assert per_domain.info["weights"][tiny_ctx.domains[1]] == f"best_{tiny_ctx.domains[1]}.safetensors"
    assert meta_teacher.meta_teacher_name(cfg.with_overrides(prototypes="domain")).startswith("meta_teacher_")


def test_prototype_scores_rows_align_with_splits(tiny_ctx):
    ps = prototype_scores(tiny_ctx, MetaKDConfig())
    per = scores_by_domain(ps, range(3), 3)
    assert [len(s) for s in per] == tiny_ctx.encoded.sizes("train")
    ps2 = prototype_scores(tiny_ctx, MetaKDConfig(), domains=[2, 0])
    per2 = scores_by_domain(ps2, [2, 0], 3)
    assert per2[1] is None and len(per2[2]) == tiny_ctx.encoded.size(2, "train")


def test_two_stages_and_per_instance_lambda(tiny_ctx, monkeypatch):
    cfg = MetaKDConfig()
    bank = meta_teacher.train_meta_teacher(tiny_ctx, cfg, "mt")
    view = meta_kd.TeacherView(bank[1], 0)
    scores = scores_by_domain(prototype_scores(tiny_ctx, cfg), range(3), 3)[1]
    seen = {}
    real_select, real_trainer = meta_kd.train_with_selection, meta_kd.Trainer

    def spy_trainer(module, *a, **k):
        seen["init"] = {n: v.detach().clone() for n, v in module.state_dict().items()}
        return real_trainer(module, *a, **k)

    def spy(ctx, module, classifier, loss_fn, domains, **kw):
        seen["after_stage1"] = {n: v.detach().clone() for n, v in module.state_dict().items()}
        out = real_select(ctx, module, classifier, loss_fn, domains, **kw)
        seen["after_stage2"] = {n: v.detach().clone() for n, v in module.state_dict().items()}
        return out

    def spy_trainer_cfg(module, loss_fn, eval_fn, batches, cfg, *a, **k):
        seen["stage1_cfg"] = cfg
        return spy_trainer(module, loss_fn, eval_fn, batches, cfg, *a, **k)

    monkeypatch.setattr(meta_kd, "Trainer", spy_trainer_cfg)
    monkeypatch.setattr(meta_kd, "train_with_selection", spy)
    res = meta_kd.distill_student(tiny_ctx, view, 1, cfg, scores, "st")
    init, s1, s2 = seen["init"], seen["after_stage1"], seen["after_stage2"]
    head, query = "classifier.heads.0.weight", "classifier.encoder.layers.0.attention.self.query.weight"
    assert query in s1
    assert torch.equal(s1[head], init[head])  # stage 1: intermediate layers only, no head gradient
    for key in (query, "fit.weight", "corruption.corrupt.weight"):  # encoder, W_fit, W^S_c (TKD) learn
        assert not torch.equal(s1[key], init[key]), key
    assert not torch.equal(s2[head], s1[head])  # stage 2: the prediction layer learns
    rc = meta_teacher.recipe_for(tiny_ctx.profile, 3)
    assert seen["stage1_cfg"].schedule == "constant" and seen["stage1_cfg"].lr == pytest.approx(rc.stage1_lr)
    assert 0.27 * 0.5 < res["lambda_mean"] < 2 * 0.5 + 1e-6
    assert 0 <= res["test"] <= 1
    assert (tiny_ctx.out_dir / "st" / "result.json").is_file()
    assert not (tiny_ctx.out_dir / "st" / "stage1").exists()
    again = meta_kd.distill_student(tiny_ctx, view, 1, cfg, scores, "st")  # cached
    assert again["test"] == res["test"]
    table = meta_kd.expertise_table(view, tiny_ctx, 1, scores)
    assert table["lam"].shape == table["p"].shape == (tiny_ctx.encoded.size(1, "train"),)
    assert np.all((table["lam"] > 0) & (table["lam"] <= 1.0 + 1e-6))


def test_teacher_train_mode_keeps_dropout_on_without_gradients(tiny_ctx):
    bank = meta_teacher.train_meta_teacher(tiny_ctx, MetaKDConfig(), "mt")
    b = tiny_ctx.batch(0, "train", np.arange(4))
    on, off = meta_kd.TeacherView(bank[0], 0, train_mode=True), meta_kd.TeacherView(bank[0], 0)
    torch.manual_seed(0)
    a1, a2 = on(b, 0)[0].logits, on(b, 0)[0].logits
    assert not torch.equal(a1, a2) and not a1.requires_grad  # dropout on, no graph into the teacher
    assert torch.equal(off(b, 0)[0].logits, off(b, 0)[0].logits)  # eval mode: deterministic


def test_run_meta_kd_baseline_zero_shot_and_metrics(tiny_ctx):
    m = meta_kd.run_meta_kd(tiny_ctx, teacher="mix", targets="books")
    assert m["method"] == "meta-kd/mix-teacher" and not m["use_expertise_weights"]
    assert set(m["accuracy"]["test"]) == {"books", "average"}
    assert json.loads((tiny_ctx.out_dir / "metrics.json").read_text())["method"] == m["method"]
    mix = json.loads((tiny_ctx.out_dir / "mix_teacher" / "meta_teacher.json").read_text())
    assert not mix["config"]["use_sample_weights"] and not mix["config"]["use_domain_loss"]
    assert all("domain_ce" not in h for h in mix["history"])  # plain CE
    s = meta_kd.run_meta_kd(tiny_ctx, teacher="single", targets="electronics")
    single = json.loads((tiny_ctx.out_dir / "single_teacher_electronics" / "meta_teacher.json").read_text())
    assert single["trained_on"] == ["electronics"] and single["weights"]["books"] == "best_mean.safetensors"
    assert s["per_target"]["electronics"]["lambda_mean"] is None  # baseline student: λ ≡ 1
    z = meta_kd.run_meta_kd(tiny_ctx, teacher="meta", targets="movies", zero_shot=True, schedule="joint")
    assert z["method"] == "meta-kd/zero-shot" and z["per_target"]["movies"]["lambda_mean"] is not None
    assert (tiny_ctx.out_dir / "meta_teacher_no_movies" / "meta_teacher.json").is_file()
    with pytest.raises(HrkdError, match="valid choices"):
        meta_kd.run_meta_kd(tiny_ctx, teacher="meta", targets="nowhere")


def test_domain_probe_separates_obvious_domains():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(120, 6, generator=g)
    y = torch.arange(120) % 3
    x[:, 0] += 4 * y  # domain is linearly readable from feature 0
    assert linear_probe_accuracy(x[:90], y[:90], x[90:], y[90:]) > 0.9
    shuffled = y[torch.randperm(120, generator=g)]
    assert linear_probe_accuracy(torch.randn(90, 6, generator=g), shuffled[:90],
                                              torch.randn(30, 6, generator=g), shuffled[90:]) < 0.7


@pytest.mark.slow
def test_cli_meta_teacher_and_meta_kd(tmp_path):
    env = {"HRKD_PROFILE": "ci", "HF_HUB_OFFLINE": "1", "PATH": ""}
    base = [sys.executable, "-m", "hrkd_lite", "run"]
    r = subprocess.run([*base, "meta-teacher", "--out", str(tmp_path), "--no-progress"], cwd=REPO, env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    m = json.loads((tmp_path / "metrics.json").read_text())
    assert m["method"] == "meta-teacher" and m["params"]["total"] > 0
    r = subprocess.run([*base, "meta-kd", "--out", str(tmp_path), "--targets", "books", "--no-progress",
                        "--instance-weighting", "batch_mean"], cwd=REPO, env=env, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    m = json.loads((tmp_path / "metrics.json").read_text())
    assert m["method"] == "meta-kd" and m["metakd"]["instance_weighting"] == "batch_mean"
    assert set(m["accuracy"]["dev"]) == {"books", "average"} and "batch1" in m["latency_ms"]
    bad = subprocess.run([*base, "meta-kd", "--out", str(tmp_path), "--prototypes", "cluster"], cwd=REPO,
                         env=env, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "invalid choice" in bad.stderr and "Traceback" not in bad.stderr


@pytest.mark.parametrize("method", ["meta-kd", "meta-teacher", "tinybert", "hrkd"])
def test_cli_parsers_build_with_the_fidelity_flags(method, capsys):
    from hrkd_lite.cli import main

    with pytest.raises(SystemExit) as err:
        main(["run", method, "--help"])
    assert err.value.code == 0
    text = capsys.readouterr().out
    wanted = {"meta-kd": ["--pred-ce-reduction", "--teacher-train-mode", "--target-few-shot-mode", "--few-shot-mode"],
              "meta-teacher": ["--corruption-skip-cls", "--head-input"], "tinybert": ["--teacher "],
              "hrkd": ["--prototype-group-split"]}[method]
    assert all(w in text for w in wanted), text
