"""Golden-value tests for hrkd_lite.distill.losses, projections and tinybert.

The expected numbers were worked out by hand / with plain ``math`` (softmax by exp and sum), never by
calling the function under test; the derivations are in the comments.
"""

from __future__ import annotations

import math
import re
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from hrkd_lite.distill import (
    FitDenses,
    attention_score_mse,
    distilbert_cosine_loss,
    embedding_mse,
    hidden_mse,
    hinton_kd,
    minilm_attention_kl,
    minilm_value_relation_kl,
    pkd_patience_loss,
    pkd_skip_map,
    soft_cross_entropy,
    softmax_with_temperature,
    tinybert_indices,
    tinybert_layer_losses,
    tinybert_total,
    uniform_map,
    value_relation,
    zero_masked_scores,
)
from hrkd_lite.errors import HrkdError

TOL = 1e-5

# Shared 2x3 logits. softmax by hand: p = exp(z/T) / sum exp(z/T).
ZS = [[1.0, 2.0, 0.0], [0.5, -0.5, 1.0]]
ZT = [[2.0, 1.0, 0.0], [0.0, 0.0, 2.0]]
Y = [0, 2]
# T=1: KL(p_t||p_s) per example = [0.42051248, 0.15157188], batchmean 0.28604218
#      CE(y, p_s) = -log p_s[y] = [1.40760596, 0.60413061], mean 1.00586828
# T=2: KL per example = [0.09964225, 0.04806263], batchmean 0.07385244; T^2 * KL = 0.29540976
# soft CE -sum p_t log p_s: T=1 [1.25290807, 0.81714456] (batchmean 1.03502631, /3 = 0.34500877)
#                           T=2 [1.11983359, 1.02339046] (batchmean 1.07161202, /3 = 0.35720401)


def _zs() -> torch.Tensor:
    return torch.tensor(ZS, requires_grad=True)


def _zt() -> torch.Tensor:
    return torch.tensor(ZT)


def _close(x: torch.Tensor, expected, tol: float = TOL) -> None:
    assert torch.allclose(x.detach().double(), torch.as_tensor(expected, dtype=torch.float64), atol=tol), (
        x,
        expected,
    )


# ---------------------------------------------------------------- softmax / Hinton KD


def test_softmax_with_temperature_golden():
    # z = [ln 3, 0]: T=1 -> [3/4, 1/4]; T=2 -> [sqrt3, 1]/(sqrt3+1) = [0.6339746, 0.3660254]
    z = torch.tensor([math.log(3.0), 0.0])
    _close(softmax_with_temperature(z, 1.0), [0.75, 0.25])
    _close(softmax_with_temperature(z, 2.0), [0.6339746, 0.3660254])
    with pytest.raises(HrkdError):
        softmax_with_temperature(z, 0.0)


def test_hinton_kd_without_labels_is_t2_kl():
    _close(hinton_kd(_zs(), _zt(), temperature=1.0), 0.28604218)
    _close(hinton_kd(_zs(), _zt(), temperature=2.0), 0.29540976)  # 4 * 0.07385244
    _close(hinton_kd(_zs(), _zt(), temperature=2.0, t2=False), 0.07385244)
    # alpha is not applied when labels are None
    _close(hinton_kd(_zs(), _zt(), temperature=2.0, alpha=0.1), 0.29540976)


