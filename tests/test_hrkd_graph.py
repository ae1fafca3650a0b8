"""MetaGraph pieces on pure tensors: prototypes, compare-aggregate, GAT, weights (spec §2.2–2.4)."""

from __future__ import annotations

import math

import pytest
import torch

from hrkd_lite.errors import HrkdError
from hrkd_lite.methods.hrkd import (
    CompareAggregate,
    DomainGAT,
    GraphAttentionLayer,
    HRKDConfig,
    MetaGraph,
    domain_prototypes,
    group_slices,
    preset,
    stack_domains,
)


def _softmax(xs: list[float]) -> list[float]:
    z = sum(math.exp(x) for x in xs)
    return [math.exp(x) / z for x in xs]


# ---------------------------------------------------------------- prototypes (spec §2.2)

def test_prototype_is_mean_over_batch_and_positions_padding_included():
    h0 = torch.tensor([[[1.0, 2.0], [3.0, 4.0]], [[5.0, 6.0], [0.0, 0.0]]])  # (B=2, T=2, H=2)
    h1 = 2 * h0
    mask = torch.tensor([[1, 1], [1, 0]])
    p = domain_prototypes([h0, h1])
    assert p.shape == (1, 2, 2)
    # all 4 positions: ((1+3+5+0)/4, (2+4+6+0)/4)
    assert torch.equal(p[0, 0], torch.tensor([9 / 4, 12 / 4]))
    assert torch.equal(p[0, 1], torch.tensor([18 / 4, 24 / 4]))
    pm = domain_prototypes([h0, h1], mask, masked=True)  # 3 real tokens
    assert torch.allclose(pm[0, 0], torch.tensor([9 / 3, 12 / 3]))
    with pytest.raises(HrkdError):
        domain_prototypes([h0], masked=True)


def test_prototype_groups_strided_by_default_and_consecutive_as_a_switch():
    h = torch.arange(5 * 3 * 2, dtype=torch.float32).reshape(5, 3, 2)
    # reference: a distributed sampler's shards of the batch, group j = positions j, j+G, ... (G = 3)
    assert group_slices(5, 2) == [slice(0, 5, 3), slice(1, 5, 3), slice(2, 5, 3)]
    assert [list(range(32))[s] for s in group_slices(32, 8)] == [list(range(j, 32, 4)) for j in range(4)]
    assert group_slices(5, 2, "consecutive") == [slice(0, 2), slice(2, 4), slice(4, 5)]
    assert group_slices(5, None) == [slice(0, 5)] == group_slices(5, 8)
    p = domain_prototypes([h, h], group_size=2)
    assert p.shape == (3, 2, 2)
    assert torch.allclose(p[1, 0], h[[1, 4]].mean(dim=(0, 1)))
    c = domain_prototypes([h, h], group_size=2, split="consecutive")
    assert torch.allclose(c[1, 0], h[2:4].mean(dim=(0, 1)))
    assert torch.allclose(c[2, 1], h[4:].mean(dim=(0, 1)))
    assert stack_domains([p, p + 1]).shape == (3, 2, 2, 2)  # (G, L, D, H)
    with pytest.raises(HrkdError):
        stack_domains([p, p[:2]])
    with pytest.raises(HrkdError, match="'random'.*strided, consecutive"):
        group_slices(5, 2, "random")


def test_detached_prototypes_cut_the_gradient():
    h = torch.randn(2, 3, 4, requires_grad=True)
    assert domain_prototypes([h]).requires_grad
    assert not domain_prototypes([h], detach=True).requires_grad


# ---------------------------------------------------------------- compare-aggregate (spec §2.3)

def _identity_ca(**kw) -> CompareAggregate:
    ca = CompareAggregate(hidden=2, num_layers=2, num_domains=2, **kw)
    with torch.no_grad():
        ca.W1.copy_(torch.eye(2).expand(2, 2, 2))
        ca.W2.copy_(torch.eye(2).expand(2, 2, 2, 2))
    return ca


