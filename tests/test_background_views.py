"""Notebook 00 views: data functions, figures, and the widget callbacks driven headlessly (set ``.value``,
check that the state the callback recomputed changed). Tiny random models only; no teacher download."""

from __future__ import annotations

import copy
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from hrkd_lite.distill import FitDenses, describe_maps, hinton_kd, uniform_map
from hrkd_lite.experiments import nb00
from hrkd_lite.models import (
    PRESETS,
    BertEncoder,
    MultiDomainClassifier,
    config_parameter_counts,
    truncate_encoder,
)
from hrkd_lite.viz import background_views as bv
from hrkd_lite.viz import common

pytest.importorskip("ipywidgets")


@pytest.fixture
def logits():
    g = torch.Generator().manual_seed(0)
    t = torch.randn(12, 3, generator=g) * 3
    s = torch.randn(12, 3, generator=g)
    y = torch.randint(0, 3, (12,), generator=g)
    return t, s, y


@pytest.fixture(scope="module")
def tiny_pair():
    """A 4-layer random teacher classifier and a 2-layer student truncated from it (layers {2, 4})."""
    torch.manual_seed(0)
    cfg = copy.deepcopy(PRESETS["tiny-test"])
    cfg.num_layers = 4
    teacher = MultiDomainClassifier(BertEncoder(cfg), num_labels=2).eval()
    student = MultiDomainClassifier(truncate_encoder(teacher.encoder, (2, 4)), num_labels=2).eval()
    ids = torch.randint(5, cfg.vocab_size, (3, 10))
    mask = torch.ones_like(ids)
    mask[1, 7:] = 0
    return teacher, student, {"input_ids": ids, "attention_mask": mask}


# -- 1. parameters ------------------------------------------------------------------------------------

def test_param_breakdown_from_configs_and_embedding_lesson():
    configs = {"BERT-base": PRESETS["bert-base"], "TinyBERT-4": PRESETS["tinybert-4l"]}
    small = copy.deepcopy(PRESETS["minilm-l6"])
    small.num_layers = 2
    configs["2-layer student"] = small
    bd = bv.param_breakdown(configs)
    assert bd["BERT-base"]["total"] == config_parameter_counts(PRESETS["bert-base"])["total"] == 109_482_240
    assert bd["2-layer student"]["total"] == 15_615_360  # background.md §2 [D]
    assert bd["2-layer student"]["embedding_share"] > 0.5 > bd["BERT-base"]["embedding_share"]
    assert sum(bd["TinyBERT-4"][c] for c in bv.COMPONENTS) == bd["TinyBERT-4"]["total"]
    assert isinstance(bv.plot_param_breakdown(bd), Figure)
    lo, hi = bv.adabert_range(bd["BERT-base"]["total"])
    assert 6.4e6 < lo < hi < 9.6e6


def test_paper_sizes_agree_with_arithmetic():
    rows = bv.paper_size_check()
    assert {r["tag"] for r in rows} and all(r["tag"] for r in rows)
    assert all(r["rel_err"] < 0.05 for r in rows)


# -- 2. latency ---------------------------------------------------------------------------------------

def test_latency_functions_on_tiny_models(tiny_pair):
    teacher, student, _ = tiny_pair
    res = bv.interleaved_latency({"t": teacher.encoder, "s": student.encoder}, 2, 8, rounds=2)
    assert set(res) == {"t", "s"} and all(len(v["all_ms"]) == 2 and v["median_ms"] > 0 for v in res.values())
    seq = bv.latency_vs_seq({"t": teacher.encoder}, (4, 8), 2, rounds=1)
    assert seq["seq_len"] == [4, 8] and len(seq["t"]) == 2
    dep = bv.latency_vs_depth(teacher.encoder, [1, 2, 4], seq_len=8, batch_size=2, rounds=1)
    assert dep["depth"] == [1, 2, 4] and all(ms > 0 for ms in dep["ms"])
    seq2 = {"seq_len": [4, 8], "teacher": [4.0, 9.0], "student": [2.0, 3.0]}
    fig = bv.plot_latency(seq2, {**dep, "ms": [1.0, 2.0, 4.0]}, "cpu", 2)
    speed = fig.axes[1]
    assert list(speed.lines[0].get_ydata()) == pytest.approx([2.0, 3.0])  # teacher ms / student ms
    assert "speed-up" in speed.get_ylabel()
    twin = [ax for ax in fig.axes if "speed-up over all layers" in ax.get_ylabel()][0]
    assert list(twin.lines[0].get_ydata()) == pytest.approx([4.0, 2.0, 1.0])