def test_hinton_kd_with_labels():
    y = torch.tensor(Y)
    # T=1, a=0.5: 0.5*1.00586828 + 0.5*0.28604218 = 0.64595523
    _close(hinton_kd(_zs(), _zt(), y, temperature=1.0, alpha=0.5), 0.64595523)
    # T=2, a=0.5: 0.5*1.00586828 + 0.5*4*0.07385244 = 0.65063902
    _close(hinton_kd(_zs(), _zt(), y, temperature=2.0, alpha=0.5), 0.65063902)
    # T=2, a=0.3, no T^2: 0.7*1.00586828 + 0.3*0.07385244 = 0.72626353
    _close(hinton_kd(_zs(), _zt(), y, temperature=2.0, alpha=0.3, t2=False), 0.72626353)
    # per example, T=2, a=0.5: 0.5*[1.40760596, 0.60413061] + 2*[0.09964225, 0.04806263]
    per = hinton_kd(_zs(), _zt(), y, temperature=2.0, reduction="none")
    assert per.shape == (2,)
    _close(per, [0.90308749, 0.39819055])
    # alpha = 0 is plain CE
    _close(hinton_kd(_zs(), _zt(), y, temperature=5.0, alpha=0.0), 1.00586828)


def test_hinton_kd_t2_keeps_gradient_scale():
    # zero-mean logits, one example, N = 3 classes
    zs0 = [[1.0, -1.0, 0.0]]
    zt = torch.tensor([[-1.0, 0.5, 0.5]])

    def grad(temp: float, t2: bool) -> torch.Tensor:
        zs = torch.tensor(zs0, requires_grad=True)
        hinton_kd(zs, zt, temperature=temp, t2=t2).backward()
        return zs.grad

    r_t2 = grad(10.0, True).norm() / grad(20.0, True).norm()
    r_raw = grad(10.0, False).norm() / grad(20.0, False).norm()
    assert abs(r_t2 - 1.0) < 0.05  # T^2 makes the scale ~ independent of T
    assert abs(r_raw - 4.0) < 0.2  # without it the gradient shrinks as 1/T^2
    # T -> inf limit: dL/dz_s -> (z_s - z_t)/N = [2, -1.5, -0.5]/3
    _close(grad(200.0, True), [[0.6666667, -0.5, -0.1666667]], tol=5e-3)


def test_hinton_kd_validates():
    with pytest.raises(HrkdError):
        hinton_kd(_zs(), _zt(), reduction="sum")
    with pytest.raises(HrkdError):
        hinton_kd(_zs(), _zt(), alpha=1.5)
    with pytest.raises(HrkdError):
        hinton_kd(_zs(), _zt()[:, :2])


@pytest.mark.parametrize("bad", [math.inf, math.nan, 0.0, -1.0, True, "2", torch.tensor([2.0, 3.0])])
def test_temperature_must_be_a_finite_positive_number(bad):
    z = _zs()
    for call in (
        lambda: softmax_with_temperature(z, bad),
        lambda: hinton_kd(z, _zt(), torch.tensor(Y), temperature=bad),
        lambda: soft_cross_entropy(z, _zt(), temperature=bad),
    ):
        with pytest.raises(HrkdError, match="temperature must be a finite number > 0") as err:
            call()
        assert "\n" not in str(err.value)


def test_temperature_accepts_int_and_float_alike():
    _close(hinton_kd(_zs(), _zt(), temperature=2), hinton_kd(_zs(), _zt(), temperature=2.0).item())


def test_hinton_kd_ignore_index_golden():
    # Row 1 is ignored (label -100): it must add nothing to either term, and the mean is taken over the
    # 2 other rows, so the golden values are those of the 2-row case above (hand computed there).
    zs = torch.tensor([ZS[0], [9.0, -3.0, 1.0], ZS[1]], requires_grad=True)
    zt = torch.tensor([ZT[0], [0.0, 5.0, 0.0], ZT[1]])
    y = torch.tensor([Y[0], -100, Y[1]])
    # T=2, a=0.5: 0.5*mean CE [1.40760596, 0.60413061] + 0.5*4*mean KL [0.09964225, 0.04806263]
    loss = hinton_kd(zs, zt, y, temperature=2.0, alpha=0.5)
    _close(loss, 0.65063902)
    _close(hinton_kd(zs, zt, y, temperature=2.0, reduction="none"), [0.90308749, 0.0, 0.39819055])
    loss.backward()
    assert zs.grad[1].abs().sum() == 0  # no gradient from the ignored row
    assert zs.grad[0].abs().sum() > 0
    # a custom ignore index works the same way
    _close(hinton_kd(zs, zt, torch.tensor([Y[0], 7, Y[1]]), temperature=2.0, ignore_index=7), 0.65063902)
    # every row ignored: 0 (a batch with nothing to learn from), not NaN
    _close(hinton_kd(zs, zt, torch.full((3,), -100), temperature=2.0), 0.0)


