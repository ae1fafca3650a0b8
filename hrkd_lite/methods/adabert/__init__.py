"""AdaBERT (Chen et al., IJCAI 2020): differentiable search of a small, task-adaptive CNN student.

Modules, one concept each: ``config`` (sizes and fidelity switches), ``ops`` (the 10 candidate ops and
their costs), ``gumbel`` (straight-through Gumbel-softmax, τ schedules), ``supernet`` (stem, cells, depth
heads), ``probes`` (teacher/student probes, probe KD), ``efficiency`` (L_E), ``targets`` (cached teacher
outputs), ``search`` (the resumable search loop), ``derive`` (genotype and compact network), ``runner``
(``python -m hrkd_lite run adabert``); notebook 01's experiments are ``hrkd_lite.experiments.nb01``. Method note:
``docs/methods/adabert.md``.
"""
