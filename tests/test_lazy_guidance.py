"""Lazy D-CBG and the composed / corrector masked samplers, proven on an enumerable toy.

The masked samplers draw *whether* each position changes before *which* token it gets, and compute
the guided prediction only where a token is unmasked. These tests check that this is exactly the
eager algorithm (every position's tilted prediction, then the ReMDM posterior): the distribution
after a few steps is computed exactly by dynamic programming over all ``(K + 1)**L`` latent states
with the eager formulas, and compared with samples.
"""

from __future__ import annotations

import itertools

import pytest
import torch
from test_guidance import toy, y  # noqa: F401  (the same toy and label fixtures)
from toys import ExactMasked, ExactNoisyClassifier

from moldiff.diffusion.processes import get_schedule
from moldiff.diffusion.samplers import MaskedPredictor, SamplerOptions, masked_step, masked_step_plan, run_sampler
from moldiff.diffusion.streams import MoleculeStreams
from moldiff.guidance.cbg import CBGDenoiser, substitution_log_probs

N_SAMPLES = 50_000
TV_THRESHOLD = 0.03


@pytest.fixture(scope="module")
def latents(toy) -> torch.Tensor:
    """Every latent sequence over the K tokens and the mask (id K)."""
    return torch.tensor(list(itertools.product(range(toy.k + 1), repeat=toy.length)))


def eager_tilted(toy, y, z: torch.Tensor, gamma: float) -> torch.Tensor:
    """The eager guided prediction at every position: x_theta * p(y | z with l <- v)^gamma, normalised."""
    classifier = ExactNoisyClassifier(toy, y, mask_id=toy.k)
    log_x = ExactMasked(toy).log_probs(z, None, None)[..., : toy.k]
    scores = substitution_log_probs(classifier, z, torch.zeros(len(z)), torch.arange(toy.k)).double()
    return (log_x + gamma * scores).softmax(-1)


def step_matrix(toy, y, latents, step, gamma, prediction=None) -> torch.Tensor:
    """Eager transition matrix ``[S, S]`` of one (Re)MDM step (no confidence weighting); ``prediction(latents)``
    ``[S, L, K]`` replaces the eager tilted prediction."""
    a_t, a_s, sigma = step
    mask = toy.k
    x = eager_tilted(toy, y, latents, gamma) if prediction is None else prediction(latents)  # [S, L, K]
    p_unmask = min(1.0, max(0.0, (a_s - (1 - sigma) * a_t) / (1 - a_t)))
    per_position = torch.zeros(len(latents), toy.length, toy.k + 1, dtype=torch.float64)  # P(z_s^l = w | z_t)
    masked = latents == mask
    per_position[..., : toy.k] = torch.where(masked[..., None], x * p_unmask, torch.zeros_like(x))
    per_position[..., mask] = torch.where(masked, 1 - p_unmask, torch.full(masked.shape, sigma, dtype=torch.float64))
    keep = torch.nn.functional.one_hot(latents, toy.k + 1).double() * (1 - sigma)
    per_position = torch.where(masked[..., None], per_position, per_position + keep)
    # P(z_s = latents[j] | z_t = latents[i]) = prod_l per_position[i, l, latents[j, l]]
    return per_position[:, torch.arange(toy.length)[:, None], latents.T].prod(1)


def exact_chain(toy, y, latents, options: SamplerOptions, gamma: float, prediction=None) -> torch.Tensor:
    """Distribution over the K**L data sequences after the whole eager chain (``prediction``: see :func:`step_matrix`)."""
    start = torch.zeros(len(latents), dtype=torch.float64)
    start[(latents == toy.k).all(-1).nonzero()[0, 0]] = 1.0
    for step in masked_step_plan(options, get_schedule(options.schedule)):
        start = start @ step_matrix(toy, y, latents, step, gamma, prediction)
    data = (latents < toy.k).all(-1)
    assert abs(float(start[data].sum()) - 1.0) < 1e-9, "no mask may be left"
    return start[data]  # latents over data tokens enumerate in the toy's state order


def cbg(toy, y, gamma, top_k=None) -> CBGDenoiser:
    return CBGDenoiser(ExactMasked(toy), ExactNoisyClassifier(toy, y, mask_id=toy.k), gamma=gamma, top_k=top_k)


