"""Samplers proven on enumerable toy distributions with exact denoisers, plus their guard rails."""

from __future__ import annotations

import pytest
import torch
from toys import ExactAutoregressive, ExactMasked, ExactUniform, Toy

from moldiff.errors import MoldiffError
from moldiff.processes import get_schedule
from moldiff.samplers import (
    DEFAULT_ETA,
    SamplerOptions,
    gumbel_argmax,
    masked_step_plan,
    run_sampler,
    shape_probs,
)

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
    draws = gumbel_argmax(probs.log().expand(200_000, -1), torch.Generator().manual_seed(0))
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