def test_compare_aggregate_golden_values():
    # P[0] = [[0,1],[1,0]], P[1] = [[1,0],[0,2]]; W1 = W2 = I
    protos = torch.tensor([[[0.0, 1.0], [1.0, 0.0]], [[1.0, 0.0], [0.0, 2.0]]])
    out = _identity_ca()(protos)
    e = math.e
    # (a) M1 = F Fᵀ = [[1,0],[0,4]], A1 = softmax rows, R = A1 F
    a1 = [_softmax([1.0, 0.0]), _softmax([0.0, 4.0])]
    assert torch.allclose(out.reference_attention[1], torch.tensor(a1), atol=1e-6)
    r0 = [a1[0][0] * 1.0, a1[0][1] * 2.0]
    r1 = [a1[1][0] * 1.0, a1[1][1] * 2.0]
    # (b) domain 0: H_0 = [P[0,0]; P[1,0]] = [[0,1],[1,0]] → s = [r0[1], r0[0]]
    a2_0 = _softmax([r0[1], r0[0]])
    # domain 1: H_1 = [[1,0],[0,2]] → s = [r1[0], 2 r1[1]]
    a2_1 = _softmax([r1[0], 2 * r1[1]])
    assert torch.allclose(out.ratios[1, :, :2], torch.tensor([a2_0, a2_1]), atol=1e-6)
    g0 = [a2_0[1], a2_0[0]]  # a2ᵀ H_0
    g1 = [a2_1[0], 2 * a2_1[1]]
    assert torch.allclose(out.features[1], torch.tensor([g0, g1]), atol=1e-6)
    # layer 0 is skipped: raw prototypes, ratio [1, 0], no reference attention
    assert torch.equal(out.features[0], protos[0])
    assert torch.equal(out.ratios[0], torch.tensor([[1.0, 0.0], [1.0, 0.0]]))
    assert torch.isnan(out.reference_attention[0]).all()
    assert abs(a1[0][0] - e / (e + 1)) < 1e-12  # the hand formula itself


def test_compare_aggregate_ablations():
    protos = torch.tensor([[[0.0, 1.0], [1.0, 0.0]], [[1.0, 0.0], [0.0, 2.0]]])
    # w/o reference attention: R = F (identity A1)
    out = _identity_ca(reference_attention=False)(protos)
    assert torch.equal(out.reference_attention[1], torch.eye(2))
    assert torch.allclose(out.ratios[1, 0, :2], torch.tensor(_softmax([0.0, 1.0])), atol=1e-6)
    # averaging: uniform ratios, mean of raw prototypes 0..m
    out = _identity_ca(aggregation="mean")(protos)
    assert torch.equal(out.ratios[1, :, :2], torch.full((2, 2), 0.5))
    assert torch.allclose(out.features[1], protos.mean(dim=0))
    assert torch.isnan(out.reference_attention).all()


def test_w2_init_matches_torch_fans_of_the_reference_code():
    torch.manual_seed(0)
    H, D = 32, 3
    ref = CompareAggregate(H, 3, D, w2_init="reference")
    per = CompareAggregate(H, 3, D, w2_init="per_matrix")
    b_ref = CompareAggregate.w2_bound(H, D, 1.414, "reference")
    b_per = CompareAggregate.w2_bound(H, D, 1.414, "per_matrix")
    assert b_ref == pytest.approx(1.414 * math.sqrt(6 / (H * H + D * H)))
    assert 0.9 * b_ref < ref.W2.abs().max() <= b_ref
    assert 0.9 * b_per < per.W2.abs().max() <= b_per
    w1_bound = 1.414 * math.sqrt(6 / (2 * H))
    assert 0.9 * w1_bound < ref.W1.abs().max() <= w1_bound


# ---------------------------------------------------------------- GAT (spec §2.4)

def test_gat_layer_matches_brute_force_attention():
    torch.manual_seed(1)
    layer = GraphAttentionLayer(3, 2, dropout=0.0, alpha=0.2).eval()
    h = torch.randn(4, 3)
    out, attn = layer(h)
    wh = (h @ layer.W).detach()
    e = torch.empty(4, 4)
    for i in range(4):
        for j in range(4):
            x = float(torch.cat([wh[i], wh[j]]) @ layer.a[:, 0].detach())
            e[i, j] = x if x > 0 else 0.2 * x
    alpha = torch.softmax(e, dim=1)
    assert torch.allclose(attn, alpha, atol=1e-6)
    assert torch.allclose(out, torch.nn.functional.elu(alpha @ wh), atol=1e-6)