# -- 3. soft targets ----------------------------------------------------------------------------------

def test_entropy_grows_with_temperature(logits):
    t, _, _ = logits
    st = bv.soft_targets(t, (1, 2, 5, 10))
    assert st["probs"].shape == (4, 12, 3)
    assert (np.diff(st["entropy"], axis=0) > 0).all()
    assert (st["entropy"] <= math.log(3) + 1e-6).all()
    ex = bv.pick_examples(t, 3)
    margins = (t.max(-1).values - t.min(-1).values).numpy()
    assert margins[ex[0]] == margins.max() and margins[ex[-1]] == margins.min()
    assert isinstance(bv.plot_soft_targets(t, ex, (1, 5), ["a", "b", "c"], ["x" * 40] * 12), Figure)


def test_kd_loss_parts_sum_to_hinton_kd(logits):
    t, s, y = logits
    parts = bv.kd_loss_parts(s, t, y, temperature=3.0, alpha=0.3)
    assert parts["ce"] + parts["kd"] == pytest.approx(parts["total"], abs=1e-5)
    assert parts["total"] == pytest.approx(float(hinton_kd(s, t, y, temperature=3.0, alpha=0.3)), abs=1e-6)


def test_t2_gradient_table_tends_to_logit_matching(logits):
    t, s, _ = logits
    temps = (1, 4, 16, 256, 4096)
    tab = bv.t2_gradient_table(s, t, temps)
    assert np.allclose(np.array(tab["grad_plain"]) * np.array(temps) ** 2, tab["grad_t2"], rtol=1e-6)
    gaps = [abs(r - 1) for r in tab["grad_ratio_to_limit"]]
    assert gaps[-1] < 1e-4 and gaps[-1] < gaps[-2] < gaps[0]  # the gap shrinks like |z|/T
    assert tab["loss_ratio_to_limit"][-1] == pytest.approx(1.0, abs=1e-3)
    assert tab["grad_plain"][-1] < 1e-3 * tab["grad_plain"][0]
    assert isinstance(bv.plot_t2(tab), Figure)


def test_soft_target_widget_callbacks(logits):
    t, s, y = logits
    widget, state = bv.soft_target_widget(t, s, y, ["a", "b", "c"], [f"text {i}" for i in range(12)],
                                          temperature=1.0, alpha=0.5)
    assert widget is not None and state["updates"] == 1
    fig0, h0, p0 = state["fig"], state["entropy"], state["p_teacher"].copy()
    state["controls"]["T"].value = 8.0
    assert state["T"] == 8.0 and state["updates"] == 2
    assert state["entropy"] > h0 and state["fig"] is not fig0
    assert not np.allclose(state["p_teacher"], p0)
    assert state["mean_entropy"] <= math.log(3) + 1e-6
    kd_before = state["parts"]["total"]
    state["controls"]["alpha"].value = 0.9
    assert state["alpha"] == 0.9 and state["parts"]["total"] != pytest.approx(kd_before)
    assert state["parts"]["ce"] + state["parts"]["kd"] == pytest.approx(state["parts"]["total"], abs=1e-5)
    state["controls"]["index"].value = 5
    assert state["index"] == 5 and state["label"] == int(y[5])
    assert np.allclose(state["p_teacher"], torch.softmax(t[5] / 8.0, -1).numpy(), atol=1e-6)


# -- 4. KD-run summaries ------------------------------------------------------------------------------

def _metrics(avg: float, lat: float = 10.0) -> dict:
    return {"accuracy": {"test": {"a": avg, "b": avg, "average": avg}},
            "latency_ms": {"batch32": lat}, "params": {"total": 1_000_000}}


def _result(student: list[float], kd: list[float], n: int = 50) -> dict:
    ctx = SimpleNamespace(domains=["a", "b"], encoded=SimpleNamespace(size=lambda d, split: n))
    return {"ctx": ctx, "teacher": _metrics(0.9, 20.0), "seeds": list(range(len(student))),
            "runs": {"student": [_metrics(a) for a in student], "kd": [_metrics(a) for a in kd],
                     "tinybert": [_metrics(a) for a in kd]}}


def test_kd_gain_summary_never_claims_from_noise():
    one = bv.kd_gain_summary(_result([0.70], [0.80]))
    assert one["seeds"] == 1 and one["verdict"].startswith("one seed")
    small = bv.kd_gain_summary(_result([0.70, 0.72, 0.71], [0.71, 0.72, 0.72]))
    assert small["within_noise"] and small["verdict"] == "within noise"
    big = bv.kd_gain_summary(_result([0.60, 0.61, 0.60], [0.80, 0.81, 0.80], n=2000))
    assert big["verdict"] == "better than no-KD beyond noise" and big["gain"] == pytest.approx(0.2, abs=1e-9)