@pytest.mark.parametrize(
    "labels, expected",
    [
        ([0, -1], "labels must be class indices in [0, 3) or ignore_index -100; got -1"),
        ([0, 3], "labels must be class indices in [0, 3) or ignore_index -100; got 3"),
        ([0, 1, 2], "labels shape (3,) != (2,)"),
        ([0.0, 1.0], "labels must be an integer tensor"),
    ],
)
def test_hinton_kd_rejects_bad_labels(labels, expected):
    with pytest.raises(HrkdError, match=re.escape(expected)):
        hinton_kd(_zs(), _zt(), torch.tensor(labels), temperature=2.0)


# ---------------------------------------------------------------- soft cross-entropy


def test_soft_cross_entropy_reductions():
    _close(soft_cross_entropy(_zs(), _zt()), 0.34500877)  # default mean_classes = batchmean / C
    _close(soft_cross_entropy(_zs(), _zt(), reduction="batchmean"), 1.03502631)
    _close(soft_cross_entropy(_zs(), _zt(), reduction="none"), [1.25290807, 0.81714456])
    _close(soft_cross_entropy(_zs(), _zt(), temperature=2.0, reduction="batchmean"), 1.07161202)
    _close(soft_cross_entropy(_zs(), _zt(), temperature=2.0), 0.35720401)
    mc = soft_cross_entropy(_zs(), _zt(), temperature=2.0, reduction="mean_classes")
    bm = soft_cross_entropy(_zs(), _zt(), temperature=2.0, reduction="batchmean")
    _close(mc, bm.item() / 3)
    _close(soft_cross_entropy(_zs(), _zt(), reduction="none_mean_classes"), [1.25290807 / 3, 0.81714456 / 3])
    with pytest.raises(HrkdError, match="mean_classes"):
        soft_cross_entropy(_zs(), _zt(), reduction="mean")


def test_soft_cross_entropy_reference_scale_by_hand():
    """The reference (TinyBERT / HRKD / Meta-KD stage 2) value, computed by hand for one small batch:
    z_s = [[0, ln 2], [ln 3, 0]], z_t = [[0, 0], [ln 3, 0]] (C = 2).
    p_t = [[1/2, 1/2], [3/4, 1/4]]; log_softmax(z_s) = [[ln 1/3, ln 2/3], [ln 3/4, ln 1/4]].
    Per example (class sum): CE_1 = -(ln(1/3) + ln(2/3))/2 = ln(9/2)/2; CE_2 = -(3 ln(3/4) + ln(1/4))/4.
    Reference = mean over batch AND classes = (CE_1 + CE_2) / (2 · 2)."""
    import math

    zs = torch.tensor([[0.0, math.log(2)], [math.log(3), 0.0]])
    zt = torch.tensor([[0.0, 0.0], [math.log(3), 0.0]])
    ce1 = math.log(4.5) / 2
    ce2 = -(3 * math.log(0.75) + math.log(0.25)) / 4
    _close(soft_cross_entropy(zs, zt), (ce1 + ce2) / 4)  # default = reference
    _close(soft_cross_entropy(zs, zt, reduction="batchmean"), (ce1 + ce2) / 2)  # the switch: C x larger
    _close(soft_cross_entropy(zs, zt, reduction="none_mean_classes"), [ce1 / 2, ce2 / 2])
    _close(soft_cross_entropy(zs, zt, reduction="none"), [ce1, ce2])


