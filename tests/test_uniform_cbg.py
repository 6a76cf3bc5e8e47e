"""Exact D-CBG on uniform noise by adaptive rejection: the same law as the fully scored tilt, fewer scores."""

from __future__ import annotations

import pytest
import torch
from toys import ExactNoisyClassifier, ExactUniform, Toy, parity_label

from moldiff.diffusion.samplers import SamplerOptions, run_sampler
from moldiff.diffusion.streams import MoleculeStreams
from moldiff.guidance.cbg import CBGDenoiser, adaptive_rejection


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x / x.sum(-1, keepdim=True)


@pytest.mark.parametrize("rounds", [0, 2, 50])
def test_adaptive_rejection_draws_the_tilted_law(rounds):
    generator = torch.Generator().manual_seed(0)
    probs = torch.rand(3, 6, generator=generator, dtype=torch.float64)
    probs[0, 2] = 0.0  # a value the proposal never makes
    probs = probs / probs.sum(-1, keepdim=True)
    log_w = torch.rand(3, 6, generator=generator, dtype=torch.float64).log() * 4
    log_w[1, 0] = -5000.0  # a weight that underflows: never drawn, the row still ends
    log_w[2] = -3000.0 + torch.arange(6, dtype=torch.float64)  # every weight underflows: relative tilt kept
    repeats = 20_000
    rows = torch.arange(3).repeat(repeats)
    calls = []

    def score(pairs, values):
        calls.append(len(pairs))
        return log_w[rows[pairs], values]

    known = torch.full((len(rows), 6), torch.nan, dtype=torch.float64)
    chosen = adaptive_rejection(probs[rows], known, score, torch.arange(len(rows)), MoleculeStreams(1, len(rows)), rounds)
    exact = probs * (log_w - log_w.max(-1, keepdim=True).values).exp()
    exact = exact / exact.sum(-1, keepdim=True)
    for row in range(3):
        empirical = torch.bincount(chosen[rows == row], minlength=6).double() / repeats
        assert 0.5 * float((empirical - exact[row]).abs().sum()) < 0.015
    assert int((~known.isnan()).sum(-1).max()) <= 6  # each value is scored at most once per row
    assert len(calls) <= min(rounds + 1, 6)


def test_draw_step_has_the_law_of_the_fully_tilted_transition():
    toy = Toy(k=4, length=3, seed=0)
    guided = CBGDenoiser(ExactUniform(toy), ExactNoisyClassifier(toy, parity_label(toy), mask_id=None), gamma=3.0)
    batch = 40_000
    z = torch.tensor([[0, 3, 1]]).expand(batch, 3).clone()
    level = torch.full((batch,), 0.4)
    alpha_t = torch.full((batch,), 0.6, dtype=torch.float64)
    alpha_s = torch.full((batch,), 0.7, dtype=torch.float64)
    tilted = guided.reverse_step(z[:1], level[:1], alpha_t[:1], alpha_s[:1], _identity)[0]  # [L, N]
    passes = guided.classifier_passes
    draws = guided.draw_step(z, level, alpha_t, alpha_s, _identity, MoleculeStreams(5, batch))
    assert torch.equal(draws.sum(-1), torch.ones(batch, 3, dtype=draws.dtype))  # point masses
    empirical = draws.mean(0)
    assert float((0.5 * (empirical - tilted).abs().sum(-1)).max()) < 0.01
    # the row itself once, then each round (at most N = 4) each distinct substitution (3 * 3) once
    assert guided.classifier_passes - passes <= 1 + 4 * 9


def test_rejection_sampling_is_seeded_and_independent_of_the_batch():
    toy = Toy(k=4, length=3, seed=0)
    guided = CBGDenoiser(ExactUniform(toy), ExactNoisyClassifier(toy, parity_label(toy), mask_id=None), gamma=4.0)
    options = SamplerOptions(sampler="udlm", steps=20, seed=7)
    whole = run_sampler(guided, 64, options).tokens
    assert torch.equal(run_sampler(guided, 64, options).tokens, whole)
    assert torch.equal(run_sampler(guided, 16, options).tokens, whole[:16])
