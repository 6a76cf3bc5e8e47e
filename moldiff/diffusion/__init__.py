"""Diffusion: the mathematics of discrete diffusion, in torch and without chemistry.

Noise processes and schedules (:mod:`.processes`), the transformer denoiser network
(:mod:`.networks`), the :class:`~.denoisers.Denoiser` protocol every sampler consumes
(:mod:`.denoisers`), the samplers (:mod:`.samplers`: MDLM, ReMDM schedules, UDLM, AR, ...) and the
per-molecule random streams that make a molecule independent of its batch (:mod:`.streams`).

May import: :mod:`moldiff.core`. Never RDKit: ``import moldiff.diffusion.samplers`` loads neither
RDKit nor pandas (a test checks it).
"""
