"""Top-p under guidance (``nucleus``), proven exact on the enumerable toy.

``nucleus="model"`` keeps the top-p nucleus of the model guidance starts from (D-CBG and FUDGE: the
unguided model; D-CFG: the conditional model) and reweights within it; ``"guided"`` truncates the
guided distribution. The exact distributions follow by enumeration, step by step, and the samplers'
draws must match them (the rejection draw of exact D-CBG included, which now runs under top-p).
"""

from __future__ import annotations

import pytest
import torch
from test_guidance import NULL, ONE, toy, y  # noqa: F401  (the same toy and label fixtures)
from test_lazy_guidance import cbg, eager_tilted, exact_chain, latents  # noqa: F401
from toys import ExactAutoregressive, ExactMasked, ExactPrefixClassifier, Labelled

from moldiff.core.errors import MoldiffError
from moldiff.diffusion.samplers import SamplerOptions, run_sampler, shape_probs
from moldiff.guidance.base import mix_log
from moldiff.guidance.cfg import CFGDenoiser
from moldiff.guidance.fudge import FudgeDenoiser

N_SAMPLES = 50_000
TOP_P = 0.75


@pytest.fixture(scope="module")
def soft(y) -> torch.Tensor:
    """A soft label p(y | x) in (0, 1): an exact classifier never rules a whole nucleus out (with a hard
    label every token of a nucleus may have p(y | .) = 0, and the guided law is 0 / 0 there)."""
    return 0.1 + 0.8 * y


def nucleus(probs: torch.Tensor, top_p: float = TOP_P) -> torch.Tensor:
    """The tokens of the top-p nucleus (latents that cannot occur have no probability: any answer will do)."""
    probs = probs.nan_to_num(0.0)
    return shape_probs(probs / probs.sum(-1, keepdim=True).clamp_min(1e-300), 1.0, top_p) > 0


