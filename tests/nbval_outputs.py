"""pytest plugin for nbval: fail a notebook cell whose output is a figure shown as text, and fail the
last cell of a notebook when a widget's ``Output`` area holds no image after the notebook ran.

Load it next to nbval, in a kernel started as a user's is (no ``MPLBACKEND=Agg``)::

    python -m pytest --nbval-lax -p tests.nbval_outputs notebooks

It adds no execution of its own: it reads the outputs nbval collected for each cell, and taps the
kernel messages nbval receives to rebuild the widget models a front end would hold
(:class:`tests.notebook_checks.WidgetStates`).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.notebook_checks import WidgetStates, outputs_without_image, text_figures


def _tap(notebook: Any) -> WidgetStates:
    """Wrap the notebook's kernel-message getter once so every message also feeds its widget states."""
    states = getattr(notebook, "_hrkd_widget_states", None)
    if states is None:
        states = notebook._hrkd_widget_states = WidgetStates()
        get = notebook.get_kernel_message

        def get_and_record(*args: Any, **kwargs: Any) -> Any:
            msg = get(*args, **kwargs)
            states.feed(msg)
            return msg

        notebook.get_kernel_message = get_and_record
    return states


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item):
    notebook = getattr(item, "parent", None)
    if not hasattr(item, "cell") or not hasattr(notebook, "get_kernel_message"):
        return (yield)
    states = _tap(notebook)
    result = yield
    bad = text_figures(getattr(item, "test_outputs", None) or [])
    if bad:
        raise AssertionError(f"a figure is shown as text, not as an image: {bad} (show it with "
                             "hrkd_lite.viz.common.show_static; widgets with render_into)")
    cells = [i for i in item.session.items if getattr(i, "parent", None) is notebook]
    if cells and item is cells[-1]:
        empty = outputs_without_image(states.models)
        if empty:
            raise AssertionError(f"{len(empty)} widget Output area(s) hold no image after the notebook ran "
                                 "(draw into them with hrkd_lite.viz.common.render_into)")
    return result
