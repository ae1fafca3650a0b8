"""The HRKD total loss (spec §2.5), its gradients through the prototypes, config and recorder."""

from __future__ import annotations

import pytest
import torch

from hrkd_lite.errors import HrkdError
from hrkd_lite.methods.hrkd import (
    PRESETS,
    DomainTerms,
    HRKDConfig,
    MetaGraph,
    Recorder,
    Recording,
    domain_prototypes,
    group_means,
    hrkd_total_loss,
    preset,
    stack_domains,
)


def _terms() -> list[DomainTerms]:
    # D = 2 domains, M = 1 (L = 2), B = 2 examples each
    return [
        DomainTerms(emb=torch.tensor([1.0, 3.0]), attn=torch.tensor([[2.0, 4.0]]),
                    hid=torch.tensor([[0.5, 1.5]]), pred=torch.tensor([0.2, 0.4])),
        DomainTerms(emb=torch.tensor([2.0, 2.0]), attn=torch.tensor([[1.0, 1.0]]),
                    hid=torch.tensor([[3.0, 5.0]]), pred=torch.tensor([0.6, 1.0])),
    ]


def test_group_means_golden():
    lt, pt = group_means(_terms(), None)
    # T[0] = mean emb = (2, 2); T[1] = mean(attn + hid) = (4, 5); p = (0.3, 0.8)
    assert torch.allclose(lt, torch.tensor([[[2.0, 2.0], [4.0, 5.0]]]))
    assert torch.allclose(pt, torch.tensor([[0.3, 0.8]]))
    lt2, pt2 = group_means(_terms(), 1)  # one example per group
    assert lt2.shape == (2, 2, 2)
    assert torch.allclose(lt2[1], torch.tensor([[3.0, 2.0], [5.5, 6.0]]))
    assert torch.allclose(pt2[:, 1], torch.tensor([0.6, 1.0]))


def test_total_loss_golden_graph_weighted():
    lt, pt = group_means(_terms(), None)
    w = torch.tensor([[0.25, 0.75], [0.6, 0.4]])  # (L, D), rows sum to 1
    out = hrkd_total_loss(lt[0], pt[0], w)
    hidden = 0.25 * 2 + 0.75 * 2 + 0.6 * 4 + 0.4 * 5  # = 6.4
    pred = (0.3 + 0.8) / 2  # ×1/D = 0.55
    assert out.hidden.item() == pytest.approx(hidden)
    assert out.pred.item() == pytest.approx(pred)
    assert out.total.item() == pytest.approx(6.95)
    assert torch.allclose(out.per_domain, torch.tensor([0.25 * 2 + 0.6 * 4 + 0.15, 0.75 * 2 + 0.4 * 5 + 0.4]))
    assert out.per_domain.sum().item() == pytest.approx(out.total.item())
    ratios = hrkd_total_loss(lt[0], pt[0], w, hidden_ratio=2.0, pred_ratio=0.5)
    assert ratios.total.item() == pytest.approx(2 * 6.4 + 0.5 * 0.55)


def test_total_loss_golden_no_graph_sums_over_domains():
    lt, pt = group_means(_terms(), None)
    out = hrkd_total_loss(lt, pt, None, use_graph=False)
    # weights 1, pred summed over domains (not ÷D): (2+4) + (2+5) + 0.3 + 0.8
    assert out.total.item() == pytest.approx(14.1)


def test_total_loss_groups_average_per_group_losses():
    lt, pt = group_means(_terms(), 1)  # G = 2
    w = torch.tensor([[[0.5, 0.5], [1.0, 0.0]], [[0.0, 1.0], [0.5, 0.5]]])  # (G, L, D)
    out = hrkd_total_loss(lt, pt, w)
    g0 = 0.5 * 1 + 0.5 * 2 + 1.0 * 2.5 + (0.2 + 0.6) / 2
    g1 = 1.0 * 2 + 0.5 * 5.5 + 0.5 * 6 + (0.4 + 1.0) / 2
    assert out.total.item() == pytest.approx((g0 + g1) / 2)


def test_total_loss_validates_shapes():
    lt, pt = group_means(_terms(), None)
    with pytest.raises(HrkdError):
        hrkd_total_loss(lt, pt, None, use_graph=True)
    with pytest.raises(HrkdError):
        hrkd_total_loss(lt, pt[:, :1], torch.ones_like(lt))


