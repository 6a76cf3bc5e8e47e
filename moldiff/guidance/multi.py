"""Several targets at once: one gamma per target, and classifiers combined into one tilt.

D-CBG and FUDGE toward targets ``y_1 .. y_K`` tilt by the product of the per-target tilts,
``x~ ∝ x prod_k p_k(y_k | z^(l<-v))^gamma_k``. :class:`WeightedClassifiers` is that product as one
classifier, ``log_prob = sum_k gamma_k log p_k(y_k | z)``, which the single-target wrappers use with
gamma 1 (:func:`combine`): every value is at most 0 as each term is, so exact D-CBG's rejection draw
(accept with ``exp(log_prob)``) and the first-order (Taylor) path, whose gradient is the weighted sum of
the per-target gradients, work unchanged. At gammas 1 with exact classifiers the tilt is exactly
``p(x_l | z, y_1 .. y_K)`` when the targets are independent given every noisy ``z`` (for instance when
they depend on independent parts of the sequence); otherwise it is the product-of-experts approximation
of that conditional. D-CFG's per-target form is in :mod:`.cfg`.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from moldiff.core.errors import MoldiffError
from moldiff.guidance.base import Classifier, check_gamma

#: A guidance strength: one number for every target, or one per target.
Gamma = float | Sequence[float]


def is_single(gamma: Gamma) -> bool:
    """Whether ``gamma`` is one number (for every target) rather than a sequence, one per target."""
    return isinstance(gamma, numbers.Real)


def target_gammas(gamma: Gamma, targets: Sequence[str]) -> tuple[float, ...]:
    """One gamma per target: a single number applies to every target; a sequence needs one per target."""
    repeated = sorted({t for t in targets if list(targets).count(t) > 1})
    if repeated:
        raise MoldiffError(f"target '{repeated[0]}' is given twice in --target")
    check_gamma(gamma)
    if is_single(gamma):
        return (float(gamma),) * len(targets)
    if len(gamma) != len(targets):
        raise MoldiffError(f"--gamma gives {len(gamma)} value{'s' if len(gamma) != 1 else ''} for {len(targets)} "
                           f"target{'s' if len(targets) != 1 else ''} ({', '.join(targets)}): give one gamma, or one per target")
    return tuple(float(g) for g in gamma)


def parse_gamma(text: str) -> Gamma:
    """``--gamma`` words: ``'3'`` is one number (every target), ``'3,1'`` one per target."""
    words = [w.strip() for w in str(text).split(",")]
    try:
        values = [float(w) for w in words]
    except ValueError:
        raise MoldiffError(f"--gamma takes a number, or one per target separated by commas (3,1), not '{text}'") from None
    check_gamma(values)
    return values[0] if len(values) == 1 else tuple(values)


def format_gamma(gamma: Gamma) -> str:
    """``'3'`` or ``'3,1'``."""
    return f"{gamma:g}" if is_single(gamma) else ",".join(f"{g:g}" for g in gamma)


@dataclass(frozen=True)
class WeightedClassifiers:
    """``log p = sum_k gamma_k log p_k(y_k | z)`` over the classifiers whose gamma is not 0 (a :class:`Classifier`)."""

    classifiers: tuple[Classifier, ...]
    gammas: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.classifiers) != len(self.gammas):
            raise MoldiffError(f"{len(self.classifiers)} classifiers but {len(self.gammas)} gammas")
        check_gamma(self.gammas)

    @property
    def active(self) -> int:
        """The classifiers evaluated per scored sequence (those with gamma > 0)."""
        return sum(g > 0 for g in self.gammas)

    def log_prob(self, z: torch.Tensor, level: torch.Tensor | None) -> torch.Tensor:
        total = torch.zeros(len(z), dtype=torch.float64, device=z.device)
        for classifier, gamma in zip(self.classifiers, self.gammas):
            if gamma > 0:
                total = total + gamma * classifier.log_prob(z, level).double()
        return total


def combine(classifiers: Sequence[Classifier], gammas: Sequence[float]) -> tuple[Classifier, float]:
    """The classifier and gamma that make a single-target wrapper (``CBGDenoiser``, ``FudgeDenoiser``)
    tilt by ``prod_k p_k^gamma_k``: one target keeps its classifier and gamma (the single-target path,
    draw for draw); several are :class:`WeightedClassifiers` with gamma 1 (0 when every gamma is 0)."""
    if len(classifiers) == 1:
        return classifiers[0], float(gammas[0])
    weighted = WeightedClassifiers(tuple(classifiers), tuple(float(g) for g in gammas))
    return weighted, 1.0 if weighted.active else 0.0


def network_passes(denoiser: object) -> int:
    """Classifier network passes of a guided denoiser: the sequences it scored times the classifiers per sequence."""
    scored = getattr(denoiser, "classifier_passes", 0)
    return scored * getattr(getattr(denoiser, "classifier", None), "active", 1)