def restricted(probs: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    cut = probs.nan_to_num(0.0) * keep
    return cut / cut.sum(-1, keepdim=True).clamp_min(1e-300)


def cbg_within_nucleus(toy, y, gamma):
    """The eager D-CBG prediction under ``nucleus="model"``: x_theta cut to its nucleus, then tilted."""
    def prediction(z):
        x = ExactMasked(toy).log_probs(z, None, None)[..., : toy.k].exp()
        tilted = eager_tilted(toy, y, z, gamma)
        return restricted(tilted, nucleus(x))
    return prediction


def cbg_tilt_then_cut(toy, y, gamma):
    return lambda z: shape_probs(eager_tilted(toy, y, z, gamma), 1.0, TOP_P)


def cfg_within_nucleus(toy, y, gamma):
    """D-CFG under ``nucleus="model"``: the mix cut to the conditional model's nucleus."""
    labelled = Labelled(ExactMasked, toy, y)

    def prediction(z):
        cond = labelled.cond.log_probs(z, None, None)[..., : toy.k]
        uncond = labelled.uncond.log_probs(z, None, None)[..., : toy.k]
        return restricted(mix_log(cond, uncond, gamma).exp(), nucleus(cond.exp()))
    return prediction


@pytest.mark.parametrize("sampler", [dict(sampler="mdlm"), dict(sampler="remdm-loop", eta=0.1, t_on=0.6, t_off=0.2)])
@pytest.mark.parametrize("mode", ["model", "guided"])
def test_cbg_under_top_p_samples_its_exact_chain(toy, soft, latents, sampler, mode):
    options = SamplerOptions(steps=5, seed=5, top_p=TOP_P, nucleus=mode, **sampler)
    build = cbg_within_nucleus if mode == "model" else cbg_tilt_then_cut
    exact = exact_chain(toy, soft, latents, options, 3.0, build(toy, soft, 3.0))
    out = run_sampler(cbg(toy, soft, 3.0), N_SAMPLES, options)
    assert toy.tv(out.tokens, exact) < 0.02  # noise floor at 50,000 samples is about 0.015
    if mode == "model":  # the two semantics really differ on this toy
        other = exact_chain(toy, soft, latents, options, 3.0, cbg_tilt_then_cut(toy, soft, 3.0))
        assert 0.5 * float((exact - other).abs().sum()) > 0.05


def test_strong_cbg_under_top_p_scores_only_the_nucleus(toy, soft):
    """At gamma 50 the rejection draw mostly fails and falls back to the exact tilt: under top-p it scores the
    nucleus only, each token once (at most the nucleus size per unmasked position, here one or two tokens)."""
    passes = {}
    for top_p in (0.5, 1.0):
        guided = cbg(toy, soft, 50.0)
        run_sampler(guided, 500, SamplerOptions(sampler="mdlm", steps=1000, seed=0, top_p=top_p))
        passes[top_p] = guided.classifier_passes
    assert 0 < passes[0.5] <= 500 * toy.length * 2 < passes[1.0] <= 500 * toy.length * toy.k


@pytest.mark.parametrize("sampler", [dict(sampler="mdlm"), dict(sampler="remdm-loop", eta=0.1, t_on=0.6, t_off=0.2)])
def test_cfg_under_top_p_samples_the_mix_within_the_conditional_nucleus(toy, soft, latents, sampler):
    options = SamplerOptions(steps=5, seed=6, top_p=TOP_P, **sampler)
    exact = exact_chain(toy, soft, latents, options, 3.0, cfg_within_nucleus(toy, soft, 3.0))
    out = run_sampler(CFGDenoiser(Labelled(ExactMasked, toy, soft), ONE, NULL, gamma=3.0), N_SAMPLES, options)
    assert toy.tv(out.tokens, exact) < 0.02


def autoregressive_law(toy, step) -> torch.Tensor:
    """The distribution over the toy's sequences of a left-to-right sampler whose next-token law is
    ``step(prefixes)`` ``[B, K]`` (prefixes start with <bos>)."""
    law = torch.zeros(len(toy.states), dtype=torch.float64)
    for index, state in enumerate(toy.states):
        p = 1.0
        for i in range(toy.length):
            prefix = torch.cat([torch.tensor([toy.k]), state[:i]])[None]
            p *= float(step(prefix)[0, state[i]])
        law[index] = p
    return law


@pytest.mark.parametrize("method", ["fudge", "cfg"])
def test_autoregressive_guidance_under_top_p_is_exact(toy, soft, method):
    base = ExactAutoregressive(toy)
    if method == "fudge":
        guided = FudgeDenoiser(base, ExactPrefixClassifier(toy, soft), gamma=3.0)
    else:
        guided = CFGDenoiser(Labelled(ExactAutoregressive, toy, soft), ONE, NULL, gamma=3.0)

    def step(prefix):
        pair = guided.log_probs_pair(prefix, None, None)[:, -1].exp()
        return restricted(pair[:, 0], nucleus(pair[:, 1]))[:, : toy.k]

    exact = autoregressive_law(toy, step)
    out = run_sampler(guided, N_SAMPLES, SamplerOptions(sampler="ar", seed=7, top_p=TOP_P))
    assert toy.tv(out.tokens[:, 1:], exact) < 0.02


def test_unguided_sampling_is_the_same_under_either_mode(toy):
    for kind, sampler in ((ExactMasked, "remdm-loop"), (ExactAutoregressive, "ar")):
        runs = [run_sampler(kind(toy), 2000, SamplerOptions(sampler=sampler, steps=20, seed=1, top_p=TOP_P, nucleus=mode)).tokens
                for mode in ("model", "guided")]
        assert torch.equal(*runs)


def test_cfg_gamma_one_is_the_same_under_either_mode(toy, soft):
    """At gamma 1 D-CFG is the conditional model, which is also its reference: the modes agree draw for draw."""
    guided = CFGDenoiser(Labelled(ExactMasked, toy, soft), ONE, NULL, gamma=1.0)
    runs = [run_sampler(guided, 2000, SamplerOptions(sampler="mdlm", steps=20, seed=1, top_p=TOP_P, nucleus=mode)).tokens
            for mode in ("model", "guided")]
    assert (runs[0] != runs[1]).any(-1).float().mean() < 0.01  # the same up to floating-point ties


def test_an_unknown_nucleus_mode_is_a_clear_error():
    with pytest.raises(MoldiffError, match="nucleus must be one of model, guided"):
        SamplerOptions(nucleus="tilted").validate()


def test_the_autoregressive_law_helper_gives_the_model_law_without_a_nucleus(toy):
    """Sanity of the enumeration helper: fed the model's own next-token law, it gives the model's distribution."""
    base = ExactAutoregressive(toy)
    law = autoregressive_law(toy, lambda prefix: base.log_probs(prefix, None, None)[:, -1].exp())
    assert torch.allclose(law, toy.p)