FEW_STEP_SAMPLERS = {
    "mdlm": dict(sampler="mdlm"),
    "remdm-cap": dict(sampler="remdm-cap", eta=0.3),
    "remdm-rescale": dict(sampler="remdm-rescale", eta=0.5),
    "remdm-loop": dict(sampler="remdm-loop", eta=0.1, t_on=0.6, t_off=0.2),
    "rescale+loop-window": dict(sampler="remdm-rescale", eta=0.9, loop_window=True, t_on=0.6, t_off=0.2),
    "rescale+switch": dict(sampler="remdm-rescale", eta=1.0, t_switch=0.5),
    "fb": dict(sampler="fb"),
    "dfm": dict(sampler="dfm"),
}


@pytest.mark.parametrize("name", FEW_STEP_SAMPLERS)
def test_lazy_cbg_samples_exactly_the_eager_chain(toy, y, latents, name):
    options = SamplerOptions(steps=5, seed=4, **FEW_STEP_SAMPLERS[name])
    exact = exact_chain(toy, y, latents, options, gamma=2.0)
    out = run_sampler(cbg(toy, y, 2.0), N_SAMPLES, options)
    assert toy.tv(out.tokens, exact) < 0.02  # noise floor at 50,000 samples is about 0.015
    if name != "mdlm":  # it really is a different chain from MDLM's at this T
        mdlm = exact_chain(toy, y, latents, SamplerOptions(steps=5, sampler="mdlm"), gamma=2.0)
        assert 0.5 * float((exact - mdlm).abs().sum()) > 0.03 or name == "rescale+switch"


@pytest.mark.parametrize("sampler", ["remdm-conf", "remdm-rescale+confidence"])
def test_lazy_step_with_confidence_has_the_eager_step_distribution(toy, y, latents, sampler):
    base, _, extra = sampler.partition("+")
    options = SamplerOptions(sampler=base, eta=0.8, confidence=bool(extra), steps=4)
    step = masked_step_plan(options, get_schedule("loglinear"))[1]
    z0 = torch.tensor([toy.k, 1, 2])  # one masked, two unmasked positions with different confidences
    psi0 = torch.tensor([1.0, 0.2, 0.9])
    batch = 200_000
    z, psi = z0.expand(batch, -1).clone(), psi0.expand(batch, -1).clone()
    predictor = MaskedPredictor(cbg(toy, y, 1.5), None, True)
    new_z, new_psi, _ = masked_step(z, psi, torch.zeros_like(z, dtype=torch.bool), step, predictor, options, toy.k,
                                    MoleculeStreams(0, batch))
    a_t, a_s, sigma = step
    weights = torch.softmax(-psi0[1:].double(), -1) * sigma
    x = eager_tilted(toy, y, z0[None], 1.5)[0, 0]
    p_unmask = (a_s - a_t) / (1 - a_t)
    first = torch.cat([x * p_unmask, torch.tensor([1 - p_unmask], dtype=torch.float64)])
    expected = torch.einsum("a,b,c->abc", first, torch.tensor([weights[0], 1 - weights[0]]), torch.tensor([weights[1], 1 - weights[1]]))
    code = new_z[:, 0] * 4 + (new_z[:, 1] != toy.k).long() * 2 + (new_z[:, 2] != toy.k).long()
    empirical = torch.bincount(code, minlength=20).double() / batch
    assert 0.5 * float((empirical - expected.flatten()).abs().sum()) < 0.006
    decoded = new_z[:, 0] != toy.k
    assert torch.allclose(new_psi[decoded, 0].double(), x[new_z[decoded, 0]], atol=1e-6)  # psi: x~ of the drawn token
    assert torch.equal(new_psi[:, 1:], psi[:, 1:])


@pytest.mark.parametrize("settings", [
    dict(sampler="remdm-rescale"), dict(sampler="fb"), dict(sampler="dfm"),
], ids=["remdm-rescale", "fb", "dfm"])
def test_lazy_cbg_gamma_one_samples_the_conditional(toy, y, settings):
    # exact in the many-step limit (eager chain by dynamic programming, T = 50 / 200 / 800, TV to the
    # conditional: fb 0.023 / 0.006 / 0.002, dfm 0.051 / 0.016 / 0.004, mdlm 0.015 / 0.004 / 0.001);
    # rescale and cap with a large eta remask O(1) of the tokens per step and do not converge
    # (rescale eta 0.5: 0.054 / 0.031 / 0.021), which test_lazy_cbg_samples_exactly_the_eager_chain covers
    target = toy.p * y
    out = run_sampler(cbg(toy, y, 1.0), N_SAMPLES, SamplerOptions(steps=200, seed=3, **settings))
    assert toy.tv(out.tokens, target / target.sum()) < TV_THRESHOLD