def test_soft_cross_entropy_default_is_tinyberts_mean_over_batch_and_classes():
    # TinyBERT's task_distill.py soft CE: (-softmax(z_t) * log_softmax(z_s)).mean(), over B and C
    zs, zt = _zs(), _zt()
    tinybert = (-F.softmax(zt, dim=-1) * F.log_softmax(zs, dim=-1)).mean()
    _close(soft_cross_entropy(zs, zt), tinybert.item())
    # ... and the docstring credits TinyBERT to that reduction, not to "batchmean"
    reductions = soft_cross_entropy.__doc__.split("Args:")[0].split("- ``")[1:]  # one bullet each
    bullets = {bullet.split("``")[0].strip('"'): bullet for bullet in reductions}
    assert "TinyBERT" in bullets["mean_classes"]
    assert "TinyBERT" not in bullets["batchmean"]


# ---------------------------------------------------------------- hidden / embedding MSE


def test_hidden_mse_identity_and_fixed_projection():
    s = torch.tensor([[[1.0, 2.0], [3.0, 4.0]]])  # (1, 2, 2)
    t = torch.tensor([[[1.0, 2.0], [3.0, 6.0]]])
    # plain: squared diffs [0, 0, 0, 4] -> mean 1.0
    _close(hidden_mse(s, t), 1.0)
    _close(hidden_mse(s, t, proj=nn.Identity()), 1.0)
    # W (3x2) = [[1,0],[0,1],[1,1]], b = [0,0,1]: rows [1,2,4] and [3,4,8]
    lin = nn.Linear(2, 3)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]))
        lin.bias.copy_(torch.tensor([0.0, 0.0, 1.0]))
    t3 = torch.tensor([[[1.0, 2.0, 3.0], [3.0, 3.0, 8.0]]])
    # diffs [0,0,1],[0,1,0] -> 2 / 6 elements
    _close(hidden_mse(s, t3, proj=lin), 1.0 / 3.0)
    assert embedding_mse is hidden_mse
    with pytest.raises(HrkdError):
        hidden_mse(s, t3)  # width mismatch without projection


def test_hidden_mse_none_shape_and_mean():
    torch.manual_seed(0)
    s, t = torch.randn(4, 5, 6), torch.randn(4, 5, 6)
    per = hidden_mse(s, t, reduction="none")
    assert per.shape == (4,)
    _close(per[1], ((s[1] - t[1]) ** 2).mean().item())
    _close(per.mean(), hidden_mse(s, t).item())


# ---------------------------------------------------------------- attention score MSE


def test_zero_masked_scores_threshold():
    x = torch.tensor([-10000.0, -100.0, -99.9, 0.5])
    _close(zero_masked_scores(x), [0.0, 0.0, -99.9, 0.5])
    _close(zero_masked_scores(x, threshold=-1e4), [0.0, -100.0, -99.9, 0.5])


def test_attention_score_mse_golden():
    s = torch.tensor([[[[1.0, -10000.0], [2.0, 3.0]]]])  # (1,1,2,2)
    t = torch.tensor([[[[0.0, -10000.0], [-10000.0, 1.0]]]])
    # after Z: s [[1,0],[2,3]], t [[0,0],[0,1]] -> diffs [1,0,2,2] -> (1+0+4+4)/4 = 2.25
    _close(attention_score_mse(s, t), 2.25)
    # masked on both sides contributes nothing, whatever the raw mask values
    s2 = torch.tensor([[[[1.0, -20000.0], [2.0, 3.0]]]])
    _close(attention_score_mse(s2, t), 2.25)
    with pytest.raises(HrkdError):
        attention_score_mse(s, torch.zeros(1, 2, 2, 2))


