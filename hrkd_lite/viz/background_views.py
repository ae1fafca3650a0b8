"""Views for notebook 00 (background): why and how to compress BERT — re-exports only.

The code lives in three modules, one concept each; this module keeps ``from hrkd_lite.viz import
background_views as bv`` working for notebook 00 and its tests:

- :mod:`hrkd_lite.viz.background_sizes`: 1 parameters, 2 latency (docs/methods/background.md §2);
- :mod:`hrkd_lite.viz.background_kd`: 3 soft targets and T², 4 the KD runs' curves and tables (§3);
- :mod:`hrkd_lite.viz.background_layers`: 5 TinyBERT/MiniLM maps, 6 layer maps, 7 what each method
  transfers (§6-§8).

Every function returns data (dicts of numbers/arrays) and, where asked, a matplotlib ``Figure``; widget
builders return ``(widget, state)`` where ``state`` is a dict the callback rewrites (``state["fig"]``,
the numbers it plotted, ``state["controls"]``) so tests can move a slider and check what changed.
Method note: ``docs/methods/background.md`` §2 (size arithmetic), §3 (Hinton KD, T²), §6-§8, §9.
Numbers quoted from papers carry their tag ([A] abstract, [R] README, [M] unverified memory,
[D] derived); everything else is computed or measured here. The runs themselves (teacher, students, the
MiniLM transfer) are trained by :mod:`hrkd_lite.experiments.nb00`; these views only draw them.
"""

from __future__ import annotations

from hrkd_lite.viz.background_kd import (
    METHODS,
    accuracy_rows,
    entropy,
    kd_gain_summary,
    kd_loss_parts,
    pick_examples,
    plot_soft_targets,
    plot_t2,
    plot_training_curves,
    read_histories,
    soft_target_figure,
    soft_target_widget,
    soft_targets,
    t2_gradient_table,
)
from hrkd_lite.viz.background_layers import (
    MAP_TITLES,
    TRANSFER_HEADER,
    TRANSFER_ROWS,
    head_to_show,
    layer_map_widget,
    plot_attention_maps,
    plot_hidden_terms,
    plot_layer_maps,
    plot_value_relations,
    tinybert_terms,
    transfer_losses,
    transfer_table_markdown,
)
from hrkd_lite.viz.background_sizes import (
    ADABERT_SMALLER,
    COLORS,
    COMPONENTS,
    PAPER_SIZES,
    PAPER_SPEEDUPS,
    adabert_range,
    interleaved_latency,
    latency_vs_depth,
    latency_vs_seq,
    model_configs,
    paper_size_check,
    param_breakdown,
    plot_latency,
    plot_param_breakdown,
    preset_speedups,
    student_config,
)

__all__ = [
    "COMPONENTS",
    "COLORS",
    "ADABERT_SMALLER",
    "PAPER_SIZES",
    "PAPER_SPEEDUPS",
    "student_config",
    "model_configs",
    "param_breakdown",
    "adabert_range",
    "plot_param_breakdown",
    "paper_size_check",
    "preset_speedups",
    "interleaved_latency",
    "latency_vs_seq",
    "latency_vs_depth",
    "plot_latency",
    "entropy",
    "soft_targets",
    "pick_examples",
    "kd_loss_parts",
    "t2_gradient_table",
    "plot_soft_targets",
    "plot_t2",
    "soft_target_figure",
    "soft_target_widget",
    "METHODS",
    "read_histories",
    "plot_training_curves",
    "accuracy_rows",
    "kd_gain_summary",
    "tinybert_terms",
    "head_to_show",
    "plot_attention_maps",
    "plot_hidden_terms",
    "plot_value_relations",
    "MAP_TITLES",
    "plot_layer_maps",
    "layer_map_widget",
    "TRANSFER_HEADER",
    "TRANSFER_ROWS",
    "transfer_table_markdown",
    "transfer_losses",
]
