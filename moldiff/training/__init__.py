"""Training: denoisers (MDLM, UDLM, AR) and guidance classifiers, with PyTorch Lightning.

The run configuration (:mod:`.config`), the training loop, data and checkpoints (:mod:`.train`),
classifiers started from a denoiser's trunk (:mod:`.trunk`) and perturbed training copies
(:mod:`.perturbation`). A run exports a model directory through :mod:`moldiff.store`.

May import: :mod:`moldiff.store`, :mod:`moldiff.guidance`, :mod:`moldiff.diffusion`,
:mod:`moldiff.chemistry`, :mod:`moldiff.core`.
"""
