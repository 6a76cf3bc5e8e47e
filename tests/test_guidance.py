"""Guidance proven on an enumerable toy with a binary label: CFG, CBG (exact and Taylor), FUDGE."""

from __future__ import annotations

import pytest
import torch
from toys import (
    ExactAutoregressive,
    ExactMasked,
    ExactNoisyClassifier,
    ExactPrefixClassifier,
    ExactUniform,
    Labelled,
    LinearClassifier,
    SmoothClassifier,
    Toy,
    parity_label,
)

from moldiff.core.errors import MoldiffError
from moldiff.diffusion.samplers import SamplerOptions, run_sampler
from moldiff.guidance.base import check_guidance, mix_log
from moldiff.guidance.cbg import CBGDenoiser, substitution_log_probs, taylor_log_probs
from moldiff.guidance.cfg import CFGDenoiser
from moldiff.guidance.fudge import FudgeDenoiser

N_SAMPLES = 50_000
TV_THRESHOLD = 0.03
ONE, NULL = torch.tensor([[1]]), torch.tensor([[2]])


@pytest.fixture(scope="module")
def toy() -> Toy:
    return Toy(k=4, length=3, seed=0)


@pytest.fixture(scope="module")
def y(toy) -> torch.Tensor:
    return parity_label(toy)


@pytest.fixture(scope="module")
def conditional(toy, y) -> torch.Tensor:
    target = toy.p * y
    return target / target.sum()


def _hit_rate(toy, y, tokens) -> float:
    return float(y[toy.index(tokens)].mean())


@pytest.mark.parametrize("sampler", ["mdlm", "remdm-loop"])
def test_cfg_gamma_one_samples_the_conditional_masked(toy, y, conditional, sampler):
    guided = CFGDenoiser(Labelled(ExactMasked, toy, y), ONE, NULL, gamma=1.0)
    # remdm-loop at its reference eta: the loop phase changes O(eta) tokens per step whatever T is, so a
    # large eta (0.1) leaves a T-independent bias on this rigidly correlated target (TV ~0.05)
    out = run_sampler(guided, N_SAMPLES, SamplerOptions(sampler=sampler, steps=200, seed=2))
    assert toy.tv(out.tokens, conditional) < TV_THRESHOLD


def test_cfg_gamma_one_samples_the_conditional_uniform(toy, y, conditional):
    guided = CFGDenoiser(Labelled(ExactUniform, toy, y), ONE, NULL, gamma=1.0)
    out = run_sampler(guided, N_SAMPLES, SamplerOptions(sampler="udlm", steps=200, seed=2))
    assert toy.tv(out.tokens, conditional) < TV_THRESHOLD


def test_cfg_gamma_one_samples_the_conditional_autoregressive(toy, y, conditional):
    guided = CFGDenoiser(Labelled(ExactAutoregressive, toy, y), ONE, NULL, gamma=1.0)
    out = run_sampler(guided, N_SAMPLES, SamplerOptions(sampler="ar", seed=2))
    assert toy.tv(out.tokens[:, 1:], conditional) < TV_THRESHOLD


@pytest.mark.parametrize("sampler,eta", [("mdlm", None), ("remdm-cap", None), ("remdm-loop", None)])
def test_exact_cbg_gamma_one_samples_the_conditional_masked(toy, y, conditional, sampler, eta):
    classifier = ExactNoisyClassifier(toy, y, mask_id=toy.k)
    guided = CBGDenoiser(ExactMasked(toy), classifier, gamma=1.0)
    out = run_sampler(guided, N_SAMPLES, SamplerOptions(sampler=sampler, steps=200, eta=eta, seed=3))
    assert toy.tv(out.tokens, conditional) < TV_THRESHOLD


def test_exact_cbg_gamma_one_samples_the_conditional_uniform(toy, y, conditional):
    guided = CBGDenoiser(ExactUniform(toy), ExactNoisyClassifier(toy, y, mask_id=None), gamma=1.0)
    out = run_sampler(guided, N_SAMPLES, SamplerOptions(sampler="udlm", steps=200, seed=3))
    assert toy.tv(out.tokens, conditional) < TV_THRESHOLD


def test_fudge_with_the_whole_vocabulary_samples_the_conditional(toy, y, conditional):
    guided = FudgeDenoiser(ExactAutoregressive(toy), ExactPrefixClassifier(toy, y), gamma=1.0)
    out = run_sampler(guided, N_SAMPLES, SamplerOptions(sampler="ar", seed=4))
    assert toy.tv(out.tokens[:, 1:], conditional) < TV_THRESHOLD


@pytest.mark.parametrize("kind", ["masked", "uniform", "autoregressive"])
def test_cfg_gamma_zero_is_unconditional_draw_for_draw(toy, y, kind):
    exact = {"masked": ExactMasked, "uniform": ExactUniform, "autoregressive": ExactAutoregressive}[kind]
    sampler = {"masked": "remdm-loop", "uniform": "udlm", "autoregressive": "ar"}[kind]
    options = SamplerOptions(sampler=sampler, steps=40, seed=9)
    guided = run_sampler(CFGDenoiser(Labelled(exact, toy, y), ONE, NULL, gamma=0.0), 3000, options)
    plain = run_sampler(exact(toy), 3000, options)
    assert torch.equal(guided.tokens, plain.tokens)


