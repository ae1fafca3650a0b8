"""Which teacher layer each student layer learns from (docs/methods/background.md §5-§7, §9; docs/methods/adabert.md).

Convention: layers are **counted from 1**; 0 means the embedding output. ``L`` = teacher layers,
``M`` (or ``K``) = student layers, 1 ≤ M ≤ L.

| map | student layers | teacher layers (12 → 6) | source |
|---|---|---|---|
| :func:`uniform_map` | 0..M | 0, 2, 4, 6, 8, 10, 12 | TinyBERT g(m) = m·L/M |
| :func:`pkd_skip_map` | 1..M−1 | 2, 4, 6, 8, 10 | BERT-PKD-Skip [M] |
| :func:`pkd_last_map` | 1..M−1 | 7, 8, 9, 10, 11 | BERT-PKD-Last [M] |
| :func:`adabert_map` | 1..K | 2, 4, 6, 8, 10, 12 | AdaBERT ⌈i·J/K⌉ (paper) |
| :func:`minilm_map` | M | 12 | MiniLM, last layer only |

PKD's last student layer is trained by logit KD, hence M−1 intermediate pairs. Our laptop students keep
teacher layers ``uniform_map(L, M)[1:]`` (e.g. {2, 4, 6} or {3, 6} of 6), so the TinyBERT map coincides
with the truncation.

:func:`tinybert_indices` turns a map into 0-indexed positions in ``hidden_states`` (index 0 = embeddings,
length L+1) and ``attention_scores`` (no embedding entry, length L) — the indexing pitfall of
docs/methods/background.md §1.1.
"""

from __future__ import annotations

from collections.abc import Sequence

from hrkd_lite.errors import HrkdError

__all__ = [
    "adabert_map",
    "describe_maps",
    "indices_from_map",
    "minilm_map",
    "pkd_last_map",
    "pkd_skip_map",
    "tinybert_indices",
    "uniform_map",
]


def _validate(teacher_layers: int, student_layers: int) -> None:
    for name, value in (("teacher layers L", teacher_layers), ("student layers M", student_layers)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise HrkdError(f"{name} must be an int, got {value!r}")
    if student_layers < 1:
        raise HrkdError(f"student layers M must be >= 1, got {student_layers}")
    if student_layers > teacher_layers:
        raise HrkdError(f"student layers M={student_layers} must be <= teacher layers L={teacher_layers}")


def uniform_map(teacher_layers: int, student_layers: int) -> list[int]:
    """TinyBERT uniform map g(m) = m·L/M for m = 0..M (0 = embeddings → embeddings).

    When L is not a multiple of M the value is floored (⌊m·L/M⌋), so g(M) = L still holds; for
    L % M == 0 it equals the TinyBERT code's ``m * (L // M)``.

    >>> uniform_map(12, 4)
    [0, 3, 6, 9, 12]
    >>> uniform_map(6, 2)
    [0, 3, 6]
    """
    _validate(teacher_layers, student_layers)
    return [m * teacher_layers // student_layers for m in range(student_layers + 1)]


def pkd_skip_map(teacher_layers: int, student_layers: int) -> list[int]:
    """BERT-PKD-Skip: teacher layers for student layers 1..M−1 (every L/M-th layer; the last student
    layer gets logit KD instead). Equals ``uniform_map(L, M)[1:M]``.

    >>> pkd_skip_map(12, 6)
    [2, 4, 6, 8, 10]
    """
    return uniform_map(teacher_layers, student_layers)[1:student_layers]


def pkd_last_map(teacher_layers: int, student_layers: int) -> list[int]:
    """BERT-PKD-Last: the M−1 teacher layers just below the last one, L−M+1 .. L−1, for student layers
    1..M−1.

    >>> pkd_last_map(12, 6)
    [7, 8, 9, 10, 11]
    """
    _validate(teacher_layers, student_layers)
    return list(range(teacher_layers - student_layers + 1, teacher_layers))


def adabert_map(teacher_layers: int, student_layers: int) -> list[int]:
    """AdaBERT probe map j(i) = ⌈i·J/K⌉ for student cells i = 1..K (docs/methods/adabert.md §layer map, paper form).

    >>> adabert_map(6, 4)
    [2, 3, 5, 6]
    """
    _validate(teacher_layers, student_layers)
    return [-(-i * teacher_layers // student_layers) for i in range(1, student_layers + 1)]


def minilm_map(teacher_layers: int, student_layers: int) -> dict[int, int]:
    """MiniLM distils only the last layer: ``{M: L}``.

    >>> minilm_map(12, 6)
    {6: 12}
    """
    _validate(teacher_layers, student_layers)
    return {student_layers: teacher_layers}


def describe_maps(teacher_layers: int, student_layers: int) -> dict[str, list[tuple[int, int]]]:
    """All maps as (student layer, teacher layer) pairs, for the notebook layer-map explorer.

    Keys: ``"tinybert"`` (m = 0..M), ``"pkd_skip"``, ``"pkd_last"`` (j = 1..M−1), ``"adabert"``
    (i = 1..K), ``"minilm"`` ([(M, L)]).
    """
    tiny = uniform_map(teacher_layers, student_layers)
    return {
        "tinybert": list(enumerate(tiny)),
        "pkd_skip": list(enumerate(pkd_skip_map(teacher_layers, student_layers), start=1)),
        "pkd_last": list(enumerate(pkd_last_map(teacher_layers, student_layers), start=1)),
        "adabert": list(enumerate(adabert_map(teacher_layers, student_layers), start=1)),
        "minilm": sorted(minilm_map(teacher_layers, student_layers).items()),
    }


def indices_from_map(teacher_for_student: Sequence[int]) -> dict[str, list[int]]:
    """0-indexed list positions from a map g(0..M) (teacher layer per student layer, counted from 1).

    Args:
        teacher_for_student: [g(0), g(1), ..., g(M)] with g(0) = 0 (embeddings), as from
            :func:`uniform_map`.

    Returns:
        ``attn_teacher`` = [g(m) − 1], ``attn_student`` = [m − 1] for m = 1..M (attention lists have no
        embedding entry); ``hid_teacher`` = [g(m)], ``hid_student`` = [m] for m = 0..M.
    """
    g = [int(x) for x in teacher_for_student]
    if len(g) < 2 or g[0] != 0:
        raise HrkdError(f"a layer map must be [0, g(1), ..., g(M)] with M >= 1; got {g}")
    if any(b <= a for a, b in zip(g, g[1:])):
        raise HrkdError(f"a layer map must be strictly increasing; got {g}")
    m_count = len(g) - 1
    return {
        "attn_teacher": [g[m] - 1 for m in range(1, m_count + 1)],
        "attn_student": [m - 1 for m in range(1, m_count + 1)],
        "hid_teacher": list(g),
        "hid_student": list(range(m_count + 1)),
    }


def tinybert_indices(teacher_layers: int, student_layers: int) -> dict[str, list[int]]:
    """TinyBERT indices into ``attention_scores`` / ``hidden_states`` lists (docs/methods/background.md §1.1, §6).

    Same as the TinyBERT code's attention targets ``[m·lpb + lpb − 1]`` and hidden targets ``[m·lpb]``.

    >>> tinybert_indices(6, 3)["attn_teacher"], tinybert_indices(6, 3)["hid_teacher"]
    ([1, 3, 5], [0, 2, 4, 6])
    """
    return indices_from_map(uniform_map(teacher_layers, student_layers))