def test_domain_gat_shapes_and_weights_sum_to_one():
    torch.manual_seed(0)
    gat = DomainGAT(6, heads=8, dropout=0.1)
    out = gat(torch.randn(4, 6))
    assert out.scores.shape == (4,) and out.head_attention.shape == (8, 4, 4)
    assert out.out_attention.shape == (4, 4)
    assert torch.allclose(out.weights.sum(), torch.tensor(1.0))
    assert torch.allclose(out.weights, torch.softmax(out.scores, dim=0))
    assert sum(p.numel() for p in gat.parameters()) == 8 * (6 * 6 + 12) + (48 * 1 + 2)


# ---------------------------------------------------------------- MetaGraph

@pytest.mark.parametrize("name", ["hrkd", "no_hierarchy", "averaging", "no_reference_attention"])
def test_metagraph_shapes_and_weights_sum_to_one_per_layer(name):
    torch.manual_seed(0)
    L, D, H = 3, 4, 8
    g = MetaGraph(H, L, D, preset(name))
    out = g(torch.randn(L, D, H))
    assert out.weights.shape == (L, D) and out.features.shape == (L, D, H)
    assert out.ratios.shape == (L, D, L) and out.reference_attention.shape == (L, D, D)
    assert out.gat_attention.shape == (L, 8, D, D) and out.gat_out_attention.shape == (L, D, D)
    assert torch.allclose(out.weights.sum(dim=1), torch.ones(L))
    assert (out.weights > 0).all()
    grouped = g(torch.randn(2, L, D, H))
    assert grouped.weights.shape == (2, L, D)
    assert torch.allclose(grouped.weights.sum(dim=-1), torch.ones(2, L))
    if name != "no_hierarchy":
        # hierarchical ratios are distributions over layers 0..m
        assert torch.allclose(out.ratios.sum(dim=-1), torch.ones(L, D))
        assert (out.ratios[1, :, 2] == 0).all()


def test_metagraph_rejects_wrong_shapes():
    g = MetaGraph(8, 3, 4)
    with pytest.raises(HrkdError):
        g(torch.randn(3, 5, 8))
    with pytest.raises(HrkdError):
        g(torch.randn(8))


def test_frozen_graph_has_no_trainable_parameters_but_passes_gradients():
    torch.manual_seed(0)
    g = MetaGraph(8, 3, 4, HRKDConfig(graph_trainable=False))
    assert not any(p.requires_grad for p in g.parameters())
    protos = torch.randn(3, 4, 8, requires_grad=True)
    (g(protos).weights * torch.arange(12.0).reshape(3, 4)).sum().backward()
    assert all(p.grad is None for p in g.parameters())
    assert protos.grad is not None and protos.grad.abs().sum() > 0

    gt = MetaGraph(8, 3, 4, HRKDConfig(graph_trainable=True))
    assert all(p.requires_grad for p in gt.parameters())


def test_metagraph_ablation_variants_share_gat_init_for_one_seed():
    torch.manual_seed(3)
    a = MetaGraph(8, 3, 4, preset("hrkd"))
    torch.manual_seed(3)
    b = MetaGraph(8, 3, 4, preset("no_hierarchy"))
    for pa, pb in zip(a.gats.parameters(), b.gats.parameters()):
        assert torch.equal(pa, pb)
    assert b.compare is None and a.num_parameters()["compare"] == 3 * 64 + 3 * 4 * 64


def test_metagraph_is_deterministic_from_a_seed_with_dropout_active():
    def run() -> torch.Tensor:
        torch.manual_seed(7)
        g = MetaGraph(8, 3, 4).train()
        protos = torch.randn(2, 3, 4, 8)
        return g(protos).weights

    a, b = run(), run()
    assert torch.equal(a, b)
    # dropout is active in train mode: two calls on one graph differ; eval mode is deterministic
    torch.manual_seed(0)
    g = MetaGraph(8, 3, 4)
    p = torch.randn(3, 4, 8)
    assert not torch.equal(g.train()(p).weights, g(p).weights)
    assert torch.equal(g.eval()(p).weights, g(p).weights)
