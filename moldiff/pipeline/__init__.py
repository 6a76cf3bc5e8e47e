"""Pipeline: what users call. A loaded model in, scored molecules out.

The object with ``.sample()`` (:class:`~.model.LoadedModel`, from :func:`~.model.load`) wraps a
plain model record from :mod:`moldiff.store`. Its settings travel as one
:class:`~.options.SampleOptions`; :mod:`.sampling` builds the guided denoiser, runs the sampler and
decodes and scores; :mod:`.generate` samples in seeded rounds until enough candidates pass filters;
:mod:`.constraints` turns a scaffold, fragments or a start molecule into tokens held fixed (inpainting);
:mod:`.frontier` sweeps settings into novelty/property frontiers; :mod:`.display` is how results show in Jupyter.

May import: every layer below it (training, store, guidance, diffusion, chemistry, core).
"""
