"""One HRKD step on tiny random BERTs: golden loss vs an independent computation, gradient paths,
frozen vs trainable graph under the real Trainer/optimiser, determinism (spec §2.1–2.6, §3)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from hrkd_lite.distill.layer_maps import indices_from_map
from hrkd_lite.distill.projections import FitDenses
from hrkd_lite.methods.hrkd import HRKDConfig, MetaGraph, preset
from hrkd_lite.methods.hrkd.runner import variant_name
from hrkd_lite.methods.hrkd.step import HRKDStudent, hrkd_step
from hrkd_lite.methods.shared.teachers import TeacherBank
from hrkd_lite.models import BertConfig, BertEncoder, MultiDomainClassifier
from hrkd_lite.train import build_optimizer

D, B, T, C = 3, 4, 6, 3
T_CFG = dict(vocab_size=50, hidden_size=16, num_layers=4, num_heads=2, intermediate_size=32,
             max_position_embeddings=16)
INDICES = indices_from_map([0, 2, 4])  # student layers 1, 2 <- teacher layers 2, 4


def _models(seed: int, cfg: HRKDConfig, student_dropout: float = 0.1) -> tuple[HRKDStudent, TeacherBank]:
    torch.manual_seed(seed)
    teacher = MultiDomainClassifier(BertEncoder(BertConfig(**T_CFG)), C, D)
    s_cfg = BertConfig(**{**T_CFG, "hidden_size": 8, "num_layers": 2, "intermediate_size": 16,
                          "hidden_dropout": student_dropout, "attention_dropout": student_dropout})
    clf = MultiDomainClassifier(BertEncoder(s_cfg), C, D, dropout=student_dropout)
    graph = MetaGraph(16, 3, D, cfg) if cfg.use_graph else None
    return HRKDStudent(clf, FitDenses(8, 16, 3), graph), TeacherBank([teacher] * D, list(range(D)))


def _batches(seed: int = 1) -> list[tuple[int, dict]]:
    g = torch.Generator().manual_seed(seed)
    out = []
    for d in range(D):
        mask = torch.ones(B, T, dtype=torch.long)
        mask[1, 4:] = 0  # some padding
        mask[3, 3:] = 0
        ids = torch.randint(1 + 16 * d, 17 + 16 * d, (B, T), generator=g) * mask  # own vocabulary
        out.append((d, {"input_ids": ids, "attention_mask": mask, "token_type_ids": torch.zeros_like(ids)}))
    return out


def _manual_loss(student: HRKDStudent, teachers: TeacherBank, batches, weights: torch.Tensor | None,
                 use_graph: bool) -> torch.Tensor:
    """Spec §2.5 written directly with nn.MSELoss-style means over whole tensors (G = 1)."""
    total = 0.0
    for d, b in batches:
        t = teachers(d, b)
        s = student.classifier(b["input_ids"], b["attention_mask"], b["token_type_ids"], domain=d)

        def z(x):
            return torch.where(x <= -100, torch.zeros_like(x), x)

        terms = [F.mse_loss(student.fit[0](s.hidden_states[0]), t.hidden_states[0])]
        for m, tm in ((1, 2), (2, 4)):
            terms.append(F.mse_loss(z(s.attention_scores[m - 1]), z(t.attention_scores[tm - 1]))
                         + F.mse_loss(student.fit[m](s.hidden_states[m]), t.hidden_states[tm]))
        sce = (-torch.softmax(t.logits, -1) * torch.log_softmax(s.logits, -1)).mean()  # ÷ C, no t²
        w = weights[:, d] if use_graph else torch.ones(3)
        total = total + sum(w[m] * terms[m] for m in range(3)) + (sce / D if use_graph else sce)
    return total


def test_step_loss_matches_an_independent_computation_of_spec_2_5():
    for use_graph in (True, False):
        cfg = HRKDConfig(use_graph=use_graph, prototype_group_size=None, gat_dropout=0.0)
        student, teachers = _models(0, cfg)
        student.eval()  # no dropout: both computations see the same activations
        batches = _batches()
        out = hrkd_step(student, teachers, batches, INDICES, cfg)
        w = out.graph["weights"][0] if use_graph else None  # (L, D) of the single group
        expected = _manual_loss(student, teachers, batches, w, use_graph)
        assert torch.allclose(out.loss.total, expected, rtol=1e-5), (use_graph, out.loss.total, expected)
        if use_graph:
            assert torch.allclose(w.sum(dim=-1), torch.ones(3))


def test_step_golden_value_is_stable():
    cfg = HRKDConfig(prototype_group_size=2)
    student, teachers = _models(0, cfg)
    student.train()
    torch.manual_seed(5)
    out = hrkd_step(student, teachers, _batches(), INDICES, cfg)
    torch.manual_seed(5)
    again = hrkd_step(student, teachers, _batches(), INDICES, cfg)
    assert out.loss.total.item() == again.loss.total.item()  # determinism from a seed, dropout on
    assert out.graph["weights"].shape == (2, 3, D)  # two prototype groups of 2 examples
    assert out.prototypes.shape == (2, 3, D, 16) and out.layer_terms.shape == (2, 3, D)


def _grad(student: HRKDStudent, loss: torch.Tensor) -> torch.Tensor:
    student.zero_grad(set_to_none=True)
    loss.backward()
    return student.classifier.encoder.embeddings.word_embeddings.weight.grad.clone()


def _break_symmetry(graph: MetaGraph) -> None:
    """Set every GAT attention vector to a = [v; −v], so e_ij = LeakyReLU(vᵀW(h_i − h_j)) changes sign
    across pairs. (With e in one linear piece, softmax_j cancels the i-term: every node gets the same
    attention row, the same output and the weights are exactly uniform with no gradient.)"""
    with torch.no_grad():
        for gat in graph.gats:
            for layer in [*gat.heads, gat.out]:
                n = layer.out_features
                layer.a[n:] = -layer.a[:n]


def test_gradients_reach_the_student_through_the_prototypes_unless_detached():
    """d w / d student ≠ 0 unless detached; detached, the step's gradient = that of constant weights.

    The tiny model's domain prototypes are nearly parallel, so the projections are scaled up and the
    GAT symmetry broken to get weights (and gradients) away from exactly uniform.
    """
    r = torch.rand(1, 3, D)
    for detach in (False, True):
        cfg = HRKDConfig(detach_prototypes=detach, prototype_group_size=None, gat_dropout=0.0)
        student, teachers = _models(0, cfg)
        with torch.no_grad():
            for lin in student.fit.denses:
                lin.weight.mul_(50.0)
        _break_symmetry(student.graph)
        student.eval()
        out = hrkd_step(student, teachers, _batches(), INDICES, cfg)
        assert out.weights.std() > 1e-4
        fit_w = student.fit.denses[1].weight
        if not detach:
            (g,) = torch.autograd.grad((out.weights * r).sum(), fit_w, retain_graph=True)
            assert g.abs().max() > 0, "the weights' gradient reaches the student's projections"
        else:
            assert not out.weights.requires_grad
            got = _grad(student, out.loss.total)
            want = _grad(student, _manual_loss(student, teachers, _batches(), out.weights[0].detach(), True))
            assert torch.allclose(got, want, rtol=1e-4, atol=1e-8), "detached: the weights act as constants"


def test_complete_graph_gat_gives_uniform_weights_without_the_kink_or_dropout():
    """A property of GAT on a complete graph (static attention): in eval mode, with every e_ij in one
    linear piece of the LeakyReLU, all domains receive exactly the same weight."""
    torch.manual_seed(0)
    graph = MetaGraph(8, 2, 4, HRKDConfig(hierarchical=False)).eval()
    with torch.no_grad():
        for gat in graph.gats:
            for layer in [*gat.heads, gat.out]:
                layer.a.abs_()  # a ≥ 0 and ...
    protos = torch.rand(2, 4, 8) + 1.0  # ... positive features: with W ≥ 0 every e_ij > 0
    with torch.no_grad():
        for gat in graph.gats:
            for layer in [*gat.heads, gat.out]:
                layer.W.abs_()
    w = graph(protos).weights
    assert torch.allclose(w, torch.full_like(w, 0.25), atol=1e-6)
    _break_symmetry(graph)
    assert graph(protos).weights.std() > 1e-4


def test_frozen_graph_bitwise_unchanged_with_the_project_optimiser_trainable_changes():
    for trainable in (False, True):
        cfg = HRKDConfig(graph_trainable=trainable)
        student, teachers = _models(0, cfg)
        before = {k: v.clone() for k, v in student.graph.state_dict().items()}
        opt = build_optimizer(student, lr=1e-2)  # what the Trainer builds: requires_grad params only
        for step in range(2):
            student.train()
            out = hrkd_step(student, teachers, _batches(step), INDICES, cfg)
            out.loss.total.backward()
            opt.step()
            opt.zero_grad()
        after = student.graph.state_dict()
        same = all(torch.equal(before[k], after[k]) for k in before)
        assert same is (not trainable), trainable


def test_variant_names_and_presets():
    assert variant_name(HRKDConfig()) == "hrkd"
    assert variant_name(preset("no_graph")) == "hrkd[use_graph=False]"
    assert variant_name(HRKDConfig(record_every=5)) == "hrkd"


def test_other_masking_only_when_asked_and_the_loss_does_not_depend_on_it():
    cfg = HRKDConfig(prototype_group_size=2)
    student, teachers = _models(0, cfg)
    student.train()
    full, lean = (_seeded_step(student, teachers, cfg, other_masking=flag) for flag in (True, False))
    assert lean.loss.total.item() == full.loss.total.item()
    assert lean.prototype_groups is None and set(full.prototype_groups) == {"padding", "masked"}
    assert torch.equal(full.prototype_groups["padding"], full.prototypes)  # the default masking is "padding"


def _seeded_step(student, teachers, cfg, **kwargs):
    torch.manual_seed(5)  # the same dropout masks for every call
    return hrkd_step(student, teachers, _batches(), INDICES, cfg, **kwargs)