def _toy_student(seed: int, detach: bool):
    """A 'student' projecting fixed inputs; its projected states feed prototypes → graph → weights.

    The loss terms are constants, so the student's gradient can only come through the weights.
    """
    torch.manual_seed(seed)
    L, D, H, B, T = 3, 3, 6, 4, 5
    proj = torch.nn.Linear(H, H)
    graph = MetaGraph(H, L, D, HRKDConfig(detach_prototypes=detach)).eval()
    xs = torch.randn(D, L, B, T, H)
    protos = stack_domains([domain_prototypes([proj(xs[d, m]) for m in range(L)], detach=detach)
                            for d in range(D)])  # (1, L, D, H)
    weights = graph(protos).weights
    layer_terms = torch.rand(1, L, D) + 0.5
    loss = hrkd_total_loss(layer_terms, torch.rand(1, D), weights)
    if loss.total.requires_grad:
        loss.total.backward()
    return proj, graph, loss


def test_gradients_reach_the_student_through_the_prototypes():
    proj, graph, _ = _toy_student(0, detach=False)
    assert proj.weight.grad is not None and proj.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in graph.parameters())  # frozen graph gets nothing


def test_detached_prototypes_give_the_student_no_gradient_from_the_weights():
    proj, _, loss = _toy_student(0, detach=True)
    assert proj.weight.grad is None
    assert loss.total.requires_grad is False


def test_graph_params_bitwise_frozen_vs_trainable_after_optimiser_steps():
    def train(trainable: bool) -> tuple[list[torch.Tensor], MetaGraph]:
        torch.manual_seed(0)
        proj = torch.nn.Linear(6, 6)
        graph = MetaGraph(6, 2, 3, HRKDConfig(graph_trainable=trainable))
        before = [p.detach().clone() for p in graph.parameters()]
        params = list(proj.parameters()) + [p for p in graph.parameters() if p.requires_grad]
        opt = torch.optim.AdamW(params, lr=1e-2)
        for _ in range(3):
            x = torch.randn(3, 2, 4, 5, 6)
            protos = stack_domains([domain_prototypes([proj(x[d, m]) for m in range(2)]) for d in range(3)])
            w = graph(protos).weights
            terms = torch.stack([proj(x[:, m]).pow(2).mean(dim=(1, 2, 3)) for m in range(2)]).unsqueeze(0)
            hrkd_total_loss(terms, torch.zeros(1, 3), w).total.backward()
            opt.step()
            opt.zero_grad()
        return before, graph

    before, frozen = train(False)
    assert all(torch.equal(b, p) for b, p in zip(before, frozen.parameters()))
    before, trained = train(True)
    assert any(not torch.equal(b, p) for b, p in zip(before, trained.parameters()))


# ---------------------------------------------------------------- config

def test_config_defaults_follow_the_reference_code_and_validate():
    cfg = HRKDConfig()
    assert (cfg.graph_trainable, cfg.detach_prototypes, cfg.use_graph, cfg.hierarchical) == (False, False, True, True)
    assert (cfg.aggregation, cfg.soft_ce_reduction, cfg.prototype_group_size) == ("compare", "mean_classes", 8)
    assert cfg.xavier_gain == 1.414 and cfg.gat_heads == 8 and cfg.gat_dropout == 0.1
    for bad in ({"aggregation": "max"}, {"gat_dropout": 1.0}, {"prototype_group_size": 0},
                {"record_every": 0}, {"soft_ce_reduction": "sum"}, {"temperature": 0.0}):
        with pytest.raises(HrkdError):
            HRKDConfig(**bad)
    with pytest.raises(HrkdError, match="valid choices"):
        cfg.with_overrides(graph_trainble=True)
    assert set(PRESETS) >= {"hrkd", "no_graph", "no_hierarchy", "averaging", "trainable_graph"}
    assert preset("no_graph").use_graph is False
    assert preset("averaging", gat_dropout=0.0).gat_dropout == 0.0


# ---------------------------------------------------------------- recorder

def test_recorder_round_trip(tmp_path):
    torch.manual_seed(0)
    g = MetaGraph(4, 3, 2)
    rec = Recorder(["a", "b"], num_layers=3, num_heads=8)
    for step in (1, 2, 3):
        out = g(torch.randn(2, 3, 2, 4))  # two groups: recorded as their mean
        rec.add(step, 0, out.record(), torch.rand(2, 3, 2), torch.rand(2, 2))
    rec.add(4, 1, None, torch.rand(3, 2), torch.rand(2))  # a no-graph step
    r = rec.to_recording({"seed": 0})
    assert r.weights.shape == (4, 3, 2) and r.gat_attention.shape == (4, 3, 8, 2, 2)
    assert torch.allclose(torch.from_numpy(r.weights[:3].sum(-1)), torch.ones(3, 3))
    r.save(tmp_path)
    back = Recording.load(tmp_path)
    assert back.domains == ["a", "b"] and back.meta == {"seed": 0} and back.num_steps == 4
    assert (back.steps == [1, 2, 3, 4]).all() and back.index_of(3) == 2
    rec.truncate(2)
    assert len(rec) == 2
    with pytest.raises(HrkdError):
        Recording.load(tmp_path / "missing")
