"""Samplers for masked (MDLM, ReMDM), uniform (UDLM) and autoregressive denoisers.

Formulas from ``ALGORITHMS.md`` sections 1-3 and 6. Every sampler runs a time grid
``t_i = i / T`` from 1 down to 0 (``T`` = ``steps``; AR: one step per position) and ends at
``alpha = 1``, so no mask is left. Categorical draws use Gumbel-max in float64 with a seeded
generator: the same seed gives the same sequences.

Masked samplers (``kind == "masked"``): one ReMDM step from ``t`` to ``s`` with remasking
probability ``sigma``::

    unmasked token:  stays with 1 - sigma, is masked with sigma
    masked token:    becomes v with (alpha_s - (1 - sigma) alpha_t) / (1 - alpha_t) * x_theta[v],
                     stays masked with (1 - alpha_s - sigma alpha_t) / (1 - alpha_t)

``mdlm`` is ``sigma = 0``. ``remdm-cap``: ``sigma = min(eta, sigma_max)``; ``remdm-rescale``:
``sigma = eta * sigma_max``; ``remdm-conf``: position ``l`` gets ``eta * sigma_max`` times the
softmax over unmasked positions of ``-psi_l`` (``psi_l``: the probability the token had when it
was decoded), so unconfident tokens are remasked first; ``remdm-loop``: MDLM down to
``alpha_on`` at ``t_on``, then ``alpha`` held at ``alpha_on`` with ``sigma = eta`` until ``t_off``,
then MDLM to ``alpha = 1``. Here ``sigma_max = min(1, (1 - alpha_s) / alpha_t)``.

For denoisers without time input, a sequence that did not change since its last evaluation is
not evaluated again (its ``x_theta`` is the same): only changed rows go through the network.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from .denoisers import Denoiser
from .errors import MoldiffError
from .processes import Schedule, get_schedule, uniform_reverse

MASKED_SAMPLERS = ("mdlm", "remdm-cap", "remdm-rescale", "remdm-conf", "remdm-loop")
SAMPLERS = (*MASKED_SAMPLERS, "udlm", "ar")
SAMPLER_KIND = {**{name: "masked" for name in MASKED_SAMPLERS}, "udlm": "uniform", "ar": "autoregressive"}
#: Reference values of the ReMDM paper's scripts (cap, rescale, loop); conf spends all of sigma_max.
DEFAULT_ETA = {"remdm-cap": 0.008, "remdm-rescale": 0.015, "remdm-conf": 1.0, "remdm-loop": 0.02}
MODEL_KIND_OF = {"masked": "mdlm", "uniform": "udlm", "autoregressive": "ar"}


@dataclass(frozen=True)
class SamplerOptions:
    """Options of a sampling run; :meth:`validate` checks them against the chosen sampler."""

    sampler: str = "remdm-loop"
    steps: int = 128
    schedule: str = "loglinear"
    eta: float | None = None
    t_on: float = 0.55
    t_off: float = 0.05
    alpha_on: float = 0.9
    top_p: float = 1.0
    temperature: float = 1.0
    seed: int = 0
    skip_unchanged: bool = True

    @property
    def eta_value(self) -> float:
        return DEFAULT_ETA.get(self.sampler, 0.0) if self.eta is None else self.eta

    def validate(self, denoiser_kind: str | None = None) -> "SamplerOptions":
        """Raise a clear :class:`MoldiffError` for an impossible combination; return self."""
        if self.sampler not in SAMPLERS:
            raise MoldiffError(f"unknown sampler '{self.sampler}': choose one of {', '.join(SAMPLERS)}")
        if denoiser_kind is not None and SAMPLER_KIND[self.sampler] != denoiser_kind:
            fitting = [s for s in SAMPLERS if SAMPLER_KIND[s] == denoiser_kind]
            raise MoldiffError(
                f"sampler '{self.sampler}' does not fit {MODEL_KIND_OF[denoiser_kind]} models: use {', '.join(fitting)}"
            )
        if self.steps < 1:
            raise MoldiffError(f"steps must be at least 1, not {self.steps}")
        get_schedule(self.schedule)
        if not 0.0 < self.top_p <= 1.0:
            raise MoldiffError(f"top_p must be in (0, 1], not {self.top_p}")
        if not self.temperature > 0.0:
            raise MoldiffError(f"temperature must be positive, not {self.temperature}")
        eta = self.eta_value
        if self.sampler == "remdm-loop":
            if not 0.0 <= self.t_off < self.t_on <= 1.0:
                raise MoldiffError(f"remdm-loop needs 0 <= t_off < t_on <= 1 (got t_off {self.t_off}, t_on {self.t_on})")
            if not 0.0 < self.alpha_on < 1.0:
                raise MoldiffError(f"alpha_on must be in (0, 1), not {self.alpha_on}")
            limit = (1.0 - self.alpha_on) / self.alpha_on
            if not 0.0 <= eta <= limit:
                raise MoldiffError(f"eta must be in [0, {limit:.4g}] for remdm-loop with alpha_on {self.alpha_on} (got {eta})")
        elif self.sampler in DEFAULT_ETA and not 0.0 <= eta <= 1.0:
            raise MoldiffError(f"eta must be in [0, 1] for {self.sampler} (got {eta})")
        return self


@dataclass
class SamplerOutput:
    """Sampled token ids and the work it took."""

    tokens: torch.Tensor
    evaluations: int = 0
    network_seconds: float = 0.0
    sigmas: list[float] = field(default_factory=list)


# --- numerics -------------------------------------------------------------------------------
def gumbel_argmax(log_probs: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """One categorical draw per row of ``log_probs`` (last dim), Gumbel-max in float64."""
    u = torch.rand(log_probs.shape, generator=generator, device=log_probs.device, dtype=torch.float64)
    gumbel = -torch.log(-torch.log(u.clamp_min(1e-300)))
    return (log_probs.double() + gumbel).argmax(-1)


def shape_probs(probs: torch.Tensor, temperature: float, top_p: float) -> torch.Tensor:
    """Temperature then nucleus (top-p) filtering of probabilities over the last dim, renormalised."""
    if temperature != 1.0:
        probs = probs.clamp_min(0) ** (1.0 / temperature)
        probs = probs / probs.sum(-1, keepdim=True)
    if top_p < 1.0:
        sorted_probs, order = probs.sort(-1, descending=True)
        before = sorted_probs.cumsum(-1) - sorted_probs  # mass of the tokens ranked above
        keep_sorted = before < top_p
        keep = torch.zeros_like(keep_sorted).scatter(-1, order, keep_sorted)
        probs = torch.where(keep, probs, torch.zeros_like(probs))
        probs = probs / probs.sum(-1, keepdim=True)
    return probs


def _log(p: torch.Tensor) -> torch.Tensor:
    return torch.where(p > 0, p.clamp_min(1e-300).log(), torch.full_like(p, -math.inf))


class _Evaluator:
    """Calls the denoiser, re-evaluating only changed rows when the denoiser ignores time."""

    def __init__(self, denoiser: Denoiser, labels: torch.Tensor | None, skip: bool) -> None:
        self.denoiser, self.labels = denoiser, labels
        self.skip = skip and not denoiser.uses_time
        self.cache: torch.Tensor | None = None
        self.last: torch.Tensor | None = None
        self.evaluations = 0
        self.seconds = 0.0

    def __call__(self, z: torch.Tensor, level: torch.Tensor) -> torch.Tensor:
        start = time.perf_counter()
        if not self.skip or self.cache is None:
            out = self.denoiser.log_probs(z, level, self.labels)
            self.evaluations += len(z)
            if self.skip:
                self.cache, self.last = out.clone(), z.clone()
        else:
            changed = (z != self.last).any(-1)
            if changed.any():
                rows = changed.nonzero().squeeze(-1)
                labels = None if self.labels is None else self.labels[rows]
                self.cache[rows] = self.denoiser.log_probs(z[rows], level[rows], labels)
                self.last[rows] = z[rows]
                self.evaluations += len(rows)
            out = self.cache
        self.seconds += time.perf_counter() - start
        return out


# --- masked ---------------------------------------------------------------------------------
def loop_alpha(t: float, options: SamplerOptions) -> float:
    """ReMDM-loop's alpha(t): 0 -> alpha_on over [t_on, 1], alpha_on on [t_off, t_on], -> 1 over [0, t_off]."""
    if t > options.t_on:
        return options.alpha_on * (1.0 - (t - options.t_on) / (1.0 - options.t_on))
    if t >= options.t_off:
        return options.alpha_on
    return options.alpha_on + (1.0 - options.alpha_on) * (1.0 - t / options.t_off) if options.t_off > 0 else 1.0


