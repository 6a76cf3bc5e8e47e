"""Samplers for masked (MDLM, ReMDM), uniform (UDLM) and autoregressive denoisers.

Formulas from ``docs/algorithms.md``. Every sampler runs a time grid
``t_i = i / T`` from 1 down to 0 (``T`` = ``steps``; AR: one step per position) and ends at
``alpha = 1``, so no mask is left. Categorical draws use Gumbel-max in float64 on uniforms from
:class:`~moldiff.diffusion.streams.MoleculeStreams`, one stream per molecule keyed by ``(seed, index)``: the
same seed gives the same sequences whatever the batch size, and a larger run extends a smaller one.

Masked samplers (``kind == "masked"``): one ReMDM step from ``t`` to ``s`` with remasking
probability ``sigma``::

    unmasked token:  stays with 1 - sigma, is masked with sigma
    masked token:    unmasks with (alpha_s - (1 - sigma) alpha_t) / (1 - alpha_t), then becomes v with x~[v];
                     stays masked otherwise

Whether a position changes does not depend on the token, so :func:`masked_step` draws these events
first and computes ``x~`` (the denoiser's prediction, tilted by a D-CBG wrapper) only at the newly
unmasked positions: rows where nothing unmasks are not evaluated.

``mdlm`` is ``sigma = 0``. ``remdm-cap``: ``sigma = min(eta, sigma_max)``; ``remdm-rescale``:
``sigma = eta * sigma_max``; ``remdm-conf``: position ``l`` gets ``eta * sigma_max`` times the
softmax over unmasked positions of ``-psi_l`` (``psi_l``: the probability the token had when it
was decoded), so unconfident tokens are remasked first; ``remdm-loop``: MDLM down to
``alpha_on`` at ``t_on``, then ``alpha`` held at ``alpha_on`` with ``sigma = eta`` until ``t_off``,
then MDLM to ``alpha = 1``. Here ``sigma_max = min(1, (1 - alpha_s) / alpha_t)``. Compositions
(``docs/algorithms.md``): ``confidence`` splits cap's or rescale's sigma over positions,
``loop_window`` applies cap or rescale only inside the loop window, ``t_switch`` only for
``t <= t_switch``. Corrector baselines: ``fb`` with ``sigma = (alpha_s - alpha_t) / alpha_t``;
``dfm`` with ``sigma = b_t (alpha_s / alpha_t - 1)`` on an adaptive grid (:func:`masked_step_plan`).

Top-p under guidance (``nucleus``): by default (``"model"``) the nucleus is taken from the
distribution the guidance starts from (the unguided model for D-CBG and FUDGE, the conditional model
``gamma = 1`` for D-CFG), and guidance reweights the tokens inside it: tokens that model finds
implausible are never proposed, however strongly guidance favours them, and exact D-CBG keeps its
rejection draw (proposals from the truncated model). ``"guided"`` truncates the guided distribution
instead (tilt, then truncate), the behaviour before issue 27. Unguided sampling is the same either way.
Temperature applies to the guided distribution in both. Uniform models' D-CBG always tilts within the
model's nucleus; their D-CFG mixes posteriors and takes no top-p.

Inpainting (:class:`Template`): positions marked fixed hold their template token from the first step
to the last; they are never masked, remasked or resampled, and a D-CBG wrapper is never asked about
them (it only sees newly unmasked positions). With an exact denoiser, masked samplers then draw from
``p(x_free | x_fixed)``: the fixed tokens are simply unmasked context of the conditional process.
The uniform sampler holds fixed positions at their clean tokens while its denoiser reads them as
noisy ones, so it targets ``p(x_free | x_fixed)`` only approximately (measured in
``tests/test_inpainting.py``). Autoregressive models take no template.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch

from moldiff.core.errors import MoldiffError
from moldiff.diffusion.processes import Schedule, get_schedule, uniform_reverse
from moldiff.diffusion.streams import MoleculeStreams, molecule_keys

if TYPE_CHECKING:
    from moldiff.diffusion.denoisers import Denoiser

MASKED_SAMPLERS = ("mdlm", "remdm-cap", "remdm-rescale", "remdm-conf", "remdm-loop", "fb", "dfm")
#: Remasking schedules the confidence weighting, the loop window and the switch compose with.
COMPOSABLE = ("remdm-cap", "remdm-rescale")
SAMPLERS = (*MASKED_SAMPLERS, "udlm", "ar")
SAMPLER_KIND = {**{name: "masked" for name in MASKED_SAMPLERS}, "udlm": "uniform", "ar": "autoregressive"}
#: Reference values of the ReMDM paper's scripts (cap, rescale, loop); conf spends all of sigma_max.
DEFAULT_ETA = {"remdm-cap": 0.008, "remdm-rescale": 0.015, "remdm-conf": 1.0, "remdm-loop": 0.02}
#: Where top-p truncates under guidance (module docstring): the guidance's own model, or the guided distribution.
NUCLEUS_MODES = ("model", "guided")
MODEL_KIND_OF = {"masked": "mdlm", "uniform": "udlm", "autoregressive": "ar"}
#: The sampler used for each denoiser kind when none is named.
DEFAULT_SAMPLER = {"masked": "remdm-loop", "uniform": "udlm", "autoregressive": "ar"}
#: Settings that belong to one sampler and do not carry over to another one (a recommendation's, a preset's).
SAMPLER_SPECIFIC = ("eta", "t_on", "t_off", "alpha_on", "confidence", "loop_window", "t_switch")


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
    confidence: bool = False
    loop_window: bool = False
    t_switch: float | None = None
    nucleus: str = "model"

    @property
    def eta_value(self) -> float:
        return DEFAULT_ETA.get(self.sampler, 0.0) if self.eta is None else self.eta

    @property
    def uses_confidence(self) -> bool:
        """Whether sigma is split over positions by ``softmax(-psi)`` (``remdm-conf`` or ``confidence``)."""
        return self.confidence or self.sampler == "remdm-conf"

    @property
    def uses_loop(self) -> bool:
        """Whether alpha follows ReMDM-loop's three phases (``remdm-loop`` or ``loop_window``)."""
        return self.loop_window or self.sampler == "remdm-loop"

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
        if self.nucleus not in NUCLEUS_MODES:
            raise MoldiffError(f"nucleus must be one of {', '.join(NUCLEUS_MODES)}, not '{self.nucleus}'")
        if not self.temperature > 0.0:
            raise MoldiffError(f"temperature must be positive, not {self.temperature}")
        if self.eta is not None and self.sampler in ("fb", "dfm"):
            raise MoldiffError(f"{self.sampler} has its own remasking schedule and takes no eta (got {self.eta})")
        self._validate_composition()
        eta = self.eta_value
        if self.sampler == "remdm-loop":
            limit = (1.0 - self.alpha_on) / self.alpha_on
            if not 0.0 <= eta <= limit:
                raise MoldiffError(f"eta must be in [0, {limit:.4g}] for remdm-loop with alpha_on {self.alpha_on} (got {eta})")
        elif self.sampler in DEFAULT_ETA and not 0.0 <= eta <= 1.0:
            raise MoldiffError(f"eta must be in [0, 1] for {self.sampler} (got {eta})")
        return self

    def _validate_composition(self) -> None:
        composable = ", ".join(COMPOSABLE)
        if self.confidence and self.sampler not in (*COMPOSABLE, "remdm-conf", "remdm-loop"):
            raise MoldiffError(f"confidence weighting needs a remasking schedule: use it with {composable} or remdm-loop, not {self.sampler}")
        if self.loop_window and self.sampler not in COMPOSABLE:
            hint = " (remdm-loop has it built in)" if self.sampler == "remdm-loop" else ""
            raise MoldiffError(f"the loop window needs a remasking schedule: use it with {composable}, not {self.sampler}{hint}")
        if self.t_switch is not None:
            if self.sampler not in (*COMPOSABLE, "remdm-conf") or self.uses_loop:
                raise MoldiffError(f"a switch time needs {composable} or remdm-conf without the loop window, not {self.sampler}"
                                   + (" with the loop window" if self.loop_window else ""))
            if not 0.0 < self.t_switch <= 1.0:
                raise MoldiffError(f"the switch time must be in (0, 1], not {self.t_switch}")
        if self.uses_loop:
            if not 0.0 <= self.t_off < self.t_on <= 1.0:
                raise MoldiffError(f"the loop window needs 0 <= t_off < t_on <= 1 (got t_off {self.t_off}, t_on {self.t_on})")
            if not 0.0 < self.alpha_on < 1.0:
                raise MoldiffError(f"alpha_on must be in (0, 1), not {self.alpha_on}")


