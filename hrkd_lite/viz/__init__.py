"""Figures and widgets for the notebooks: ``common`` (shared helpers) plus one view module per notebook.

Import the module you need (``from hrkd_lite.viz import background_views``); nothing is imported here so
that adding a view module never slows or breaks another notebook.
"""
