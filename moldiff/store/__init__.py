"""Model store: the model file format, model cards and recommended settings.

A model is a directory with ``config.json`` and ``weights.safetensors`` (:mod:`.modelfile`:
verified reading into a plain :class:`~.modelfile.StoredModel` record, saving, exporting), its
rendered card ``README.md`` (:mod:`.modelcard`) and the sampler settings it recommends
(:mod:`.recommended`). The store knows nothing about sampling: the object users call
``.sample()`` on wraps a record in :mod:`moldiff.pipeline.model`.

May import: :mod:`moldiff.guidance`, :mod:`moldiff.diffusion`, :mod:`moldiff.chemistry`, :mod:`moldiff.core`.
"""
