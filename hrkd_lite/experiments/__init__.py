"""What the notebooks and the ``reproduce`` command run and cache (above ``viz`` and ``methods``)."""