def test_attention_score_mse_none_mean():
    torch.manual_seed(1)
    s, t = torch.randn(3, 2, 4, 4), torch.randn(3, 2, 4, 4)
    s[:, :, :, -1] = -10000.0
    t[:, :, :, -1] = -10000.0
    per = attention_score_mse(s, t, reduction="none")
    assert per.shape == (3,)
    _close(per.mean(), attention_score_mse(s, t).item())
    manual = F.mse_loss(torch.where(s <= -100, 0.0, s), torch.where(t <= -100, 0.0, t))
    _close(attention_score_mse(s, t), manual.item())


# ---------------------------------------------------------------- BERT-PKD


def _pkd_hidden_states() -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Student M=3 (4 hidden states), teacher L=4 (5 hidden states), B=2, T=3, H=2.

    Only the [CLS] rows (token 0) of student layers 1, 2 and teacher layers 2, 4 carry the values below;
    everything else is random, so a loss that read any other token or layer would not hit the goldens.
    """
    gen = torch.Generator().manual_seed(0)
    student = [torch.randn(2, 3, 2, generator=gen) for _ in range(4)]
    teacher = [torch.randn(2, 3, 2, generator=gen) for _ in range(5)]
    student[1][:, 0] = torch.tensor([[3.0, 4.0], [2.0, 0.0]])
    student[2][:, 0] = torch.tensor([[0.0, 2.0], [0.0, 1.0]])
    teacher[2][:, 0] = torch.tensor([[1.0, 0.0], [7.0, 0.0]])
    teacher[4][:, 0] = torch.tensor([[0.0, -5.0], [0.0, 3.0]])
    return student, teacher


def test_pkd_patience_normalisation():
    # example 0: layer 1 s=[3,4] -> [.6,.8], t=[1,0] -> diff^2 .16+.64 = .8
    #            layer 2 s=[0,2] -> [0,1], t=[0,-5] -> [0,-1] -> diff^2 4
    # example 1: identical directions -> 0
    s, t = _pkd_hidden_states()
    layer_map = [2, 4]  # student layer 1 <- teacher layer 2, student layer 2 <- teacher layer 4
    # paper: sum over H and layers = [4.8, 0], batch mean 2.4
    _close(pkd_patience_loss(s, t, layer_map, normalize_by_dim=False, reduction="none"), [4.8, 0.0])
    _close(pkd_patience_loss(s, t, layer_map, normalize_by_dim=False), 2.4)
    # code (F.normalize + MSE): mean over K*H = 4 elements -> [1.2, 0], mean 0.6 (default)
    _close(pkd_patience_loss(s, t, layer_map), 0.6)
    # a tuple (as in a model output's hidden_states) works the same
    _close(pkd_patience_loss(tuple(s), tuple(t), tuple(layer_map)), 0.6)
    # scale invariance
    _close(pkd_patience_loss([x * 10 for x in s], t, layer_map), 0.6)


def test_pkd_patience_selects_cls_from_the_mapped_layers():
    s, t = _pkd_hidden_states()
    # a map from layer_maps plugs in directly: PKD-Skip for L=4, M=2 pairs student layer 1 with teacher
    # layer 2 only, so only example 0's first pair counts: [0.8, 0]
    assert pkd_skip_map(4, 2) == [2]
    _close(pkd_patience_loss(s, t, pkd_skip_map(4, 2), normalize_by_dim=False, reduction="none"), [0.8, 0.0])


@pytest.mark.parametrize(
    "make, expected",
    [
        # the old mistake: full (B, T, H) states passed where [CLS] states were meant
        (lambda s, t: (s[1], t[2], [2]), "a list/tuple of per-layer hidden states"),
        # [CLS] already selected: layer outputs must still be (B, T, H)
        (lambda s, t: ([x[:, 0] for x in s], [x[:, 0] for x in t], [2, 4]), "expects (B, T, H) layer outputs"),
        (lambda s, t: (s, t, [2, 4, 4, 4]), "layer_map has K=4 entries but the student has only 3 layers"),
        (lambda s, t: (s, t, [2, 5]), "teacher layer 5 out of range [1, 4]"),
        (lambda s, t: (s, t, [0, 4]), "teacher layer 0 out of range [1, 4]"),
        (lambda s, t: (s, t, []), "layer_map is empty"),
        (lambda s, t: (s, [torch.randn(2, 3, 5)] * 5, [2, 4]), "student shape (2, 2, 2) != teacher shape (2, 2, 5)"),
    ],
)
def test_pkd_patience_rejects_inputs_that_are_not_layer_outputs(make, expected):
    s, t = _pkd_hidden_states()
    with pytest.raises(HrkdError, match=re.escape(expected)):
        pkd_patience_loss(*make(s, t))


# ---------------------------------------------------------------- MiniLM


def _ln3_scores() -> tuple[torch.Tensor, torch.Tensor]:
    ln3 = math.log(3.0)
    teacher = torch.tensor([[[[0.0, 0.0], [ln3, 0.0]]]])  # rows [1/2, 1/2], [3/4, 1/4]
    student = torch.tensor([[[[ln3, 0.0], [0.0, 0.0]]]])  # rows [3/4, 1/4], [1/2, 1/2]
    return student, teacher


def test_minilm_attention_kl_golden():
    s, t = _ln3_scores()
    # row 1: .5 ln(.5/.75) + .5 ln(.5/.25) = .5 ln(4/3) = 0.14384104
    # row 2: .75 ln(.75/.5) + .25 ln(.25/.5) = 0.13081204 ; mean over 2 queries and 1 head
    _close(minilm_attention_kl(s, t), 0.13732654)
    _close(minilm_attention_kl(t, t), 0.0)


def test_minilm_attention_kl_ignores_padding():
    s, t = _ln3_scores()

    def pad(x: torch.Tensor) -> torch.Tensor:  # add a padded 3rd token, additive mask on its key
        out = torch.full((1, 1, 3, 3), 5.0)
        out[..., :2, :2] = x
        out[..., :, 2] = -10000.0
        return out

    mask = torch.tensor([[1, 1, 0]])
    _close(minilm_attention_kl(pad(s), pad(t), mask), 0.13732654)
    # raw scores without the additive mask: the attention_mask still removes the padded key
    raw_s, raw_t = pad(s), pad(t)
    raw_s[..., :, 2] = 4.0
    raw_t[..., :, 2] = -2.0
    _close(minilm_attention_kl(raw_s, raw_t, mask), 0.13732654)
    with pytest.raises(HrkdError, match="heads"):
        minilm_attention_kl(torch.zeros(1, 2, 2, 2), torch.zeros(1, 3, 2, 2))


def test_minilm_reduction_none():
    torch.manual_seed(2)
    s, t = torch.randn(3, 2, 4, 4), torch.randn(3, 2, 4, 4)
    per = minilm_attention_kl(s, t, reduction="none")
    assert per.shape == (3,)
    assert (per > 0).all()
    _close(per.mean(), minilm_attention_kl(s, t).item())


def test_value_relation_rows_and_mask():
    v = torch.tensor([[[[1.0, 0.0], [0.0, 1.0]]]])  # VV^T = I, /sqrt(2)
    # row 0: softmax([1/sqrt2, 0]) = [0.66976155, 0.33023845]
    _close(value_relation(v)[0, 0, 0], [0.66976155, 0.33023845])
    torch.manual_seed(3)
    vr = value_relation(torch.randn(2, 3, 5, 4), torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]]))
    _close(vr.sum(-1), torch.ones(2, 3, 5))
    assert vr[0, :, :, 3:].abs().max() < 1e-12  # masked keys get zero probability


def test_minilm_value_relation_kl_golden():
    # student V = [[1,0],[0,1]] (d=2): rows softmax([.7071, 0]) and softmax([0, .7071])
    # teacher V = [[1],[2]] (d=1): VV^T = [[1,2],[2,4]] -> rows softmax([1,2]), softmax([2,4])
    # KL rows = [0.33556690, 0.11978887], mean 0.22767788 (different head widths are fine)
    vs = torch.tensor([[[[1.0, 0.0], [0.0, 1.0]]]])
    vt = torch.tensor([[[[1.0], [2.0]]]])
    _close(minilm_value_relation_kl(vs, vt), 0.22767788)
    _close(minilm_value_relation_kl(vs, vs), 0.0)


# ---------------------------------------------------------------- DistilBERT cosine


def test_distilbert_cosine_loss():
    s = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [5.0, 5.0]]])
    t = torch.tensor([[[2.0, 0.0], [1.0, 0.0], [0.0, 0.0]]])
    # real tokens: cos = 1 and 0 -> losses 0 and 1 -> mean 0.5; the padded 3rd token is ignored
    _close(distilbert_cosine_loss(s, t, torch.tensor([[1, 1, 0]])), 0.5)
    ref = nn.CosineEmbeddingLoss()(s[0, :2], t[0, :2], torch.ones(2))
    _close(distilbert_cosine_loss(s[:, :2], t[:, :2]), ref.item())
    _close(distilbert_cosine_loss(s, t, torch.tensor([[1, 1, 0]]), reduction="none"), [0.5])


@pytest.mark.parametrize("mask_shape", [(2, 1), (2, 2), (1, 3), (2, 3, 1)])
def test_distilbert_cosine_loss_rejects_a_mask_of_the_wrong_shape(mask_shape):
    s, t = torch.randn(2, 3, 4), torch.randn(2, 3, 4)
    with pytest.raises(HrkdError, match=re.escape(f"attention_mask shape {mask_shape} != (2, 3)")):
        distilbert_cosine_loss(s, t, torch.ones(mask_shape))


def test_distilbert_cosine_loss_needs_token_states():
    with pytest.raises(HrkdError, match=re.escape("expects (B, T, H) hidden states; got (2, 4)")):
        distilbert_cosine_loss(torch.randn(2, 4), torch.randn(2, 4))


# ---------------------------------------------------------------- gradients


def test_student_gets_gradients_and_nothing_is_detached():
    torch.manual_seed(4)
    s = torch.randn(2, 3, requires_grad=True)
    t = torch.randn(2, 3, requires_grad=True)
    (hinton_kd(s, t, torch.tensor([0, 1]), temperature=2.0) + soft_cross_entropy(s, t)).backward()
    assert s.grad.abs().sum() > 0
    # the functions do not detach: callers must run the teacher under no_grad
    assert t.grad is not None
    with torch.no_grad():
        t2 = torch.randn(2, 3)
    s.grad = None
    soft_cross_entropy(s, t2).backward()
    assert s.grad.abs().sum() > 0


# ---------------------------------------------------------------- FitDenses


def test_fit_denses_init():
    torch.manual_seed(5)
    fit = FitDenses(312, 768, num=5)
    assert len(fit) == 5
    w = torch.cat([fit[i].weight.flatten() for i in range(5)])
    assert abs(w.std().item() - 0.02) < 0.001
    assert abs(w.mean().item()) < 0.001
    assert all(fit[i].bias.abs().max() == 0 for i in range(5))
    x = torch.randn(2, 4, 312)
    assert fit(2, x).shape == (2, 4, 768)
    assert torch.equal(fit(2, x), fit[2](x))


def test_fit_denses_identity():
    fit = FitDenses(4, 4, num=2, init="identity")
    x = torch.randn(3, 4)
    assert torch.equal(fit(1, x), x)
    with pytest.raises(HrkdError):
        FitDenses(4, 6, num=2, init="identity")
    with pytest.raises(HrkdError):
        FitDenses(4, 4, num=2, init="xavier")


# ---------------------------------------------------------------- TinyBERT layer losses


def _fake_out(layers: int, width: int, seed: int, requires_grad: bool = False) -> SimpleNamespace:
    g = torch.Generator().manual_seed(seed)
    hidden = [torch.randn(2, 4, width, generator=g, requires_grad=requires_grad) for _ in range(layers + 1)]
    scores = []
    for _ in range(layers):
        sc = torch.randn(2, 3, 4, 4, generator=g)
        sc[1, :, :, 3] = -10000.0  # example 1 has a padded last token
        scores.append(sc.requires_grad_(requires_grad))
    return SimpleNamespace(hidden_states=hidden, attention_scores=scores)


def test_tinybert_layer_losses_matches_manual():
    teacher = _fake_out(6, 8, seed=10)
    student = _fake_out(3, 5, seed=11, requires_grad=True)
    torch.manual_seed(6)
    fit = FitDenses(5, 8, num=4)
    terms = tinybert_layer_losses(student, teacher, fit, tinybert_indices(6, 3))
    assert set(terms) == {"emb", "attn", "hid"}
    assert len(terms["attn"]) == 3 and len(terms["hid"]) == 3

    def z(x):
        return torch.where(x <= -100, 0.0, x)

    _close(terms["emb"], F.mse_loss(fit[0](student.hidden_states[0]), teacher.hidden_states[0]).item())
    for m, g in zip((1, 2, 3), (2, 4, 6)):  # student layer m <- teacher layer g(m)
        exp_h = F.mse_loss(fit[m](student.hidden_states[m]), teacher.hidden_states[g])
        exp_a = F.mse_loss(z(student.attention_scores[m - 1]), z(teacher.attention_scores[g - 1]))
        _close(terms["hid"][m - 1], exp_h.item())
        _close(terms["attn"][m - 1], exp_a.item())

    # a plain map [0, 2, 4, 6] gives the same terms
    again = tinybert_layer_losses(student, teacher, fit, uniform_map(6, 3))
    _close(again["hid"][2], terms["hid"][2].item())

    total = tinybert_total(terms)
    expected = terms["emb"] + sum(a + h for a, h in zip(terms["attn"], terms["hid"]))
    _close(total, expected.item())
    w = [0.5, 1.0, 2.0, 0.0]
    weighted = tinybert_total(terms, w)
    exp_w = 0.5 * terms["emb"] + sum(wm * (a + h) for wm, a, h in zip(w[1:], terms["attn"], terms["hid"]))
    _close(weighted, exp_w.item())

    total.backward()
    assert all(h.grad is not None and h.grad.abs().sum() > 0 for h in student.hidden_states)
    assert all(a.grad is not None and a.grad.abs().sum() > 0 for a in student.attention_scores)
    assert fit[3].weight.grad.abs().sum() > 0
    assert all(h.grad is None for h in teacher.hidden_states)


def test_tinybert_layer_losses_none_and_errors():
    teacher = _fake_out(6, 5, seed=12)
    student = _fake_out(2, 5, seed=13)
    terms = tinybert_layer_losses(student, teacher, None, tinybert_indices(6, 2), reduction="none")
    assert terms["emb"].shape == (2,)
    assert all(x.shape == (2,) for x in terms["attn"] + terms["hid"])
    assert tinybert_total(terms, torch.tensor([1.0, 0.5, 0.5])).shape == (2,)
    # attention of student layer 2 <- teacher attention list index 5 (layer 6)
    _close(
        terms["attn"][1].mean(),
        attention_score_mse(student.attention_scores[1], teacher.attention_scores[5]).item(),
    )
    with pytest.raises(HrkdError):
        tinybert_layer_losses(student, teacher, FitDenses(5, 5, num=2), tinybert_indices(6, 2))
    with pytest.raises(HrkdError):
        tinybert_layer_losses(student, teacher, None, tinybert_indices(6, 3))  # student has 2 layers
    with pytest.raises(HrkdError):
        tinybert_total(terms, [1.0, 1.0])