def test_more_gamma_more_hits(toy, y, record_property):
    rates = []
    for gamma in range(5):
        guided = CFGDenoiser(Labelled(ExactMasked, toy, y), ONE, NULL, gamma=float(gamma))
        rates.append(_hit_rate(toy, y, run_sampler(guided, 20_000, SamplerOptions(sampler="mdlm", steps=100, seed=5)).tokens))
    cbg_rates = []
    for gamma in range(5):
        guided = CBGDenoiser(ExactMasked(toy), ExactNoisyClassifier(toy, y, toy.k), gamma=float(gamma))
        cbg_rates.append(_hit_rate(toy, y, run_sampler(guided, 20_000, SamplerOptions(sampler="mdlm", steps=100, seed=5)).tokens))
    record_property("cfg_hit_rate_by_gamma", rates)
    record_property("cbg_hit_rate_by_gamma", cbg_rates)
    print("P(y=1) for gamma 0..4, CFG:", [round(r, 3) for r in rates], "CBG:", [round(r, 3) for r in cbg_rates])
    for curve in (rates, cbg_rates):
        assert curve[1] > curve[0] + 0.2  # toward the conditional...
        assert all(b >= a - 0.005 for a, b in zip(curve, curve[1:]))  # ...and never back (saturates near 1)
    assert rates[0] == pytest.approx(float((toy.p * y).sum()), abs=0.02)


def test_taylor_equals_exact_for_a_classifier_linear_in_the_one_hot_input():
    z = torch.randint(5, (6, 4))
    level = torch.full((6,), 0.5)
    candidates = torch.arange(5)
    classifier = LinearClassifier(4, 5)
    exact = substitution_log_probs(classifier, z, level, candidates).double()
    taylor = taylor_log_probs(classifier, z, level, candidates, 5)
    assert torch.allclose(exact, taylor, atol=1e-10)


def test_chunking_never_changes_the_substitution_scores():
    """Classifier calls are chunked (by device: ``cbg._chunk``); the chunk size must not change a score."""
    from moldiff.guidance import cbg

    z = torch.randint(5, (6, 4), generator=torch.Generator().manual_seed(1))
    level, classifier = torch.full((6,), 0.5), SmoothClassifier(4, 5)
    assert cbg._chunk(z) == cbg.CHUNK  # on CPU
    whole = substitution_log_probs(classifier, z, level, torch.arange(5))
    assert torch.allclose(substitution_log_probs(classifier, z, level, torch.arange(5), chunk=7), whole, atol=1e-6)


def test_taylor_is_close_to_exact_for_a_smooth_classifier(record_property):
    z = torch.randint(5, (64, 4), generator=torch.Generator().manual_seed(0))
    level = torch.full((64,), 0.5)
    classifier = SmoothClassifier(4, 5)
    exact = substitution_log_probs(classifier, z, level, torch.arange(5)).double()
    taylor = taylor_log_probs(classifier, z, level, torch.arange(5), 5)
    gap = float((exact - taylor).abs().mean())
    spread = float((exact - exact.mean()).abs().mean())
    record_property("taylor_mean_abs_gap", gap)
    print(f"Taylor vs exact on a smooth classifier: mean |gap| {gap:.4f} (spread of exact values {spread:.4f})")
    assert gap < 0.5 * spread


def test_mix_log_handles_impossible_tokens_and_extreme_gamma():
    cond = torch.tensor([[0.0, -torch.inf, -1.0]]).log_softmax(-1)
    uncond = torch.tensor([[-torch.inf, 0.0, -1.0]]).log_softmax(-1)
    for gamma in (0.5, 1.0, 3.0):
        mixed = mix_log(cond, uncond, gamma)
        assert torch.isfinite(mixed[0, 2]) and torch.isinf(mixed[0, :2]).all()
        assert torch.allclose(mixed.exp().sum(), torch.tensor(1.0))
    assert torch.equal(mix_log(cond, uncond, 0.0), uncond)


@pytest.mark.parametrize("guidance,gamma,kind,message", [
    ("fudge", 1.0, "masked", "guidance 'fudge' does not fit mdlm models: use cfg, cbg, cbg-taylor"),
    ("cbg", 1.0, "autoregressive", "does not fit ar models: use cfg, fudge"),
    ("cfg", -1.0, "masked", "gamma must be >= 0"),
    ("magic", 1.0, "masked", "unknown guidance 'magic'"),
])
def test_bad_guidance_is_a_clear_error(guidance, gamma, kind, message):
    with pytest.raises(MoldiffError, match=message):
        check_guidance(guidance, gamma, kind)
