"""Samplers proven on enumerable toy distributions with exact denoisers, plus their guard rails."""

from __future__ import annotations

import pytest
import torch
from toys import ExactAutoregressive, ExactMasked, ExactUniform, Toy

from moldiff.core.errors import MoldiffError
from moldiff.diffusion.processes import get_schedule
from moldiff.diffusion.samplers import (
    DEFAULT_ETA,
    SamplerOptions,
    gumbel_argmax,
    loop_alpha,
    masked_step_plan,
    run_sampler,
    shape_probs,
)
from moldiff.diffusion.streams import MoleculeStreams

N_SAMPLES = 50_000
TV_THRESHOLD = 0.03  # the sampling noise floor at 50,000 samples over 64 states is about 0.015


@pytest.fixture(scope="module")
def toy() -> Toy:
    toy = Toy(k=4, length=3, seed=0)
    # it must not factorise over positions, or a one-step sampler would be exact too
    marginals = [torch.bincount(toy.states[:, l], weights=toy.p, minlength=4) for l in range(3)]
    product = marginals[0][toy.states[:, 0]] * marginals[1][toy.states[:, 1]] * marginals[2][toy.states[:, 2]]
    assert 0.5 * (product - toy.p).abs().sum() > 0.2
    return toy


# Strong remasking so that the ReMDM posterior really is exercised (the reference defaults are tiny).
EXACT_MASKED = [("mdlm", None), ("remdm-cap", 0.3), ("remdm-rescale", 0.5), ("remdm-loop", 0.1)]


@pytest.mark.parametrize("sampler,eta", EXACT_MASKED)
def test_masked_samplers_are_exact_with_an_exact_denoiser(toy, sampler, eta):
    out = run_sampler(ExactMasked(toy), N_SAMPLES, SamplerOptions(sampler=sampler, steps=200, eta=eta, seed=1))
    assert (out.tokens < toy.k).all(), "no mask may be left"
    assert toy.tv(out.tokens) < TV_THRESHOLD


def test_udlm_sampler_is_exact_with_an_exact_denoiser(toy):
    out = run_sampler(ExactUniform(toy), N_SAMPLES, SamplerOptions(sampler="udlm", steps=200, seed=1))
    assert toy.tv(out.tokens) < TV_THRESHOLD


def test_ar_sampler_is_exact_with_exact_conditionals(toy):
    out = run_sampler(ExactAutoregressive(toy), N_SAMPLES, SamplerOptions(sampler="ar", seed=1))
    assert toy.tv(out.tokens[:, 1:]) < TV_THRESHOLD


def test_remdm_conf_is_measured_not_asserted(toy, record_property):
    out = run_sampler(ExactMasked(toy), N_SAMPLES, SamplerOptions(sampler="remdm-conf", steps=200, seed=1))
    assert (out.tokens < toy.k).all()
    tv = toy.tv(out.tokens)
    record_property("remdm_conf_tv", tv)
    print(f"remdm-conf TV at T=200: {tv:.4f}")


def test_one_parallel_step_is_far_from_a_correlated_distribution():
    toy = Toy(k=4, length=3, probs=[1.0 if len(set(s.tolist())) == 1 else 0.0 for s in Toy(4, 3).states])
    out = run_sampler(ExactMasked(toy), 20_000, SamplerOptions(sampler="mdlm", steps=1, seed=1))
    assert toy.tv(out.tokens) > 0.5  # tokens drawn independently: mostly not all-equal
    many = run_sampler(ExactMasked(toy), 20_000, SamplerOptions(sampler="mdlm", steps=200, seed=1))
    assert toy.tv(many.tokens) < TV_THRESHOLD


@pytest.mark.parametrize("sampler", ["remdm-cap", "remdm-rescale", "remdm-conf", "remdm-loop"])
@pytest.mark.parametrize("steps", [1, 7, 128])
def test_every_sigma_stays_within_zero_and_sigma_max(sampler, steps):
    options = SamplerOptions(sampler=sampler, steps=steps, eta=1.0 if sampler != "remdm-loop" else 0.11).validate()
    for a_t, a_s, sigma in masked_step_plan(options, get_schedule("loglinear")):
        sigma_max = min(1.0, (1 - a_s) / a_t) if a_t > 0 else 1.0
        assert 0.0 <= sigma <= sigma_max + 1e-12
        assert a_s >= a_t
    assert masked_step_plan(options, get_schedule("loglinear"))[-1][1] == 1.0  # ends at alpha = 1


def test_per_position_conf_sigmas_stay_within_bounds(toy):
    out = run_sampler(ExactMasked(toy), 500, SamplerOptions(sampler="remdm-conf", steps=50, seed=3))
    plan = masked_step_plan(SamplerOptions(sampler="remdm-conf", steps=50), get_schedule("loglinear"))
    caps = [min(1.0, (1 - a_s) / a_t) for a_t, a_s, _ in plan if a_t > 0]
    assert all(0.0 <= s <= c + 1e-12 for s, c in zip(out.sigmas, caps))