def test_accuracy_rows():
    header, rows = bv.accuracy_rows(_result([0.7, 0.8], [0.75, 0.85]))
    assert header[:4] == ["method", "a", "b", "average"]
    assert [r[0] for r in rows] == ["teacher", "student", "kd", "tinybert"]
    assert rows[1][3] == "75.0" and rows[1][4] == "5.0" and rows[1][-1] == "2.00x"


# -- 5. TinyBERT / MiniLM -----------------------------------------------------------------------------

def test_tinybert_terms_and_maps(tiny_pair):
    teacher, student, batch = tiny_pair
    layer_map = uniform_map(4, 2)
    with torch.no_grad():
        t_out, s_out = teacher(**batch), student(**batch)
    fit = FitDenses(32, 32, 3, init="identity")
    terms = bv.tinybert_terms(t_out, s_out, fit, layer_map)
    assert set(terms) == {"emb", "attn_1", "hid_1", "attn_2", "hid_2", "total"}
    assert terms["emb"] == pytest.approx(0.0, abs=1e-10)  # the student copied the teacher's embeddings
    assert terms["total"] == pytest.approx(sum(v for k, v in terms.items() if k != "total"))
    head = bv.head_to_show(t_out, s_out, layer_map)
    assert 0 <= head < 4
    tokens = [f"t{i}" for i in range(10)]
    fig = bv.plot_attention_maps(t_out, {"before": s_out}, layer_map, 0, head, tokens)
    assert len(fig.axes) == 2 * 2 + 2  # 2 student layers × (teacher, student) + one colour bar per row
    shown = np.asarray(fig.axes[1].collections[0].get_array()).reshape(10, 10)  # layer 1, the student
    assert np.allclose(shown, s_out.attention_scores[0][0, head, :10, :10].numpy())
    assert len(fig.axes[1].texts) == 100  # ≤ 10 tokens: every cell annotated
    assert sum(ax.get_label() == "<colorbar>" for ax in fig.axes) == 2
    assert isinstance(bv.plot_hidden_terms(terms, terms), Figure)
    losses = bv.transfer_losses(t_out, s_out, batch["attention_mask"], layer_map, fit=fit)
    assert losses["tinybert_intermediate"] == pytest.approx(terms["total"], rel=1e-6)
    assert all(math.isfinite(v) and v >= -1e-7 for v in losses.values())
    # PKD-Skip for L=4, M=2 pairs student layer 1 with teacher layer 2, on the [CLS] token
    cls_s, cls_t = s_out.hidden_states[1][:, 0], t_out.hidden_states[2][:, 0]
    manual = torch.nn.functional.mse_loss(torch.nn.functional.normalize(cls_s, dim=-1),
                                          torch.nn.functional.normalize(cls_t, dim=-1))
    assert losses["pkd_patience"] == pytest.approx(manual.item(), rel=1e-6)


def test_minilm_transfer_reduces_its_loss(tiny_pair):
    teacher, student, batch = tiny_pair
    torch.manual_seed(1)
    fresh = BertEncoder(copy.deepcopy(student.encoder.config))  # random student: far from the teacher
    out = nb00.minilm_transfer(fresh, teacher.encoder, [batch], eval_batch=batch, steps=15, lr=3e-3)
    assert len(out["history"]) == 15
    assert sum(out["after"].values()) < sum(out["before"].values())
    assert out["student"] is not fresh
    fig = bv.plot_value_relations(teacher.encoder, {"before": fresh, "after": out["student"]}, batch, 0, 1,
                                  [f"t{i}" for i in range(10)])
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 3 + 1 and fig.axes[-1].get_label() == "<colorbar>"  # one shared colour bar
    heats = [np.asarray(ax.collections[0].get_array()).reshape(10, 10) for ax in fig.axes[:3]]
    assert np.allclose([h.sum(axis=1) for h in heats], 1.0, atol=1e-5)  # softmax rows: the relations themselves


# -- 6. layer maps ------------------------------------------------------------------------------------

@pytest.mark.parametrize("L,M", [(12, 4), (6, 2), (1, 1), (7, 3)])
def test_plot_layer_maps(L, M):
    assert isinstance(bv.plot_layer_maps(L, M), Figure)


