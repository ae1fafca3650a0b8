"""What a notebook reader sees, checked from the messages a kernel sends (no browser needed).

Two defects this catches, both invisible to ``--nbval-lax`` alone:

- a figure shown as text: a ``display()``ed bare matplotlib ``Figure`` becomes the line
  ``<Figure size 500x460 with 1 Axes>`` in a kernel whose inline backend was never activated (a fresh
  JupyterLab kernel) — :func:`text_figures`;
- a widget whose ``Output`` area holds no image after the notebook ran — :class:`WidgetStates` rebuilds
  the widget models a front end would hold from the ``comm_open`` / ``comm_msg`` messages, and
  :func:`outputs_without_image` lists the ``Output`` widgets among them that show no PNG.

Used by the nbval plugin ``tests/nbval_outputs.py`` (every notebook, in ``make notebooks``) and by
``tests/test_notebook_outputs.py`` (nbclient with stored widget state).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

FIGURE_TEXT = re.compile(r"<(?:matplotlib\.figure\.)?(?:Sub)?Figure\b[^>]*>")
IMAGE_TYPES = ("image/png", "image/svg+xml", "image/jpeg")


def text_figures(outputs: Iterable[Mapping[str, Any]]) -> list[str]:
    """The ``text/plain`` lines of ``outputs`` (nbformat dicts) that stand for a figure but carry no image."""
    bad = []
    for out in outputs:
        data = out.get("data", {}) or {}
        text = data.get("text/plain", "")
        text = "".join(text) if isinstance(text, list) else str(text)
        if FIGURE_TEXT.search(text) and not any(k in data for k in IMAGE_TYPES):
            bad.append(text.strip())
        if out.get("output_type") == "stream" and FIGURE_TEXT.search(str(out.get("text", ""))):
            bad.append(str(out["text"]).strip())
    return bad


def outputs_without_image(models: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Ids of the ``Output`` widget models (``{model_id: state}``) whose outputs hold no image."""
    missing = []
    for model_id, state in models.items():
        if state.get("_model_name") != "OutputModel":
            continue
        outs = state.get("outputs") or []
        if not any(k in (o.get("data") or {}) for o in outs for k in IMAGE_TYPES):
            missing.append(model_id)
    return missing


def stored_widget_models(nb: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``{model_id: state}`` from a notebook's saved widget state (nbclient ``store_widget_state=True``)."""
    saved = nb.get("metadata", {}).get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {})
    return {k: v.get("state", {}) for k, v in saved.get("state", {}).items()}


class WidgetStates:
    """Widget models as a front end holds them, rebuilt from the kernel's iopub messages: comm messages
    create and update models, and output produced inside ``with out:`` (an ``Output`` whose ``msg_id``
    is the message's parent) is appended to that ``Output``, as JupyterLab does."""

    def __init__(self) -> None:
        self.models: dict[str, dict[str, Any]] = {}

    def feed(self, msg: Mapping[str, Any]) -> None:
        kind = msg.get("msg_type") or msg.get("header", {}).get("msg_type")
        content = msg.get("content", {})
        data = content.get("data") or {}
        if kind == "comm_open":
            self.models[content["comm_id"]] = dict(data.get("state", {}))
        elif kind == "comm_msg" and data.get("method") == "update":
            self.models.setdefault(content["comm_id"], {}).update(data.get("state", {}))
        elif kind == "comm_close":
            self.models.pop(content.get("comm_id"), None)
        elif kind in ("display_data", "execute_result", "stream", "clear_output"):
            parent = msg.get("parent_header", {}).get("msg_id")
            for state in self.models.values():
                if parent and state.get("_model_name") == "OutputModel" and state.get("msg_id") == parent:
                    kept = [] if kind == "clear_output" else list(state.get("outputs") or [])
                    if kind != "clear_output":
                        kept.append({"output_type": kind, **content})
                    state["outputs"] = kept