def masked_step_plan(options: SamplerOptions, schedule: Schedule) -> list[tuple[float, float, float]]:
    """``(alpha_t, alpha_s, sigma)`` of each step, ``sigma`` the scalar remasking probability
    (for ``remdm-conf`` the total that is split over positions)."""
    steps, eta = options.steps, options.eta_value
    plan = []
    for i in range(steps, 0, -1):
        t, s = i / steps, (i - 1) / steps
        if options.sampler == "remdm-loop":
            a_t, a_s = loop_alpha(t, options), loop_alpha(s, options)
        else:
            a_t = float(schedule.alpha(torch.tensor(t, dtype=torch.float64)))
            a_s = float(schedule.alpha(torch.tensor(s, dtype=torch.float64))) if i > 1 else 1.0
        sigma_max = min(1.0, (1.0 - a_s) / a_t) if a_t > 0 else 1.0
        if options.sampler == "remdm-cap":
            sigma = min(eta, sigma_max)
        elif options.sampler in ("remdm-rescale", "remdm-conf"):
            sigma = eta * sigma_max
        elif options.sampler == "remdm-loop":
            sigma = eta if (a_t == a_s == options.alpha_on) else 0.0
        else:
            sigma = 0.0
        plan.append((a_t, a_s, max(0.0, min(sigma, sigma_max))))
    return plan


