"""Task-oriented knowledge distillation with probes.

1. Teacher probes: the fine-tuned teacher is frozen; one linear softmax classifier P^T_j per teacher
   layer j = 0..J is trained on gold labels over a fixed feature of that layer
   (``teacher_probe_feature="pytorch"``: tanh(token mean) at j = 0, the teacher's pooler
   tanh(W_p h_j[CLS]) at j >= 1; ``"tf"``: token mean at 0, h_j[CLS] at j >= 1).
   Their outputs do not change during the search, so they are computed once per example and cached.
2. Student probe i (i = 0..K) sits on tanh(meanpool(c_i)) (see ``supernet.py``).
3. Layer map j(i), i = 0..K: ``ceil`` ⌈i·J/K⌉ (paper), ``floor`` ⌊i·J/K⌋ (PyTorch search loss),
   ``tf`` (J // (K+1))·i (never reaches layer J).
4. Per-layer term L_KD^i = KL(softmax(P^T_{j(i)}/T) ‖ softmax(P^S_i/T)) (``probe_kd="kl"``) or
   CE(softmax(P^T_{j(i)}), P^S_i) (``"ce"``), per example.
5. Attentive weights: w_i = softmax_i(−CE(P^T_{j(i)}, y)), the CE averaged over the batch (``batch``,
   PyTorch) or per example (``instance``); ``uniform`` = 1/(K+1) (TF). L_KD,probe = Σ_i w_i·L_KD^i.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from hrkd_lite.errors import check_choice
from hrkd_lite.models.bert import INIT_STD


def layer_map(kind: str, teacher_layers: int, depth: int) -> list[int]:
    """Teacher layer j(i) for student layers i = 0..depth (j(0) = 0, the embeddings)."""
    check_choice("layer_map", kind, ("ceil", "floor", "tf"))
    J, K = teacher_layers, depth
    if K == 0:
        return [0]
    if kind == "ceil":
        return [-(-i * J // K) for i in range(K + 1)]
    if kind == "floor":
        return [i * J // K for i in range(K + 1)]
    return [(J // (K + 1)) * i for i in range(K + 1)]


def teacher_layer_features(hidden_states: list[torch.Tensor], mask: torch.Tensor, pooler: nn.Module,
                           kind: str = "pytorch") -> torch.Tensor:
    """(B, J+1, H) probe features of every teacher layer from hidden states J+1 × (B, T, H)."""
    m = mask.unsqueeze(-1).to(hidden_states[0].dtype)
    mean0 = (hidden_states[0] * m).sum(1) / m.sum(1).clamp_min(1.0)
    feats = [torch.tanh(mean0) if kind == "pytorch" else mean0]
    for h in hidden_states[1:]:
        feats.append(torch.tanh(pooler(h[:, 0])) if kind == "pytorch" else h[:, 0])
    return torch.stack(feats, dim=1)


class LayerProbes(nn.Module):
    """J+1 linear probes; forward (N, J+1, H) -> (N, J+1, C)."""

    def __init__(self, layers: int, hidden: int, num_labels: int, seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.weight = nn.Parameter(INIT_STD * torch.randn(layers, num_labels, hidden, generator=g))
        self.bias = nn.Parameter(torch.zeros(layers, num_labels))

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        return torch.einsum("njh,jch->njc", feats, self.weight) + self.bias


def train_probes(feats: torch.Tensor, labels: torch.Tensor, num_labels: int, epochs: int = 5,
                 lr: float = 1e-2, batch_size: int = 64, seed: int = 0) -> LayerProbes:
    """Train one probe per layer on fixed features (N, J+1, H) and gold labels (N,), Adam, summed CE."""
    probes = LayerProbes(feats.shape[1], feats.shape[2], num_labels, seed)
    opt = torch.optim.Adam(probes.parameters(), lr=lr)
    g = torch.Generator().manual_seed(seed)
    n = feats.shape[0]
    for _ in range(epochs):
        for idx in torch.randperm(n, generator=g).split(batch_size):
            logits = probes(feats[idx])  # (b, J+1, C)
            loss = F.cross_entropy(logits.reshape(-1, num_labels),
                                   labels[idx].repeat_interleave(feats.shape[1]), reduction="mean")
            opt.zero_grad()
            loss.backward()
            opt.step()
    return probes.eval()


@torch.no_grad()
def probe_accuracy(probes: LayerProbes, feats: torch.Tensor, labels: torch.Tensor) -> list[float]:
    """Accuracy of each layer's probe: list of J+1 floats."""
    pred = probes(feats).argmax(-1)  # (N, J+1)
    return (pred == labels.unsqueeze(1)).float().mean(0).tolist()


