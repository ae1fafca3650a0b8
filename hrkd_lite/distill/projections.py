"""Per-layer hidden-state projections W_h (``fit_denses``) from student to teacher width (docs/methods/hrkd.md §1.2).

TinyBERT's L_hidn = MSE(H_S W_h, H_T) needs W_h when H_s ≠ H_t (312 → 768 on Colab). HRKD keeps one
Linear per student layer m = 0..M (embeddings + each layer), initialised N(0, 0.02) with zero bias, and
trains them with the student. On the laptop the widths are equal (384 → 384); the layer still exists so
the code path matches Colab, and ``init="identity"`` starts it as the identity.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from hrkd_lite.errors import HrkdError, check_choice
from hrkd_lite.models.bert import INIT_STD

__all__ = ["FitDenses"]


class FitDenses(nn.Module):
    """``num`` Linear(student_hidden → teacher_hidden) layers, one per distilled student layer.

    Args:
        student_hidden: H_s.
        teacher_hidden: H_t.
        num: number of projections, normally M + 1 (index 0 = embeddings, m = student layer m).
        init: ``"normal"`` (default, HRKD code: weight ~ N(0, std), bias 0) or ``"identity"`` (weight = I,
            bias 0; needs H_s == H_t, so the hidden loss starts as plain MSE).
        std: standard deviation for ``"normal"`` (0.02, BERT's ``initializer_range``).

    ``fit(m, x)`` or ``fit[m](x)`` maps (..., H_s) → (..., H_t).
    """

    def __init__(
        self,
        student_hidden: int,
        teacher_hidden: int,
        num: int,
        init: str = "normal",
        std: float = INIT_STD,
    ) -> None:
        super().__init__()
        check_choice("FitDenses init", init, ("normal", "identity"))
        if num < 1:
            raise HrkdError(f"FitDenses needs num >= 1 projections, got {num}")
        if init == "identity" and student_hidden != teacher_hidden:
            raise HrkdError(
                f"FitDenses init='identity' needs equal widths, got student {student_hidden} "
                f"vs teacher {teacher_hidden}; use init='normal'"
            )
        self.student_hidden = student_hidden
        self.teacher_hidden = teacher_hidden
        self.init = init
        self.denses = nn.ModuleList(nn.Linear(student_hidden, teacher_hidden) for _ in range(num))
        self.reset_parameters(std)

    @torch.no_grad()
    def reset_parameters(self, std: float = INIT_STD) -> None:
        """Re-initialise every projection according to ``self.init``."""
        for dense in self.denses:
            if self.init == "identity":
                dense.weight.copy_(torch.eye(self.teacher_hidden, self.student_hidden))
            else:
                dense.weight.normal_(0.0, std)
            dense.bias.zero_()

    def __len__(self) -> int:
        return len(self.denses)

    def __getitem__(self, index: int) -> nn.Linear:
        return self.denses[index]

    def forward(self, index: int, x: Tensor) -> Tensor:
        """Project (..., H_s) → (..., H_t) with projection ``index``."""
        return self.denses[index](x)

    def extra_repr(self) -> str:
        return f"{self.student_hidden} -> {self.teacher_hidden}, num={len(self)}, init={self.init!r}"