def sample_masked(denoiser: Denoiser, batch: int, options: SamplerOptions, labels: torch.Tensor | None = None,
                  generator: torch.Generator | None = None, progress: Callable[[int], None] | None = None) -> SamplerOutput:
    """MDLM or ReMDM sampling from a masked denoiser (see the module docstring)."""
    options.validate("masked")
    device, mask = denoiser.device, denoiser.mask_id
    generator = generator or torch.Generator(device=device).manual_seed(options.seed)
    z = torch.full((batch, denoiser.length), mask, dtype=torch.long, device=device)
    fixed = torch.zeros(denoiser.length, dtype=torch.bool, device=device)
    if denoiser.bos_id is not None:
        z[:, 0] = denoiser.bos_id
        fixed[0] = True
    psi = torch.ones(z.shape, dtype=torch.float32, device=device)  # confidence of decoded tokens
    evaluate = _Evaluator(denoiser, labels, options.skip_unchanged)
    sigmas = []
    for a_t, a_s, sigma in masked_step_plan(options, get_schedule(options.schedule)):
        masked = z == mask
        if not masked.any() and sigma == 0.0:
            if progress:
                progress(1)
            continue
        x = torch.zeros((*z.shape, denoiser.vocab_size), dtype=torch.float64, device=device)
        if masked.any():  # x_theta only matters where tokens are masked
            x = evaluate(z, torch.full((batch,), 1.0 - a_t, device=device)).double().exp()
            x[..., mask] = 0.0
            x = shape_probs(x / x.sum(-1, keepdim=True).clamp_min(1e-300), options.temperature, options.top_p)
        unmasked = ~masked & ~fixed
        if options.sampler == "remdm-conf":
            score = torch.where(unmasked, -psi.double(), torch.full_like(psi, -math.inf, dtype=torch.float64))
            weights = torch.nan_to_num(score.softmax(-1), nan=0.0)  # rows with nothing unmasked
            sigma_pos = weights * sigma
        else:
            sigma_pos = torch.full(z.shape, sigma, dtype=torch.float64, device=device)
        sigmas.append(float(sigma_pos.max()))
        # masked positions: categorical over tokens plus "stay masked"
        unmask_coef = (a_s - (1.0 - sigma_pos) * a_t) / (1.0 - a_t)
        stay_coef = (1.0 - a_s - sigma_pos * a_t) / (1.0 - a_t)
        probs = x * unmask_coef.clamp_min(0)[..., None]
        probs[..., mask] = stay_coef.clamp_min(0)
        drawn = gumbel_argmax(_log(probs), generator)
        # unmasked positions: remask with sigma
        remask = torch.rand(z.shape, generator=generator, device=device, dtype=torch.float64) < sigma_pos
        new_z = torch.where(masked, drawn, torch.where(unmasked & remask, torch.full_like(z, mask), z))
        decoded = masked & (new_z != mask)
        psi = torch.where(decoded, x.gather(-1, new_z.unsqueeze(-1)).squeeze(-1).float(), psi)
        z = new_z
        if progress:
            progress(1)
    return SamplerOutput(z, evaluate.evaluations, evaluate.seconds, sigmas)