@pytest.mark.parametrize("settings", [
    dict(sampler="remdm-rescale", eta=0.9, confidence=True),
    dict(sampler="remdm-rescale", eta=1.0, confidence=True, t_switch=0.5),
], ids=["paper-rings-cbg", "paper-qed-cbg"])
def test_paper_cbg_settings_are_measured_and_hit_the_label(toy, y, settings, record_property):
    target = toy.p * y
    out = run_sampler(cbg(toy, y, 1.0), 20_000, SamplerOptions(steps=200, seed=3, **settings))
    assert (out.tokens < toy.k).all()
    tv = toy.tv(out.tokens, target / target.sum())
    record_property("tv", tv)
    print(f"{settings}: TV to the conditional at T=200: {tv:.4f}")
    # P(y = 1) is 1 under the conditional and 0.5 unguided; remasking two positions in one step leaves a little
    assert float(y[toy.index(out.tokens)].mean()) > 0.95


def test_a_step_where_nothing_unmasks_calls_no_classifier(toy, y):
    guided = cbg(toy, y, 1.0)
    out = run_sampler(guided, 200, SamplerOptions(sampler="mdlm", steps=1000, seed=0))
    # each of the 3 positions of each row unmasks once: at most 3 rows x 4 candidates scored per row
    assert 0 < guided.classifier_passes <= 200 * toy.length * toy.k
    assert out.evaluations <= 200 * toy.length


def test_top_k_scores_only_k_candidates_and_k_equal_n_is_exact(toy, y):
    z = torch.tensor([[toy.k, 1, toy.k], [0, toy.k, 3]])
    level = torch.zeros(2)
    rows, positions = (z == toy.k).nonzero(as_tuple=True)
    log_x = ExactMasked(toy).log_probs(z, None, None)[rows, positions]
    full = cbg(toy, y, 2.0).tilt_at(z, level, rows, positions, log_x)
    assert torch.allclose(cbg(toy, y, 2.0, top_k=toy.k).tilt_at(z, level, rows, positions, log_x), full)
    guided = cbg(toy, y, 2.0, top_k=2)
    approx = guided.tilt_at(z, level, rows, positions, log_x).exp()
    assert guided.classifier_passes <= len(rows) * 2
    top = log_x[:, : toy.k].topk(2, -1).indices
    tail = torch.ones_like(approx, dtype=torch.bool).scatter(-1, top, False)
    tail[:, toy.k] = False
    # the two unscored tokens keep their untilted share and their ratio
    x = log_x.exp()
    assert torch.allclose(approx[tail].view(-1, 2).sum(-1), x[tail].view(-1, 2).sum(-1))
    assert torch.allclose(approx.sum(-1), torch.ones(len(rows), dtype=torch.float64))


@pytest.mark.parametrize("rounds", [1, 8])
def test_rejection_draw_has_the_law_of_the_tilted_prediction(toy, y, rounds):
    from moldiff.diffusion.samplers import gumbel_argmax

    z = torch.tensor([[toy.k, 1, toy.k]]).expand(100_000, -1)
    rows = torch.arange(len(z))
    positions = torch.zeros(len(z), dtype=torch.long)
    log_x = ExactMasked(toy).log_probs(z[:1], None, None)[0, 0].expand(len(z), -1)
    guided = cbg(toy, y, 2.0)
    exact = guided.tilt_at(z[:1], torch.zeros(1), rows[:1], positions[:1], log_x[:1]).exp()[0, : toy.k]
    streams = MoleculeStreams(0, len(z))
    tilted = guided.draw_at(z, torch.zeros(len(z)), rows, positions, log_x, streams, rounds=rounds)
    drawn = gumbel_argmax(tilted, streams.rand(rows, tilted.shape[-1]))
    freq = torch.bincount(drawn, minlength=toy.k + 1).double() / len(z)
    assert freq[toy.k] == 0 and 0.5 * float((freq[: toy.k] - exact).abs().sum()) < 0.006
    assert guided.classifier_passes <= (rounds + 2) * toy.k  # each distinct sequence once per round, reference and fallback