def test_layer_map_widget_callbacks():
    widget, state = bv.layer_map_widget(teacher_layers=12, student_layers=4)
    assert widget is not None and state["maps"] == describe_maps(12, 4)
    fig0 = state["fig"]
    state["controls"]["teacher"].value = 6
    state["controls"]["student"].value = 2
    assert (state["L"], state["M"]) == (6, 2) and state["fig"] is not fig0
    assert state["maps"]["tinybert"] == [(0, 0), (1, 3), (2, 6)]
    assert state["maps"]["minilm"] == [(2, 6)]
    state["controls"]["teacher"].value = 1  # the student slider is clamped to the teacher depth
    assert state["controls"]["student"].value == 1 and (state["L"], state["M"]) == (1, 1)
    assert state["maps"] == describe_maps(1, 1)


# -- 7. transfer table and shared helpers -------------------------------------------------------------

def test_transfer_table_names_existing_functions():
    import re

    import hrkd_lite.distill as distill

    text = bv.transfer_table_markdown()
    assert text.count("\n") == len(bv.TRANSFER_ROWS) + 1
    for row in bv.TRANSFER_ROWS:
        assert len(row) == len(bv.TRANSFER_HEADER)
        for name in re.findall(r"`(\w+)`", row[-1]):
            assert hasattr(distill, name) or name == "truncate_encoder", name


def test_common_helpers(tmp_path, monkeypatch):
    monkeypatch.setenv("HRKD_FIGURES_DIR", str(tmp_path / "figs"))
    fig, ax = common.new_figure()
    ax.plot([0, 1], [1, 0])
    path = common.save_figure(fig, "x")
    assert path == tmp_path / "figs" / "x.png" and path.read_bytes()[:4] == b"\x89PNG"
    common.show_static(fig, "y")
    assert (tmp_path / "figs" / "y.png").is_file()
    assert common.markdown_table(["a", "b"], [[1, 2]]) == "| a | b |\n|---|---|\n| 1 | 2 |"
    assert common.repo_root(tmp_path) is None
    monkeypatch.setenv("HRKD_RUNS_DIR", str(tmp_path / "runs"))
    assert common.runs_dir("nb00") == tmp_path / "runs" / "nb00"


def test_unequal_widths_like_colab(tiny_pair):
    """Colab pairs bert-base (768) with TinyBERT (312): W_h projects, MiniLM needs no projection, PKD and
    DistilBERT's cosine (no projection) are reported as NaN."""
    teacher, _, batch = tiny_pair
    torch.manual_seed(2)
    cfg = copy.deepcopy(teacher.encoder.config)
    cfg.hidden_size, cfg.intermediate_size, cfg.num_layers = 16, 32, 2  # 4 heads of width 4
    student = MultiDomainClassifier(BertEncoder(cfg), num_labels=2).eval()
    with torch.no_grad():
        t_out, s_out = teacher(**batch), student(**batch)
    fit = FitDenses(16, 32, 3)
    losses = bv.transfer_losses(t_out, s_out, batch["attention_mask"], uniform_map(4, 2), fit=fit)
    assert math.isnan(losses["pkd_patience"]) and math.isnan(losses["distilbert_cosine"])
    for key in ("hinton_kd", "tinybert_intermediate", "tinybert_pred", "minilm_attention", "minilm_value_relation"):
        assert math.isfinite(losses[key]), key
    out = nb00.minilm_transfer(student.encoder, teacher.encoder, [batch], eval_batch=batch, steps=3, lr=1e-3)
    assert set(out["after"]) == {"attention_kl", "value_relation_kl"}


# -- what a reader sees: every control redraws the widget's image ----------------------------------

@pytest.mark.parametrize("control,value", [("T", 8.0), ("alpha", 0.9), ("index", 5)])
def test_soft_target_widget_redraws_its_image(logits, control, value):
    t, s, y = logits
    widget, state = bv.soft_target_widget(t, s, y, ["a", "b", "c"], [f"text {i}" for i in range(12)])
    out = widget.children[-1]
    before = common.output_png(out)
    assert before is not None and before == state["png"]
    state["controls"][control].value = value
    assert common.output_png(out) == state["png"] != before


@pytest.mark.parametrize("control,value", [("teacher", 6), ("student", 2)])
def test_layer_map_widget_redraws_its_image(control, value):
    widget, state = bv.layer_map_widget(teacher_layers=12, student_layers=4)
    out = widget.children[-1]
    before = common.output_png(out)
    assert before is not None and before == state["png"]
    state["controls"][control].value = value
    assert common.output_png(out) == state["png"] != before
