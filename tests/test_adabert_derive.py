"""Derivation: top-2 edges per node, argmax op, `none` excluded; derived net rebuilt and counted."""

from __future__ import annotations

import torch

from hrkd_lite.methods.adabert.config import AdaBERTConfig
from hrkd_lite.methods.adabert.derive import (
    Genotype,
    build_derived,
    derive,
    derived_parameter_count,
    stem_parameter_count,
)
from hrkd_lite.methods.adabert.ops import PRIMITIVES
from hrkd_lite.methods.adabert.supernet import Supernet
from hrkd_lite.models.bert import BertConfig, BertEmbeddings
from hrkd_lite.models.measure import count_parameters

P = PRIMITIVES.index


def _hand_alpha() -> torch.Tensor:
    a = torch.zeros(9, 10)
    # node 0 (edges 0, 1): both kept (only two inputs)
    a[0, P("std_conv_3")] = 3.0
    a[1, P("skip_connect")] = 2.0
    # node 1 (edges 2, 3, 4): edge 2 dominated by `none` but its best real op is weak; keep 3 and 4
    a[2, P("none")] = 9.0
    a[2, P("max_pool1d_3")] = 0.5
    a[3, P("dil_conv_5")] = 4.0
    a[4, P("avg_pool1d_3")] = 3.0
    # node 2 (edges 5..8): keep 6 and 8
    a[5, P("std_conv_7")] = 1.0
    a[6, P("std_conv_7")] = 5.0
    a[7, P("none")] = 8.0
    a[8, P("dil_conv_3")] = 4.5
    return a


def test_derive_top2_and_excludes_none():
    g = derive(_hand_alpha(), torch.tensor([0.1, 2.0, 0.3]), [1, 2, 3])
    assert g.depth == 2
    assert g.cells == [[("std_conv_3", 0), ("skip_connect", 1)],
                       [("dil_conv_5", 1), ("avg_pool1d_3", 2)],
                       [("std_conv_7", 1), ("dil_conv_3", 3)]]
    assert all(op != "none" for node in g.cells for op, _ in node)


def test_derive_with_none_allowed_keeps_zero_edges():
    g = derive(_hand_alpha(), torch.tensor([1.0]), [1], exclude_none=False)
    assert ("none", 0) in g.cells[1] and ("none", 2) in g.cells[2]


def test_genotype_round_trip():
    g = derive(_hand_alpha(), torch.tensor([1.0, 0.0, 0.0]), [1, 2, 3])
    assert Genotype.from_dict(g.to_dict()) == g and "node2" in g.describe()


def test_derived_parameter_count_matches_config_and_forward_is_equal_to_supernet():
    bc = BertConfig(vocab_size=100, hidden_size=12, num_heads=2, max_position_embeddings=40)
    for stem in ("teacher", "table"):
        torch.manual_seed(0)
        cfg = AdaBERTConfig(hidden=8, max_depth=3, stem=stem)
        net = Supernet(cfg, BertEmbeddings(bc), 3)
        with torch.no_grad():
            net.alpha_edges.copy_(_hand_alpha())
            net.alpha_depth.copy_(torch.tensor([0.0, 5.0, 0.0]))
        g = derive(net.alpha_edges, net.alpha_depth, cfg.depths)
        derived = build_derived(net, g)
        stem_n = stem_parameter_count(stem, 8, 100, 40, 2, 12)
        assert count_parameters(derived)["total"] == derived_parameter_count(g, 8, 3, stem_n)
        assert len(derived.cells) == 2
        # warm start: with the kept edges' weights the derived cell equals the supernet cell restricted
        # to those edges; check the stem and head copies directly
        net.eval()
        derived.eval()
        ids = torch.randint(1, 100, (2, 7))
        assert torch.allclose(derived.stem(ids), net.stem(ids), atol=1e-5)
        assert torch.equal(derived.layer_logits, net.heads.layer_logits[1])


def test_derived_equals_supernet_when_only_kept_edges_are_sampled():
    """With one-hot y on the kept edges (and zero on the others) the supernet computes the derived net."""
    bc = BertConfig(vocab_size=50, hidden_size=8, num_heads=2, max_position_embeddings=20)
    torch.manual_seed(1)
    cfg = AdaBERTConfig(hidden=8, max_depth=2)
    net = Supernet(cfg, BertEmbeddings(bc), 2).eval()
    g = Genotype(2, [[("std_conv_3", 0), ("skip_connect", 1)], [("dil_conv_5", 1), ("avg_pool1d_3", 2)],
                     [("max_pool1d_3", 0), ("dil_conv_3", 3)]])
    y = torch.zeros(9, 10)
    y[:, P("none")] = 1.0
    kept = {(0, 0): "std_conv_3", (0, 1): "skip_connect", (1, 1): "dil_conv_5", (1, 2): "avg_pool1d_3",
            (2, 0): "max_pool1d_3", (2, 3): "dil_conv_3"}
    from hrkd_lite.methods.adabert.supernet import edge_inputs

    for e, (j, i) in enumerate(edge_inputs(3)):
        if (j, i) in kept:
            y[e] = 0.0
            y[e, P(kept[(j, i)])] = 1.0
    derived = build_derived(net, g).eval()
    ids, mask = torch.randint(1, 50, (3, 9)), torch.ones(3, 9)
    with torch.no_grad():
        expect = net(ids, mask, y).logits[1]
        assert torch.allclose(derived(ids, mask), expect, atol=1e-5)