@pytest.mark.parametrize("sampler", ["remdm-cap", "remdm-rescale", "remdm-conf", "remdm-loop"])
def test_sigma_zero_reproduces_mdlm_draw_for_draw(toy, sampler):
    options = dict(steps=50, seed=7)
    mdlm = run_sampler(ExactMasked(toy), 2000, SamplerOptions(sampler="mdlm", **options))
    if sampler == "remdm-loop":  # loop's alpha path differs from MDLM's: compare with eta 0 vs MDLM on the same path
        zero = run_sampler(ExactMasked(toy), 2000, SamplerOptions(sampler=sampler, eta=0.0, **options))
        assert all(s == 0.0 for s in zero.sigmas)
        return
    zero = run_sampler(ExactMasked(toy), 2000, SamplerOptions(sampler=sampler, eta=0.0, **options))
    assert torch.equal(mdlm.tokens, zero.tokens)


@pytest.mark.parametrize("sampler", ["mdlm", "remdm-cap", "remdm-loop"])
def test_forward_skipping_changes_nothing_but_the_work(toy, sampler):
    options = dict(sampler=sampler, steps=100, seed=5, eta=0.2 if sampler == "remdm-cap" else None)
    skipping = run_sampler(ExactMasked(toy), 3000, SamplerOptions(skip_unchanged=True, **options))
    full = run_sampler(ExactMasked(toy), 3000, SamplerOptions(skip_unchanged=False, **options))
    assert torch.equal(skipping.tokens, full.tokens)
    # a row is evaluated only in a step where one of its positions unmasks; under MDLM it then always
    # changed since its last evaluation, under remasking it may have come back to the same sequence
    assert full.evaluations < 3000 * 100 / 4
    if sampler == "mdlm":
        assert skipping.evaluations == full.evaluations
    else:
        assert skipping.evaluations < full.evaluations


def test_mdlm_evaluates_only_changed_sequences(toy):
    out = run_sampler(ExactMasked(toy), 1000, SamplerOptions(sampler="mdlm", steps=128, seed=0))
    # L = 3 tokens are unmasked in at most 3 distinct steps, plus the first evaluation
    assert out.evaluations <= 1000 * (toy.length + 1)


def test_same_seed_same_samples_different_seed_different_samples(toy):
    a = run_sampler(ExactUniform(toy), 500, SamplerOptions(sampler="udlm", steps=20, seed=11))
    b = run_sampler(ExactUniform(toy), 500, SamplerOptions(sampler="udlm", steps=20, seed=11))
    c = run_sampler(ExactUniform(toy), 500, SamplerOptions(sampler="udlm", steps=20, seed=12))
    assert torch.equal(a.tokens, b.tokens) and not torch.equal(a.tokens, c.tokens)


def test_gumbel_argmax_draws_from_the_distribution():
    probs = torch.tensor([0.5, 0.3, 0.15, 0.05, 0.0], dtype=torch.float64)
    draws = gumbel_argmax(probs.log().expand(200_000, -1), MoleculeStreams(0, 200_000).rand_like((200_000, 5)))
    freq = torch.bincount(draws, minlength=5).double() / 200_000
    assert torch.allclose(freq, probs, atol=0.005)
    assert freq[4] == 0


def test_top_p_keeps_the_smallest_nucleus_and_temperature_sharpens():
    probs = torch.tensor([[0.2, 0.5, 0.3]], dtype=torch.float64)
    assert torch.allclose(shape_probs(probs, 1.0, 0.6), torch.tensor([[0.0, 0.625, 0.375]], dtype=torch.float64))
    assert torch.allclose(shape_probs(probs, 1.0, 0.5), torch.tensor([[0.0, 1.0, 0.0]], dtype=torch.float64))
    assert torch.allclose(shape_probs(probs, 1.0, 1.0), probs)
    cold = shape_probs(probs, 0.5, 1.0)
    assert torch.allclose(cold, probs**2 / (probs**2).sum())


@pytest.mark.parametrize("options,kind,message", [
    (dict(sampler="gibbs"), "masked", "unknown sampler 'gibbs'"),
    (dict(sampler="remdm-cap", eta=1.5), "masked", r"eta must be in \[0, 1\]"),
    (dict(sampler="remdm-loop", eta=0.5), "masked", r"eta must be in \[0, 0.1111\]"),
    (dict(sampler="remdm-loop", t_on=0.1, t_off=0.2), "masked", "t_off < t_on"),
    (dict(sampler="mdlm", steps=0), "masked", "steps must be at least 1"),
    (dict(sampler="mdlm", top_p=0.0), "masked", r"top_p must be in \(0, 1\]"),
    (dict(sampler="mdlm", top_p=1.5), "masked", r"top_p must be in \(0, 1\]"),
    (dict(sampler="remdm-loop"), "uniform", "does not fit udlm models: use udlm"),
    (dict(sampler="udlm"), "masked", "does not fit mdlm models: use mdlm, remdm-cap"),
    (dict(sampler="mdlm"), "autoregressive", "does not fit ar models: use ar"),
])
def test_bad_sampler_options_are_clear_errors(options, kind, message):
    with pytest.raises(MoldiffError, match=message):
        SamplerOptions(**options).validate(kind)