def per_example_kd(teacher: torch.Tensor, student: torch.Tensor, kind: str = "kl",
                   temperature: float = 1.0) -> torch.Tensor:
    """KL(softmax(t/T) ‖ softmax(s/T)) or CE(softmax(t), s) per example: (B, C), (B, C) -> (B,)."""
    p_t = F.softmax(teacher / temperature, -1)
    log_s = F.log_softmax(student / temperature, -1)
    if kind == "ce":
        return -(p_t * log_s).sum(-1)
    return (p_t * (F.log_softmax(teacher / temperature, -1) - log_s)).sum(-1)


def attentive_weights(teacher_probe: torch.Tensor, labels: torch.Tensor, mapping: list[int],
                      mode: str = "batch") -> torch.Tensor:
    """Weights over student layers i = 0..K: (B, K+1), rows sum to 1.

    teacher_probe (B, J+1, C) cached teacher probe logits; w_i = softmax_i(−CE(P^T_{j(i)}, y)) with the CE
    averaged over the batch (``batch``), per example (``instance``), or w_i = 1/(K+1) (``uniform``).
    """
    B, n = labels.shape[0], len(mapping)
    if mode == "uniform":
        return torch.full((B, n), 1.0 / n, device=teacher_probe.device)
    logits = teacher_probe[:, mapping]  # (B, K+1, C)
    ce = -F.log_softmax(logits, -1).gather(-1, labels.view(B, 1, 1).expand(B, n, 1)).squeeze(-1)  # (B, K+1)
    if mode == "batch":
        ce = ce.mean(0, keepdim=True).expand(B, n)
    return F.softmax(-ce, dim=-1)


def probe_kd_loss(student_probe: torch.Tensor, teacher_probe: torch.Tensor, labels: torch.Tensor, depth: int,
                  teacher_layers: int, *, map_kind: str = "ceil", kd: str = "kl", weighting: str = "batch",
                  temperature: float = 1.0) -> torch.Tensor:
    """L_KD,probe for one candidate depth K = ``depth`` (scalar).

    student_probe (K_max+1, B, C) student probe logits; teacher_probe (B, J+1, C) cached teacher probe
    logits. Σ_i mean_b w_{b,i}·L_KD^i_b over i = 0..K.
    """
    mapping = layer_map(map_kind, teacher_layers, depth)
    w = attentive_weights(teacher_probe, labels, mapping, weighting)  # (B, K+1)
    terms = torch.stack([per_example_kd(teacher_probe[:, j], student_probe[i], kd, temperature)
                         for i, j in enumerate(mapping)], dim=1)  # (B, K+1)
    return (w * terms).sum(1).mean()


@dataclass
class TeacherTargets:
    """What the search needs from the teacher, cached once per training example.

    logits (N, C) teacher output; probe_logits (N, J+1, C) teacher probe outputs; probe_acc (J+1,)
    dev accuracy of each teacher probe; train_probe_acc (J+1,) the same on train.
    """

    logits: torch.Tensor
    probe_logits: torch.Tensor
    probe_acc: list[float]
    train_probe_acc: list[float]

    @property
    def teacher_layers(self) -> int:
        return self.probe_logits.shape[1] - 1
