"""Hand computations in the notebooks: print each tensor's shape next to the equation that made it."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

__all__ = ["shape_text", "show_tensor"]


def shape_text(equation: str, tensor: Tensor | np.ndarray, width: int = 44, values: bool = True) -> str:
    """``"A1 = softmax(M1)                      (4, 4)"`` plus the values when the tensor is small (≤ 16)."""
    t = torch.as_tensor(tensor)
    line = f"{equation:<{width}} {tuple(t.shape)}"
    if values and 0 < t.numel() <= 16:
        line += "  " + np.array2string(t.detach().float().numpy(), precision=4, separator=", ",
                                       suppress_small=True).replace("\n", "")
    return line


def show_tensor(equation: str, tensor: Tensor | np.ndarray, values: bool = True) -> Tensor:
    """Print :func:`shape_text` and return the tensor (so a cell can write ``A1 = show_tensor("...", ...)``)."""
    print(shape_text(equation, tensor, values=values))
    return torch.as_tensor(tensor)