def test_default_etas_are_the_reference_values():
    assert DEFAULT_ETA["remdm-cap"] == 0.008 and DEFAULT_ETA["remdm-rescale"] == 0.015 and DEFAULT_ETA["remdm-loop"] == 0.02
    loop = SamplerOptions(sampler="remdm-loop")
    assert (loop.t_on, loop.t_off, loop.alpha_on) == (0.55, 0.05, 0.9)


# --- composed schedules and corrector baselines: the plan against the formulas ------------------
def _alpha(t):
    return 1.0 if t == 0 else 1.0 - (1.0 - 1e-3) * t


def test_rescale_with_loop_window_follows_its_formula():
    options = SamplerOptions(sampler="remdm-rescale", eta=0.9, loop_window=True, t_on=0.25, t_off=0.125, steps=64).validate()
    plan = masked_step_plan(options, get_schedule("loglinear"))
    for i, (a_t, a_s, sigma) in zip(range(64, 0, -1), plan):
        t, s = i / 64, (i - 1) / 64
        assert a_t == pytest.approx(loop_alpha(t, options)) and a_s == pytest.approx(loop_alpha(s, options) if s > 0 else 1.0)
        in_window = 0.125 <= s and t <= 0.25
        assert sigma == pytest.approx(0.9 * min(1.0, 0.1 / 0.9) if in_window else 0.0)


def test_rescale_with_switch_is_mdlm_before_the_switch():
    options = SamplerOptions(sampler="remdm-rescale", eta=1.0, t_switch=0.5, steps=10).validate()
    for i, (a_t, a_s, sigma) in zip(range(10, 0, -1), masked_step_plan(options, get_schedule("loglinear"))):
        t, s = i / 10, (i - 1) / 10
        assert a_t == pytest.approx(_alpha(t)) and a_s == pytest.approx(_alpha(s))
        assert sigma == pytest.approx(0.0 if t > 0.5 else min(1.0, (1 - a_s) / a_t))


def test_fb_sigma_is_the_forward_backward_formula():
    plan = masked_step_plan(SamplerOptions(sampler="fb", steps=16).validate(), get_schedule("loglinear"))
    for a_t, a_s, sigma in plan:
        sigma_max = min(1.0, (1 - a_s) / a_t)
        assert sigma == pytest.approx(min(max((a_s - a_t) / a_t, 0.0), sigma_max))
    assert plan[-1][1] == 1.0 and any(0 < s < 1 for *_, s in plan)


def test_dfm_grid_and_sigma_follow_the_campbell_schedule():
    steps = 32
    plan = masked_step_plan(SamplerOptions(sampler="dfm", steps=steps).validate(), get_schedule("loglinear"))
    times = [(1.0 - a_t) / (1.0 - 1e-3) for a_t, _, _ in plan] + [0.0]
    assert times[1] == pytest.approx(1 - 1 / steps) and plan[0][2] == 0.0 and plan[-1] == (pytest.approx(_alpha(1 / steps)), 1.0, 0.0)
    for t, s, (a_t, a_s, sigma) in list(zip(times, times[1:], plan))[1:-1]:
        a = 10 * t**0.25 * (1 - t) ** 0.25 + 1
        assert t - s == pytest.approx(min(1 / steps, 1 / (a / t + (a - 1) / (1 - t))), abs=1e-9) or s == pytest.approx(1 / steps)
        assert sigma == pytest.approx(min(1.0, (a - 1) * (a_s / a_t - 1)))
    assert len(plan) > steps  # the adaptive step is smaller than 1/T near both ends


@pytest.mark.parametrize("options,message", [
    (dict(sampler="mdlm", loop_window=True), "the loop window needs a remasking schedule: use it with remdm-cap, remdm-rescale, not mdlm"),
    (dict(sampler="remdm-loop", loop_window=True), "remdm-loop has it built in"),
    (dict(sampler="fb", confidence=True), "confidence weighting needs a remasking schedule"),
    (dict(sampler="remdm-rescale", loop_window=True, t_switch=0.5), "a switch time needs"),
    (dict(sampler="remdm-rescale", t_switch=1.5), r"switch time must be in \(0, 1\]"),
    (dict(sampler="dfm", eta=0.5), "dfm has its own remasking schedule and takes no eta"),
    (dict(sampler="remdm-rescale", loop_window=True, t_on=0.1, t_off=0.2), "t_off < t_on"),
])
def test_nonsensical_compositions_are_clear_errors(options, message):
    with pytest.raises(MoldiffError, match=message):
        SamplerOptions(**options).validate("masked")
