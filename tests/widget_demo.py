"""A small widgets-only notebook holding every interactive view of the course, for the front-end tests.

:func:`write_demo` writes, into a fresh folder, an HRKD recording of a real ``MetaGraph`` driven by
drifting random prototypes (seconds on a CPU, so the notebook runs from a clean checkout) and
``widgets.ipynb``, whose cell ``i`` shows widget ``WIDGETS[i]``. The numbers behind the Meta-KD widgets
are made-up inputs for a display test, not results. Used by ``tests/test_notebook_outputs.py``
(nbclient, stored widget state) and ``tests/browser/test_widgets_browser.py`` (JupyterLab + Chromium).
"""

from __future__ import annotations

from pathlib import Path

import nbformat

DOMAINS = ["books", "dvd", "electronics", "kitchen"]

# (name, code showing the widget, how to move each control: (kind, label) with kind in
# "slider" | "dropdown" | "toggle")
WIDGETS: list[tuple[str, str, list[tuple[str, str]]]] = [
    ("GraphLab", "LV.GraphLab(rec, graph)", [("dropdown", "prototypes"), ("dropdown", "W2 init")]),
    ("PrototypeInspector", "HV.PrototypeInspector(rec)", [("dropdown", "layer"), ("dropdown", "domain")]),
    ("TransferabilityExplorer", "TE.TransferabilityExplorer(PS, TEXTS, ['books', 'dvd'], 2)",
     [("dropdown", "domain"), ("slider", "sentences")]),
    ("WeightingWidget", "MV.WeightingWidget(np.array([0.3, 0.45, 0.6, 0.9]), TOGGLE)", [("toggle", "")]),
    ("soft_target_widget", "bv.soft_target_widget(t, s, y, ['neg', 'pos'], [f'review {i}' for i in range(8)])[0]",
     [("slider", "T"), ("slider", "α"), ("dropdown", "example")]),
    ("layer_map_widget", "bv.layer_map_widget(teacher_layers=12, student_layers=4)[0]",
     [("slider", "teacher L"), ("slider", "student M")]),
]

SETUP = """import numpy as np
import torch

from hrkd_lite.methods.hrkd import MetaGraph, Recording
from hrkd_lite.methods.metakd.scores import score_examples
from hrkd_lite.viz import background_views as bv
from hrkd_lite.viz import hrkd_live as LV
from hrkd_lite.viz import hrkd_views as HV
from hrkd_lite.viz import metakd_views as MV
from hrkd_lite.viz import transfer_explorer as TE

rec = Recording.load("recording")
torch.manual_seed(0)
graph = MetaGraph(12, 3, 4).eval()  # the recording's graph: same seed, same shapes
PS = score_examples(torch.randn(20, 8), torch.arange(20) % 2, torch.arange(20) // 10, 2, 2)
TEXTS = [[f"{d} review {i}" for i in range(10)] for d in ("books", "dvd")]
TOGGLE = {"per_instance": {"books": 0.6, "dvd": 0.7}, "batch_mean": {"books": 0.5, "dvd": 0.65}}
g = torch.Generator().manual_seed(0)
t, s, y = torch.randn(8, 2, generator=g) * 3, torch.randn(8, 2, generator=g), torch.arange(8) % 2"""


def write_recording(folder: Path, steps: int = 5, layers: int = 3, width: int = 12) -> Path:
    """Record a real ``MetaGraph`` on drifting random prototypes (L layers, 4 domains); returns the folder."""
    import torch

    from hrkd_lite.methods.hrkd import MetaGraph, Recorder

    torch.manual_seed(0)
    graph = MetaGraph(width, layers, len(DOMAINS)).train()
    rec = Recorder(DOMAINS, num_layers=layers, num_heads=8)
    base = torch.randn(layers, len(DOMAINS), width)
    for step in range(1, steps + 1):
        protos = base + 0.3 * step * torch.randn(layers, len(DOMAINS), width)
        out = graph(protos.unsqueeze(0))
        rec.add(step, 0, out.record(), torch.rand(1, layers, len(DOMAINS)), torch.rand(1, len(DOMAINS)))
        if step in (1, steps):
            masked = protos + 0.5 * torch.randn(layers, len(DOMAINS), width)
            rec.add_snapshot(step, protos, out.features, graph.eval()(protos).weights,
                             {"padding": protos[None], "masked": masked[None]})
            graph.train()
    rec.to_recording({"seed": 0}).save(folder)
    return folder


def write_demo(folder: Path) -> Path:
    """Write ``recording/`` and ``widgets.ipynb`` (cell 0: setup; cell i: widget i - 1); returns the notebook."""
    folder.mkdir(parents=True, exist_ok=True)
    write_recording(folder / "recording")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(SETUP)] + [nbformat.v4.new_code_cell(code) for _, code, _ in WIDGETS]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = folder / "widgets.ipynb"
    nbformat.write(nb, path)
    return path