# --- uniform --------------------------------------------------------------------------------
def sample_uniform(denoiser: Denoiser, batch: int, options: SamplerOptions, labels: torch.Tensor | None = None,
                   generator: torch.Generator | None = None, progress: Callable[[int], None] | None = None) -> SamplerOutput:
    """Ancestral UDLM sampling: ``p(z_s | z_t) = sum_v E[x = v | z_t] q(z_s | z_t, x = v)`` per position."""
    options.validate("uniform")
    device = denoiser.device
    generator = generator or torch.Generator(device=device).manual_seed(options.seed)
    schedule = get_schedule(options.schedule)
    support = denoiser.support if denoiser.support is not None else torch.arange(denoiser.vocab_size, device=device)
    n = len(support)
    z = torch.randint(n, (batch, denoiser.length), generator=generator, device=device)  # support space
    bos = None
    if denoiser.bos_id is not None:
        bos = int((support == denoiser.bos_id).nonzero()[0, 0])
        z[:, 0] = bos
    evaluate = _Evaluator(denoiser, labels, options.skip_unchanged)

    def shape(x: torch.Tensor) -> torch.Tensor:
        return shape_probs(x / x.sum(-1, keepdim=True), options.temperature, options.top_p)

    for i in range(options.steps, 0, -1):
        t, s = i / options.steps, (i - 1) / options.steps
        a_t = float(schedule.alpha(torch.tensor(t, dtype=torch.float64)))
        a_s = float(schedule.alpha(torch.tensor(s, dtype=torch.float64))) if i > 1 else 1.0
        level = torch.full((batch,), 1.0 - a_t, device=device)
        alpha_t = torch.full((batch,), a_t, dtype=torch.float64, device=device)
        alpha_s = torch.full((batch,), a_s, dtype=torch.float64, device=device)
        if hasattr(denoiser, "reverse_step"):  # guided: the wrapper builds the transition itself
            start = time.perf_counter()
            posterior = denoiser.reverse_step(z, level, alpha_t, alpha_s, shape)
            evaluate.seconds += time.perf_counter() - start
            evaluate.evaluations += batch
        else:
            x = shape(evaluate(support[z], level).double().exp()[..., support])
            posterior = uniform_reverse(x, z, alpha_t, alpha_s)
        z = gumbel_argmax(_log(posterior), generator)
        if bos is not None:
            z[:, 0] = bos
        if progress:
            progress(1)
    return SamplerOutput(support[z], evaluate.evaluations, evaluate.seconds)


# --- autoregressive -------------------------------------------------------------------------
def sample_autoregressive(denoiser: Denoiser, batch: int, options: SamplerOptions, labels: torch.Tensor | None = None,
                          generator: torch.Generator | None = None, progress: Callable[[int], None] | None = None) -> SamplerOutput:
    """Left-to-right sampling from ``<bos>``; finished rows (after ``<eos>``) are padded, not evaluated."""
    options.validate("autoregressive")
    if denoiser.bos_id is None:
        raise MoldiffError("an autoregressive denoiser needs a <bos> token to start from")

    device = denoiser.device
    generator = generator or torch.Generator(device=device).manual_seed(options.seed)
    pad = denoiser.pad_id if denoiser.pad_id is not None else denoiser.bos_id
    z = torch.full((batch, denoiser.length), pad, dtype=torch.long, device=device)
    z[:, 0] = denoiser.bos_id
    active = torch.ones(batch, dtype=torch.bool, device=device)
    evaluations, seconds = 0, 0.0
    for i in range(1, denoiser.length):
        rows = active.nonzero().squeeze(-1)
        if len(rows) == 0:
            break
        start = time.perf_counter()
        lp = denoiser.log_probs(z[rows, :i], None, None if labels is None else labels[rows])[:, -1]
        seconds += time.perf_counter() - start
        evaluations += len(rows)
        x = shape_probs(lp.double().exp(), options.temperature, options.top_p)
        z[rows, i] = gumbel_argmax(_log(x), generator)
        if denoiser.eos_id is not None:
            active[rows] = z[rows, i] != denoiser.eos_id
        if progress:
            progress(1)
    return SamplerOutput(z, evaluations, seconds)


SAMPLER_FUNCTIONS = {"masked": sample_masked, "uniform": sample_uniform, "autoregressive": sample_autoregressive}


def run_sampler(denoiser: Denoiser, batch: int, options: SamplerOptions, labels: torch.Tensor | None = None,
                generator: torch.Generator | None = None, progress: Callable[[int], None] | None = None) -> SamplerOutput:
    """Draw ``batch`` sequences from ``denoiser`` with the sampler named in ``options``."""
    options.validate(denoiser.kind)
    return SAMPLER_FUNCTIONS[denoiser.kind](denoiser, batch, options, labels, generator, progress)


def progress_total(denoiser: Denoiser, options: SamplerOptions) -> int:
    """Progress units of one batch (steps, or positions for AR)."""
    return denoiser.length - 1 if denoiser.kind == "autoregressive" else options.steps