@dataclass(frozen=True)
class Template:
    """Tokens held fixed while sampling: ``tokens`` ``[R, L]`` ids and ``fixed`` ``[R, L]`` bool, with ``R``
    one (the same template for every molecule) or one row per molecule; free positions' tokens are ignored."""

    tokens: torch.Tensor
    fixed: torch.Tensor

    def rows(self, start: int, stop: int) -> Template:
        """The rows of molecules ``start .. stop - 1`` (a one-row template is shared)."""
        if len(self.tokens) == 1:
            return self
        return Template(self.tokens[start:stop], self.fixed[start:stop])

    def expand(self, denoiser: Denoiser, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``(tokens, fixed)`` as ``[batch, L]`` on the denoiser's device; a clear error for a template that does not fit."""
        if self.tokens.shape != self.fixed.shape or self.tokens.dim() != 2 or self.tokens.shape[1] != denoiser.length:
            raise MoldiffError(f"a template must be [rows, {denoiser.length}] tokens with a fixed mask of the same shape")
        if len(self.tokens) not in (1, batch):
            raise MoldiffError(f"a template has {len(self.tokens)} rows for a batch of {batch}")
        tokens = self.tokens.to(denoiser.device).long().expand(batch, -1)
        fixed = self.fixed.to(denoiser.device).bool().expand(batch, -1)
        held = tokens[fixed]
        allowed = denoiser.support if denoiser.support is not None else torch.arange(denoiser.vocab_size, device=denoiser.device)
        if denoiser.mask_id is not None:
            allowed = allowed[allowed != denoiser.mask_id]
        if not torch.isin(held, allowed).all():
            raise MoldiffError("a template fixes a token outside the vocabulary (or the mask token)")
        return tokens, fixed


@dataclass
class SamplerOutput:
    """Sampled token ids and the work it took."""

    tokens: torch.Tensor
    evaluations: int = 0
    network_seconds: float = 0.0
    sigmas: list[float] = field(default_factory=list)


# --- numerics -------------------------------------------------------------------------------
def gumbel_argmax(log_probs: torch.Tensor, uniforms: torch.Tensor) -> torch.Tensor:
    """One categorical draw per row of ``log_probs`` (last dim), Gumbel-max in float64 on ``uniforms`` (same shape)."""
    gumbel = -torch.log(-torch.log(uniforms.clamp_min(1e-300)))
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


def within(log_probs: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """``log_probs`` restricted to the tokens ``keep`` (same shape, bool) and renormalised over the last dim;
    a row with no probable token left is returned unchanged."""
    restricted = log_probs.masked_fill(~keep, -math.inf)
    some = torch.isfinite(restricted).any(-1, keepdim=True)
    return torch.where(some, restricted.log_softmax(-1), log_probs)


def nucleus_of(options: SamplerOptions, excluded: int | None = None) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """The function giving, from a reference model's log-probabilities, the tokens of its top-p nucleus (after
    temperature, ``excluded`` token set to 0); ``None`` when nothing is cut (top-p 1) or the guided
    distribution is cut instead (``nucleus="guided"``)."""
    if options.top_p == 1.0 or options.nucleus != "model":
        return None

    def keep(reference: torch.Tensor) -> torch.Tensor:
        p = reference.double().exp()
        if excluded is not None:
            p[..., excluded] = 0.0
        return shape_probs(p / p.sum(-1, keepdim=True).clamp_min(1e-300), options.temperature, options.top_p) > 0

    return keep


class _Evaluator:
    """Calls the denoiser, re-evaluating only changed rows when the denoiser ignores time; ``paired``: its
    guided and reference predictions (``log_probs_pair``, ``[B, L, 2, N]``)."""

    def __init__(self, denoiser: Denoiser, labels: torch.Tensor | None, skip: bool, paired: bool = False) -> None:
        self.denoiser, self.labels = denoiser, labels
        self.call = denoiser.log_probs_pair if paired else denoiser.log_probs
        self.skip = skip and not denoiser.uses_time
        self.cache: torch.Tensor | None = None
        self.last: torch.Tensor | None = None
        self.evaluations = 0
        self.seconds = 0.0

    def __call__(self, z: torch.Tensor, level: torch.Tensor | None, needed: torch.Tensor | None = None) -> torch.Tensor:
        """``log x_theta`` ``[B, L, N]``; only the rows where ``needed`` ``[B]`` is true (default all) are valid."""
        start = time.perf_counter()
        wanted = torch.ones(len(z), dtype=torch.bool, device=z.device) if needed is None else needed
        if self.skip and self.last is not None:
            wanted = wanted & (z != self.last).any(-1)
        rows = wanted.nonzero().squeeze(-1)
        if len(rows):
            labels = None if self.labels is None else self.labels[rows]
            out = self.call(z[rows], None if level is None else level[rows], labels)
            self.evaluations += len(rows)
            if self.cache is None:
                self.cache = torch.zeros((*z.shape, *out.shape[2:]), dtype=out.dtype, device=z.device)
                self.last = torch.full_like(z, -1)
            self.cache[rows] = out
            self.last[rows] = z[rows]
        self.seconds += time.perf_counter() - start
        return self.cache


# --- masked ---------------------------------------------------------------------------------
def loop_alpha(t: float, options: SamplerOptions) -> float:
    """ReMDM-loop's alpha(t): 0 -> alpha_on over [t_on, 1], alpha_on on [t_off, t_on], -> 1 over [0, t_off]."""
    if t > options.t_on:
        return options.alpha_on * (1.0 - (t - options.t_on) / (1.0 - options.t_on))
    if t >= options.t_off:
        return options.alpha_on
    return options.alpha_on + (1.0 - options.alpha_on) * (1.0 - t / options.t_off) if options.t_off > 0 else 1.0


def _sigma(options: SamplerOptions, t: float, a_t: float, a_s: float, sigma_max: float) -> float:
    """The scalar remasking probability of a step from ``t`` (before clipping to ``[0, sigma_max]``)."""
    sampler, eta = options.sampler, options.eta_value
    if sampler == "mdlm":
        return 0.0
    if sampler == "fb":
        return (a_s - a_t) / a_t if a_t > 0 else 1.0
    if options.uses_loop and not a_t == a_s == options.alpha_on:
        return 0.0  # outside the loop window: MDLM
    if options.t_switch is not None and t > options.t_switch:
        return 0.0  # before the switch: MDLM
    if sampler == "remdm-loop":
        return eta
    if sampler == "remdm-cap":
        return min(eta, sigma_max)
    return eta * sigma_max  # remdm-rescale, remdm-conf


def _dfm_alpha_grid(options: SamplerOptions) -> list[float]:
    """DFM's times: a plain step 1 -> 1 - 1/T, adaptive ``dt = min(1/T, 1/(a_t/t + b_t/(1 - t)))`` down to
    ``1/T``, then a plain step to 0."""
    h = 1.0 / options.steps
    times = [1.0]
    if options.steps > 1:
        t = 1.0 - h
        times.append(t)
        while t > h + 1e-12:
            a = 10.0 * t**0.25 * (1.0 - t) ** 0.25 + 1.0
            t = max(t - min(h, 1.0 / (a / t + (a - 1.0) / (1.0 - t))), h)
            times.append(t)
    return times + [0.0]


def masked_step_plan(options: SamplerOptions, schedule: Schedule) -> list[tuple[float, float, float]]:
    """``(alpha_t, alpha_s, sigma)`` of each step, ``sigma`` the scalar remasking probability
    (with confidence weighting, the total that is split over positions)."""
    if options.sampler == "dfm":
        times = _dfm_alpha_grid(options)
    else:
        times = [i / options.steps for i in range(options.steps, -1, -1)]

    def alpha(t: float) -> float:
        if t == 0.0:
            return 1.0
        return loop_alpha(t, options) if options.uses_loop else float(schedule.alpha(torch.tensor(t, dtype=torch.float64)))

    plan = []
    for index, (t, s) in enumerate(zip(times, times[1:])):
        a_t, a_s = alpha(t), alpha(s)
        sigma_max = min(1.0, (1.0 - a_s) / a_t) if a_t > 0 else 1.0
        if options.sampler == "dfm":  # sigma = b_t (alpha_s / alpha_t - 1); first and last steps plain
            b = 10.0 * t**0.25 * (1.0 - t) ** 0.25
            plain = index == 0 or s == 0.0
            sigma = 0.0 if plain else min(1.0, max(0.0, b * (a_s / a_t - 1.0)))
        else:
            sigma = max(0.0, min(_sigma(options, t, a_t, a_s, sigma_max), sigma_max))
        plan.append((a_t, a_s, sigma))
    return plan


class MaskedPredictor:
    """``x~`` at chosen (row, position) pairs for the masked samplers, computed only where asked.

    The denoiser's prediction comes from an :class:`_Evaluator` (unchanged rows are not evaluated
    again when the denoiser ignores time). A guidance wrapper that reweights the prediction at
    single positions (it has ``tilt_at`` and ``draw_at``, e.g. exact or Taylor D-CBG) is applied to
    those pairs only, on top of its base denoiser's cached prediction.

    ``nucleus`` (:func:`nucleus_of`): under guidance, the guided prediction is restricted to the
    nucleus of the guidance's reference model (a D-CBG wrapper's base; a wrapper's own
    ``log_probs_pair`` reference, e.g. D-CFG's conditional model) before any tilt or draw.
    """

    def __init__(self, denoiser: Denoiser, labels: torch.Tensor | None, skip: bool,
                 nucleus: Callable[[torch.Tensor], torch.Tensor] | None = None) -> None:
        self.guide = denoiser if hasattr(denoiser, "tilt_at") else None
        pairs = self.guide is None and hasattr(denoiser, "log_probs_pair")
        self.nucleus = nucleus if self.guide is not None or pairs else None  # unguided: the sampler's top-p
        self.paired = pairs and self.nucleus is not None
        self.evaluate = _Evaluator(denoiser.base if self.guide else denoiser, labels, skip, self.paired)

    def __call__(self, z: torch.Tensor, level: torch.Tensor, where: torch.Tensor,
                 draw: MoleculeStreams | None = None) -> torch.Tensor:
        """Log-probabilities ``[M, N]`` at the ``M`` pairs where ``where`` ``[B, L]`` is true (row-major order).

        With ``draw`` (the molecules' random streams), the caller only draws one token from each row: a guide may then
        return a random distribution whose expectation is ``x~`` (exact CBG's rejection sampler).
        """
        rows, positions = where.nonzero(as_tuple=True)
        log_x = self.evaluate(z, level, where.any(-1))[rows, positions].double()
        if self.paired:
            log_x = within(log_x[:, 0], self.nucleus(log_x[:, 1]))
        elif self.nucleus is not None:
            log_x = within(log_x, self.nucleus(log_x))
        if self.guide is None:
            return log_x
        if draw is not None:
            return self.guide.draw_at(z, level, rows, positions, log_x, draw)
        return self.guide.tilt_at(z, level, rows, positions, log_x)


def confidence_weights(psi: torch.Tensor, unmasked: torch.Tensor) -> torch.Tensor:
    """``softmax(-psi)`` over each row's unmasked positions (0 elsewhere and in rows with none)."""
    score = torch.where(unmasked, -psi.double(), torch.full_like(psi, -math.inf, dtype=torch.float64))
    return torch.nan_to_num(score.softmax(-1), nan=0.0)


def masked_step(z: torch.Tensor, psi: torch.Tensor, fixed: torch.Tensor, step: tuple[float, float, float],
                predict: Callable[..., torch.Tensor], options: SamplerOptions,
                mask: int, streams: MoleculeStreams) -> tuple[torch.Tensor, torch.Tensor, float]:
    """One (Re)MDM step: first *whether* each position changes, then *which* token the unmasked ones get.

    Whether a position unmasks, is remasked or stays does not depend on the token it would get, so
    the events are drawn first (one uniform per position) and ``x~`` is computed only at the newly
    unmasked positions. Returns the new ``z``, the new confidences ``psi`` and the largest sigma used.
    """
    a_t, a_s, sigma = step
    masked = z == mask
    unmasked = ~masked & ~fixed
    if options.uses_confidence:
        sigma_pos = confidence_weights(psi, unmasked) * sigma
    else:
        sigma_pos = torch.full(z.shape, sigma, dtype=torch.float64, device=z.device)
    p_unmask = ((a_s - (1.0 - sigma_pos) * a_t) / (1.0 - a_t)).clamp(0.0, 1.0)
    u = streams.rand_like(z.shape)
    unmask = masked & (u < p_unmask)
    remask = unmasked & (u < sigma_pos)
    new_z = z.masked_fill(remask, mask)
    if unmask.any():
        level = torch.full((len(z),), 1.0 - a_t, device=z.device)
        cut_before = predict.nucleus is not None  # top-p already applied, to the reference model
        only_draw = not options.uses_confidence and options.temperature == 1.0 and (options.top_p == 1.0 or cut_before)
        x = predict(z, level, unmask, streams if only_draw else None).exp()  # x~(z_t), before this step's remasking
        x[:, mask] = 0.0
        x = shape_probs(x / x.sum(-1, keepdim=True).clamp_min(1e-300), options.temperature, 1.0 if cut_before else options.top_p)
        tokens = gumbel_argmax(_log(x), streams.rand(unmask.nonzero()[:, 0], x.shape[-1]))
        new_z = new_z.masked_scatter(unmask, tokens)
        psi = psi.masked_scatter(unmask, x.gather(-1, tokens[:, None]).squeeze(-1).float())
    return new_z, psi, float(sigma_pos.max()) if sigma_pos.numel() else 0.0


def sample_masked(denoiser: Denoiser, batch: int, options: SamplerOptions, labels: torch.Tensor | None = None,
                  streams: MoleculeStreams | None = None, progress: Callable[[int], None] | None = None,
                  template: Template | None = None) -> SamplerOutput:
    """MDLM, ReMDM or a corrector baseline from a masked denoiser (see the module docstring); ``template``: tokens held fixed."""
    options.validate("masked")
    device, mask = denoiser.device, denoiser.mask_id
    streams = streams or MoleculeStreams(options.seed, batch, device=device)
    z = torch.full((batch, denoiser.length), mask, dtype=torch.long, device=device)
    fixed = torch.zeros(z.shape, dtype=torch.bool, device=device)
    if denoiser.bos_id is not None:
        z[:, 0] = denoiser.bos_id
        fixed[:, 0] = True
    if template is not None:
        tokens, held = template.expand(denoiser, batch)
        z = torch.where(held, tokens, z)
        fixed = fixed | held
    psi = torch.ones(z.shape, dtype=torch.float32, device=device)  # confidence of decoded tokens
    predict = MaskedPredictor(denoiser, labels, options.skip_unchanged, nucleus_of(options, mask))
    plan = masked_step_plan(options, get_schedule(options.schedule))
    sigmas = []
    for index, step in enumerate(plan):
        z, psi, sigma = masked_step(z, psi, fixed, step, predict, options, mask, streams)
        sigmas.append(sigma)
        if progress and _progress_unit(index, len(plan), options.steps):
            progress(1)
    return SamplerOutput(z, predict.evaluate.evaluations, predict.evaluate.seconds, sigmas)


def _progress_unit(index: int, total: int, steps: int) -> bool:
    """Whether step ``index`` of ``total`` completes one of the ``steps`` progress units (DFM takes more steps)."""
    return (index + 1) * steps // total > index * steps // total


# --- uniform --------------------------------------------------------------------------------
def sample_uniform(denoiser: Denoiser, batch: int, options: SamplerOptions, labels: torch.Tensor | None = None,
                   streams: MoleculeStreams | None = None, progress: Callable[[int], None] | None = None,
                   template: Template | None = None) -> SamplerOutput:
    """Ancestral UDLM sampling: ``p(z_s | z_t) = sum_v E[x = v | z_t] q(z_s | z_t, x = v)`` per position;
    ``template``: tokens held fixed (clean) at every step."""
    options.validate("uniform")
    device = denoiser.device
    streams = streams or MoleculeStreams(options.seed, batch, device=device)
    schedule = get_schedule(options.schedule)
    support = denoiser.support if denoiser.support is not None else torch.arange(denoiser.vocab_size, device=device)
    n = len(support)
    z = (streams.rand_like((batch, denoiser.length)) * n).long().clamp_max(n - 1)  # support space
    bos = None
    if denoiser.bos_id is not None:
        bos = int((support == denoiser.bos_id).nonzero()[0, 0])
        z[:, 0] = bos
    held = None
    if template is not None:
        tokens, held = template.expand(denoiser, batch)
        held_tokens = torch.searchsorted(support, tokens.clamp(support.min(), support.max()))  # support space
        z = torch.where(held, held_tokens, z)
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
            if hasattr(denoiser, "draw_step"):  # exact D-CBG: a point mass on each position's rejection draw
                posterior = denoiser.draw_step(z, level, alpha_t, alpha_s, shape, streams)
            else:
                posterior = denoiser.reverse_step(z, level, alpha_t, alpha_s, shape)
            evaluate.seconds += time.perf_counter() - start
            evaluate.evaluations += batch
        else:
            x = shape(evaluate(support[z], level).double().exp()[..., support])
            posterior = uniform_reverse(x, z, alpha_t, alpha_s)
        z = gumbel_argmax(_log(posterior), streams.rand_like(posterior.shape))
        if bos is not None:
            z[:, 0] = bos
        if held is not None:
            z = torch.where(held, held_tokens, z)
        if progress:
            progress(1)
    return SamplerOutput(support[z], evaluate.evaluations, evaluate.seconds)


# --- autoregressive -------------------------------------------------------------------------
def sample_autoregressive(denoiser: Denoiser, batch: int, options: SamplerOptions, labels: torch.Tensor | None = None,
                          streams: MoleculeStreams | None = None, progress: Callable[[int], None] | None = None,
                          template: Template | None = None) -> SamplerOutput:
    """Left-to-right sampling from ``<bos>``; finished rows (after ``<eos>``) are padded, not evaluated."""
    options.validate("autoregressive")
    if template is not None:
        raise MoldiffError("an autoregressive model cannot hold tokens fixed: use a masked or uniform model")
    if denoiser.bos_id is None:
        raise MoldiffError("an autoregressive denoiser needs a <bos> token to start from")

    device = denoiser.device
    streams = streams or MoleculeStreams(options.seed, batch, device=device)
    pad = denoiser.pad_id if denoiser.pad_id is not None else denoiser.bos_id
    z = torch.full((batch, denoiser.length), pad, dtype=torch.long, device=device)
    z[:, 0] = denoiser.bos_id
    active = torch.ones(batch, dtype=torch.bool, device=device)
    evaluations, seconds = 0, 0.0
    nucleus = nucleus_of(options) if hasattr(denoiser, "log_probs_pair") else None
    for i in range(1, denoiser.length):
        rows = active.nonzero().squeeze(-1)
        if len(rows) == 0:
            break
        start = time.perf_counter()
        row_labels = None if labels is None else labels[rows]
        if nucleus is None:
            lp = denoiser.log_probs(z[rows, :i], None, row_labels)[:, -1].double()
        else:  # guided: top-p of the guidance's reference model, then its reweighting within that nucleus
            pair = denoiser.log_probs_pair(z[rows, :i], None, row_labels)[:, -1].double()
            lp = within(pair[:, 0], nucleus(pair[:, 1]))
        seconds += time.perf_counter() - start
        evaluations += len(rows)
        x = shape_probs(lp.exp(), options.temperature, 1.0 if nucleus is not None else options.top_p)
        z[rows, i] = gumbel_argmax(_log(x), streams.rand(rows, x.shape[-1]))
        if denoiser.eos_id is not None:
            active[rows] = z[rows, i] != denoiser.eos_id
        if progress:
            progress(1)
    return SamplerOutput(z, evaluations, seconds)


SAMPLER_FUNCTIONS = {"masked": sample_masked, "uniform": sample_uniform, "autoregressive": sample_autoregressive}


def run_sampler(denoiser: Denoiser, batch: int, options: SamplerOptions, labels: torch.Tensor | None = None,
                streams: MoleculeStreams | None = None, progress: Callable[[int], None] | None = None,
                template: Template | None = None) -> SamplerOutput:
    """Draw ``batch`` sequences from ``denoiser`` with the sampler named in ``options``.

    ``streams`` (one per sequence) defaults to those of molecules ``0 .. batch - 1`` under ``options.seed``;
    ``template`` holds tokens fixed (inpainting; masked and uniform models).
    """
    options.validate(denoiser.kind)
    if streams is not None and len(streams) != batch:
        raise ValueError(f"{len(streams)} random streams for a batch of {batch}")
    return SAMPLER_FUNCTIONS[denoiser.kind](denoiser, batch, options, labels, streams, progress, template)


def progress_total(denoiser: Denoiser, options: SamplerOptions) -> int:
    """Progress units of one batch (steps, or positions for AR)."""
    return denoiser.length - 1 if denoiser.kind == "autoregressive" else options.steps


def sample_tokens(denoiser: Denoiser, num_samples: int, options: SamplerOptions, batch_size: int = 256,
                  first_index: int = 0, progress: Callable[[int], None] | None = None,
                  template: Template | None = None, indices: np.ndarray | None = None) -> SamplerOutput:
    """Draw ``num_samples`` sequences in batches of ``batch_size``; tokens on the CPU. ``template``: one
    row for every molecule or one row per molecule of this call (see :class:`Template`); ``indices``:
    the molecules' stream indices when they are not ``first_index, first_index + 1, ...`` (redraws).

    Molecule ``i`` draws from its own random stream, keyed by ``(options.seed, first_index + i)``
    (:mod:`moldiff.diffusion.streams`): ``batch_size`` never changes a sequence, and a larger
    ``num_samples`` extends a smaller one.
    """
    tokens, evaluations, network_seconds = [], 0, 0.0
    for start in range(0, num_samples, batch_size):
        size = min(batch_size, num_samples - start)
        streams = MoleculeStreams(options.seed, size, start=first_index + start, device=denoiser.device)
        if indices is not None:
            streams.keys = molecule_keys(options.seed, np.asarray(indices[start:start + size]))
        out = run_sampler(denoiser, size, options, streams=streams, progress=progress,
                          template=None if template is None else template.rows(start, start + size))
        tokens.append(out.tokens.cpu())
        evaluations += out.evaluations
        network_seconds += out.network_seconds
    return SamplerOutput(torch.cat(tokens), evaluations, network_seconds)
