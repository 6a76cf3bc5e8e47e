"""Guidance: steering a denoiser toward a target, as wrappers that are themselves denoisers.

So every sampler runs guided without change:

- :mod:`.cfg`: discrete classifier-free guidance (D-CFG), ``log x~ = gamma log x(z, y) + (1 - gamma) log x(z, null)``;
- :mod:`.cbg`: discrete classifier-based guidance (D-CBG), exact (lazy, with a rejection draw) and
  first-order (``taylor``), with a noisy classifier ``p(y | z_t)``;
- :mod:`.fudge`: FUDGE for autoregressive models, with a prefix classifier;
- :mod:`.multi`: several targets at once, a gamma each (the product of per-target tilts);
- :mod:`.base`: what they share (the method tables, checks and the classifier protocol);
- :mod:`.presets`: the ReMDM paper's guided and unguided settings by name.

May import: :mod:`moldiff.diffusion`, :mod:`moldiff.core`.
"""
