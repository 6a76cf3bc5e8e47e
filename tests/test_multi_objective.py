"""Several targets at once, proven on an enumerable toy: D-CBG, FUDGE and D-CFG with a gamma per target.

The toy's joint ``p(x) = p(x_0) p(x_1, x_2)`` and two soft labels, ``p(y1 | x)`` from ``x_0`` and
``p(y2 | x)`` from ``(x_1, x_2)``, make the targets independent given every noisy or partial sequence.
Then, with exact classifiers and gammas 1, the product of the per-target tilts is exactly the joint
conditional ``p(x | y1, y2) ∝ p(x) p(y1 | x) p(y2 | x)``, and the samplers must sample it. For other
gammas the lazy chain must equal the eager chain whose tilt is ``sum_k gamma_k log p_k`` (computed
exactly by dynamic programming).
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from toys import (
    ExactAutoregressive,
    ExactMasked,
    ExactNoisyClassifier,
    ExactPrefixClassifier,
    ExactUniform,
    LinearClassifier,
    SmoothClassifier,
    Toy,
)

import moldiff
from moldiff.chemistry.targets import TARGET_FILE, Target
from moldiff.core.errors import MoldiffError
from moldiff.diffusion.processes import get_schedule
from moldiff.diffusion.samplers import SamplerOptions, masked_step_plan, run_sampler
from moldiff.guidance.base import compose_log, mix_log
from moldiff.guidance.cbg import CBGDenoiser, substitution_log_probs, taylor_log_probs
from moldiff.guidance.cfg import CFGDenoiser
from moldiff.guidance.fudge import FudgeDenoiser
from moldiff.guidance.multi import WeightedClassifiers, combine, network_passes, parse_gamma, target_gammas
from moldiff.pipeline.frontier import Frontier, Settings, hypervolume, pareto_front

N_SAMPLES = 20_000
TV_THRESHOLD = 0.03  # the noise floor at 20,000 samples over these 27 sequences is about 0.012


@pytest.fixture(scope="module")
def toy() -> Toy:
    """K = 3 tokens at 3 positions, ``p(x) = p(x_0) p(x_1, x_2)`` (correlated within the second part)."""
    first = torch.tensor([0.5, 0.3, 0.2], dtype=torch.float64)
    rest = torch.tensor([[0.20, 0.02, 0.08], [0.01, 0.25, 0.04], [0.10, 0.05, 0.25]], dtype=torch.float64)
    probs = first[:, None, None] * rest[None]
    return Toy(k=3, length=3, probs=probs.flatten().numpy())


@pytest.fixture(scope="module")
def labels(toy) -> tuple[torch.Tensor, torch.Tensor]:
    """Soft labels ``p(y1 = 1 | x)`` (from ``x_0``) and ``p(y2 = 1 | x)`` (from ``x_1 + x_2``)."""
    s = toy.states
    y1 = torch.tensor([0.1, 0.5, 0.9], dtype=torch.float64)[s[:, 0]]
    y2 = torch.tensor([0.9, 0.2, 0.6, 0.1, 0.7], dtype=torch.float64)[s[:, 1] + s[:, 2]]
    return y1, y2


def tilted(toy, labels, gammas) -> torch.Tensor:
    """``p(x) prod_k p(y_k | x)^gamma_k``, normalised."""
    target = toy.p * labels[0] ** gammas[0] * labels[1] ** gammas[1]
    return target / target.sum()


def classifiers(toy, labels, mask_id):
    return [ExactNoisyClassifier(toy, y, mask_id=mask_id) for y in labels]


def two_target_cbg(toy, labels, gammas, exact=ExactMasked, **kwargs) -> CBGDenoiser:
    mask_id = toy.k if exact is ExactMasked else None
    scorer, strength = combine(classifiers(toy, labels, mask_id), gammas)
    return CBGDenoiser(exact(toy), scorer, strength, **kwargs)


# --- the target: exact at gammas 1 -------------------------------------------------------------
def test_the_toy_makes_the_targets_independent_given_partial_sequences(toy, labels):
    """The premise of exactness: p(y1, y2 | z) = p(y1 | z) p(y2 | z) for every partially masked z."""
    latents = torch.tensor(list(itertools.product(range(toy.k + 1), repeat=toy.length)))
    joint = ExactNoisyClassifier(toy, labels[0] * labels[1], mask_id=toy.k).log_prob(latents, None)
    separate = sum(c.log_prob(latents, None) for c in classifiers(toy, labels, toy.k))
    assert torch.allclose(joint, separate, atol=1e-12)


@pytest.mark.parametrize("settings", [{"sampler": "mdlm"}, {"sampler": "remdm-loop"}, {"sampler": "remdm-cap"}],
                         ids=["mdlm", "remdm-loop", "remdm-cap"])
def test_two_target_cbg_at_gammas_one_samples_the_joint_conditional_masked(toy, labels, settings):
    out = run_sampler(two_target_cbg(toy, labels, (1.0, 1.0)), N_SAMPLES, SamplerOptions(steps=100, seed=3, **settings))
    assert toy.tv(out.tokens, tilted(toy, labels, (1, 1))) < TV_THRESHOLD
    for one in ((0, 0), (1, 0), (0, 1)):  # far from p(x) and from guiding toward one target only
        assert toy.tv(out.tokens, tilted(toy, labels, one)) > 0.08


def test_two_target_cbg_at_gammas_one_samples_the_joint_conditional_uniform(toy, labels):
    guided = two_target_cbg(toy, labels, (1.0, 1.0), exact=ExactUniform)
    out = run_sampler(guided, N_SAMPLES, SamplerOptions(sampler="udlm", steps=100, seed=3))
    assert toy.tv(out.tokens, tilted(toy, labels, (1, 1))) < TV_THRESHOLD


def test_two_target_fudge_at_gammas_one_samples_the_joint_conditional(toy, labels):
    scorer, strength = combine([ExactPrefixClassifier(toy, y) for y in labels], (1.0, 1.0))
    out = run_sampler(FudgeDenoiser(ExactAutoregressive(toy), scorer, strength), N_SAMPLES, SamplerOptions(sampler="ar", seed=4))
    assert toy.tv(out.tokens[:, 1:], tilted(toy, labels, (1, 1))) < TV_THRESHOLD


# --- other gammas: the lazy chain is the eager chain with the summed tilt ------------------------
def eager_step_matrix(toy, labels, latents, step, gammas) -> torch.Tensor:
    """One eager (Re)MDM step ``[S, S]`` with ``x~ ∝ x prod_k p_k(y_k | z with l <- v)^gamma_k`` at every position."""
    a_t, a_s, sigma = step
    mask = toy.k
    log_x = ExactMasked(toy).log_probs(latents, None, None)[..., : toy.k]
    for classifier, gamma in zip(classifiers(toy, labels, mask), gammas):
        log_x = log_x + gamma * substitution_log_probs(classifier, latents, torch.zeros(len(latents)), torch.arange(toy.k)).double()
    x = log_x.softmax(-1)
    p_unmask = min(1.0, max(0.0, (a_s - (1 - sigma) * a_t) / (1 - a_t)))
    masked = latents == mask
    per_position = torch.zeros(len(latents), toy.length, toy.k + 1, dtype=torch.float64)
    per_position[..., : toy.k] = torch.where(masked[..., None], x * p_unmask, torch.zeros_like(x))
    per_position[..., mask] = torch.where(masked, 1 - p_unmask, torch.full(masked.shape, sigma, dtype=torch.float64))
    keep = torch.nn.functional.one_hot(latents, toy.k + 1).double() * (1 - sigma)
    per_position = torch.where(masked[..., None], per_position, per_position + keep)
    return per_position[:, torch.arange(toy.length)[:, None], latents.T].prod(1)


@pytest.mark.parametrize("name,settings", [("mdlm", {"sampler": "mdlm"}), ("remdm-cap", {"sampler": "remdm-cap", "eta": 0.3})])
def test_lazy_two_target_cbg_samples_exactly_the_eager_chain(toy, labels, name, settings):
    gammas = (2.0, 0.5)
    options = SamplerOptions(steps=5, seed=4, **settings)
    latents = torch.tensor(list(itertools.product(range(toy.k + 1), repeat=toy.length)))
    dist = torch.zeros(len(latents), dtype=torch.float64)
    dist[(latents == toy.k).all(-1).nonzero()[0, 0]] = 1.0
    for step in masked_step_plan(options, get_schedule(options.schedule)):
        dist = dist @ eager_step_matrix(toy, labels, latents, step, gammas)
    data = (latents < toy.k).all(-1)
    assert abs(float(dist[data].sum()) - 1.0) < 1e-9
    exact = dist[data]
    out = run_sampler(two_target_cbg(toy, labels, gammas), N_SAMPLES, options)
    assert toy.tv(out.tokens, exact) < TV_THRESHOLD
    assert 0.5 * float((exact - toy.p).abs().sum()) > 0.1  # guided: far from unguided


def test_a_target_with_gamma_zero_is_left_out_draw_for_draw(toy, labels):
    options = SamplerOptions(sampler="remdm-loop", steps=20, seed=7)
    first = ExactNoisyClassifier(toy, labels[0], toy.k)
    single = run_sampler(CBGDenoiser(ExactMasked(toy), first, gamma=3.0), 2000, options)
    scorer, strength = combine(classifiers(toy, labels, toy.k), (3.0, 0.0))
    assert strength == 1.0 and torch.allclose(scorer.log_prob(toy.states, None), 3.0 * first.log_prob(toy.states, None))
    assert toy.tv(run_sampler(CBGDenoiser(ExactMasked(toy), scorer, strength), 2000, options).tokens, toy.empirical(single.tokens)) < 0.06
    one_target, strength = combine([first], (3.0,))  # one target: its own classifier and gamma, draw for draw
    assert one_target is first and strength == 3.0
    assert torch.equal(run_sampler(CBGDenoiser(ExactMasked(toy), one_target, strength), 2000, options).tokens, single.tokens)
    none, strength = combine(classifiers(toy, labels, toy.k), (0.0, 0.0))
    assert strength == 0.0
    plain = run_sampler(ExactMasked(toy), 2000, options)
    assert torch.equal(run_sampler(CBGDenoiser(ExactMasked(toy), none, strength), 2000, options).tokens, plain.tokens)


def test_more_gamma_on_one_target_more_of_its_hits(toy, labels):
    rates = []
    for gamma in (0.0, 1.0, 3.0):
        out = run_sampler(two_target_cbg(toy, labels, (gamma, 1.0)), 5000, SamplerOptions(sampler="mdlm", steps=20, seed=5))
        rates.append(float(labels[0][toy.index(out.tokens)].mean()))
    assert rates[0] + 0.05 < rates[1] < rates[2] - 0.05


# --- the combined classifier: every path of D-CBG ------------------------------------------------
def test_weighted_classifiers_sum_the_weighted_log_probs_and_stay_at_most_zero():
    z = torch.randint(5, (32, 4), generator=torch.Generator().manual_seed(1))
    parts = [SmoothClassifier(4, 5, seed=0), LinearClassifier(4, 5, seed=1)]
    weighted = WeightedClassifiers(tuple(parts), (2.0, 0.5))
    expected = 2.0 * parts[0].log_prob(z, None) + 0.5 * parts[1].log_prob(z, None)
    assert torch.allclose(weighted.log_prob(z, None), expected.double())
    assert (weighted.log_prob(z, None) <= 0).all()  # so exp(log_prob) is an acceptance probability
    assert weighted.active == 2 and WeightedClassifiers(tuple(parts), (0.0, 1.0)).active == 1


def test_taylor_of_the_combined_classifier_is_the_weighted_sum_of_the_per_target_expansions():
    z = torch.randint(5, (6, 4), generator=torch.Generator().manual_seed(2))
    level, candidates = torch.full((6,), 0.5), torch.arange(5)
    linear = [LinearClassifier(4, 5, seed=s) for s in (0, 1)]
    weighted = WeightedClassifiers(tuple(linear), (2.0, 0.5))
    exact = substitution_log_probs(weighted, z, level, candidates).double()
    assert torch.allclose(taylor_log_probs(weighted, z, level, candidates, 5), exact, atol=1e-10)  # linear: exact
    smooth = [SmoothClassifier(4, 5, seed=s) for s in (0, 1)]
    weighted = WeightedClassifiers(tuple(smooth), (2.0, 0.5))
    per_target = sum(g * taylor_log_probs(c, z, level, candidates, 5) for c, g in zip(smooth, (2.0, 0.5)))
    assert torch.allclose(taylor_log_probs(weighted, z, level, candidates, 5), per_target, atol=1e-6)


def test_network_passes_count_every_classifier(toy, labels):
    guided = two_target_cbg(toy, labels, (1.0, 1.0))
    run_sampler(guided, 200, SamplerOptions(sampler="mdlm", steps=10, seed=0))
    assert guided.classifier_passes > 0 and network_passes(guided) == 2 * guided.classifier_passes
    half = two_target_cbg(toy, labels, (1.0, 0.0))
    run_sampler(half, 200, SamplerOptions(sampler="mdlm", steps=10, seed=0))
    assert network_passes(half) == half.classifier_passes


# --- D-CFG with a gamma per target ---------------------------------------------------------------
class TwoLabelled:
    """An exact denoiser conditional on each target whose label is 1 (labels ``[B, 2]``, 2 = null)."""

    def __init__(self, exact_class, toy: Toy, labels) -> None:
        self.by_condition = {}
        for on in itertools.product((False, True), repeat=2):
            weights = toy.p.clone()
            for y, set_ in zip(labels, on):
                weights = weights * (y if set_ else 1.0)
            self.by_condition[on] = exact_class(toy, weights)
        plain = self.by_condition[(False, False)]
        for name in ("kind", "vocab_size", "length", "mask_id", "bos_id", "eos_id", "pad_id", "uses_time", "support", "device"):
            setattr(self, name, getattr(plain, name))

    def log_probs(self, z, level, labels):
        out = None
        for on, exact in self.by_condition.items():
            rows = (labels[:, 0] == 1) == on[0]
            rows &= (labels[:, 1] == 1) == on[1]
            if rows.any():
                part = exact.log_probs(z[rows], None if level is None else level[rows], None)
                if out is None:
                    out = torch.empty((len(z), *part.shape[1:]), dtype=part.dtype)
                out[rows] = part
        return out


NULL2 = torch.tensor([[2, 2]])
PER_TARGET = torch.tensor([[1, 2], [2, 1]])
JOINT = torch.tensor([[1, 1]])


@pytest.mark.parametrize("kind", ["masked", "uniform", "autoregressive"])
def test_cfg_with_a_gamma_per_target_at_gammas_one_samples_the_joint_conditional(toy, labels, kind):
    exact = {"masked": ExactMasked, "uniform": ExactUniform, "autoregressive": ExactAutoregressive}[kind]
    sampler = {"masked": "mdlm", "uniform": "udlm", "autoregressive": "ar"}[kind]
    guided = CFGDenoiser(TwoLabelled(exact, toy, labels), PER_TARGET, NULL2, (1.0, 1.0))
    out = run_sampler(guided, N_SAMPLES, SamplerOptions(sampler=sampler, steps=100, seed=2))
    tokens = out.tokens[:, 1:] if kind == "autoregressive" else out.tokens
    assert toy.tv(tokens, tilted(toy, labels, (1, 1))) < TV_THRESHOLD


def test_cfg_one_target_row_is_the_single_gamma_form_draw_for_draw(toy, labels):
    options = SamplerOptions(sampler="remdm-loop", steps=20, seed=9)
    model = TwoLabelled(ExactMasked, toy, labels)
    single = run_sampler(CFGDenoiser(model, torch.tensor([[1, 2]]), NULL2, 2.5), 3000, options)
    listed = run_sampler(CFGDenoiser(model, torch.tensor([[1, 2]]), NULL2, (2.5,)), 3000, options)
    assert torch.equal(single.tokens, listed.tokens)
    zero = run_sampler(CFGDenoiser(model, PER_TARGET, NULL2, (0.0, 0.0)), 3000, options)
    joint_zero = run_sampler(CFGDenoiser(model, JOINT, NULL2, 0.0), 3000, options)
    assert torch.equal(zero.tokens, joint_zero.tokens)


def test_cfg_per_target_gammas_move_each_target_on_its_own(toy, labels):
    model = TwoLabelled(ExactMasked, toy, labels)
    options = SamplerOptions(sampler="mdlm", steps=20, seed=5)
    hits = {}
    for gammas in ((0.0, 0.0), (3.0, 0.0), (0.0, 3.0)):
        tokens = run_sampler(CFGDenoiser(model, PER_TARGET, NULL2, gammas), 5000, options).tokens
        hits[gammas] = [float(y[toy.index(tokens)].mean()) for y in labels]
    assert hits[(3.0, 0.0)][0] > hits[(0.0, 0.0)][0] + 0.1 and hits[(0.0, 3.0)][1] > hits[(0.0, 0.0)][1] + 0.1
    assert abs(hits[(3.0, 0.0)][1] - hits[(0.0, 0.0)][1]) < 0.03  # independent targets: the other one stays


def test_compose_log_is_mix_log_for_one_condition_and_the_sum_of_log_ratios_for_several():
    g = torch.Generator().manual_seed(0)
    u, a, b = (torch.randn(4, 6, generator=g, dtype=torch.float64).log_softmax(-1) for _ in range(3))
    assert torch.equal(compose_log(u, [a], [2.0]), mix_log(a, u, 2.0))
    expected = (u + 2.0 * (a - u) + 0.5 * (b - u)).log_softmax(-1)
    assert torch.allclose(compose_log(u, [a, b], [2.0, 0.5]), expected)
    a_inf = a.clone()
    a_inf[0, 0] = -math.inf
    assert compose_log(u, [a_inf, b], [2.0, 0.5])[0, 0] == -math.inf
    assert torch.isfinite(compose_log(u, [a_inf, b], [0.0, 0.5])[0, 0])  # a target with gamma 0 is left out
    assert torch.equal(compose_log(u, [a, b], [0.0, 0.0]), u)


# --- gammas per target: parsing and checks -------------------------------------------------------
def test_gammas_per_target():
    assert target_gammas(2.0, ["rings", "qed"]) == (2.0, 2.0)
    assert target_gammas([3, 1], ["rings", "qed"]) == (3.0, 1.0)
    assert parse_gamma("3") == 3.0 and parse_gamma("3, 1") == (3.0, 1.0)
    for gamma, targets, message in [
        ((3.0, 1.0, 2.0), ["rings", "qed"], "--gamma gives 3 values for 2 targets"),
        ((3.0,), ["rings", "qed"], "--gamma gives 1 value for 2 targets"),
        ((1.0, -1.0), ["rings", "qed"], "gamma must be >= 0 and finite, not -1"),
        ((1.0, math.nan), ["rings", "qed"], "not nan"),
        (1.0, ["rings", "rings"], "target 'rings' is given twice"),
    ]:
        with pytest.raises(MoldiffError, match=message):
            target_gammas(gamma, targets)
    with pytest.raises(MoldiffError, match="--gamma takes a number, or one per target"):
        parse_gamma("3,x")


# --- the exact hypervolume and the Pareto front over several properties ---------------------------
def test_hypervolume_of_hand_computed_fronts():
    staircase = [(1, 3), (2, 2), (3, 1)]
    assert hypervolume(staircase, (0, 0)) == pytest.approx(3 + 2 + 1)  # strips of width 1: 1x3 + 1x2 + 1x1
    assert hypervolume([*staircase, (1, 1), (2, 0.5)], (0, 0)) == pytest.approx(6)  # dominated points add nothing
    assert hypervolume(staircase, (1, 1)) == pytest.approx(1)  # only (2, 2) reaches past (1, 1): a 1 x 1 square
    assert hypervolume([(0.5, 5)], (1, 0)) == 0.0 and hypervolume([], (0, 0)) == 0.0
    assert hypervolume([(2, 3, 4)], (0, 0, 0)) == pytest.approx(24)
    assert hypervolume([(1, 1, 2), (2, 2, 1)], (0, 0, 0)) == pytest.approx(2 + 4 - 1)  # two boxes minus their overlap
    assert hypervolume([(1, 1, 1), (1, 1, 1), (2, 1, 1)], (0, 0, 0)) == pytest.approx(2)  # ties and a duplicate
    three = [(3, 1, 1), (1, 3, 1), (1, 1, 3)]  # three 3x1x1 bars: 9, minus the 1x1x1 core counted three times, plus it once
    assert hypervolume(three, (0, 0, 0)) == pytest.approx(9 - 3 + 1)
    assert hypervolume([(2, 2, 2)], (1, 1, 1)) == pytest.approx(1)
    with pytest.raises(MoldiffError, match="exact for 2 or 3 objectives"):
        hypervolume([(1, 1, 1, 1)], (0, 0, 0, 0))


def test_hypervolume_agrees_with_a_monte_carlo_estimate():
    generator = np.random.default_rng(0)
    points = generator.random((12, 3))
    ref = np.zeros(3)
    draws = generator.random((200_000, 3))
    dominated = (draws[:, None, :] <= points[None]).all(-1).any(-1)
    assert hypervolume(points, ref) == pytest.approx(dominated.mean(), abs=0.005)


def _sweep_table(rows) -> pd.DataFrame:
    columns = ["model", "method", "guidance", "gamma", "novel", "rings_novel_mean", "lowqed_novel_mean"]
    return pd.DataFrame.from_records([dict(zip(columns, r)) for r in rows])


@pytest.fixture
def lowqed(tmp_path):
    """A target whose direction is ``below`` (tests run in ``tmp_path``, where ``guidance/`` is looked up)."""
    Target("lowqed", "qed", 0.4, "below").save(tmp_path / "guidance" / "lowqed" / TARGET_FILE)


def test_pareto_front_and_hypervolume_honour_each_targets_direction(lowqed):
    table = _sweep_table([
        ("m", "a", "cfg", 1.0, 100, 2.0, 0.5),
        ("m", "a", "cfg", 2.0, 100, 3.0, 0.3),  # dominates the first: more rings, lower qed (the lowqed direction)
        ("m", "a", "cfg", 3.0, 200, 1.0, 0.6),  # more novel molecules: on the front
        ("m", "a", "cfg", 4.0, 40, 9.0, 0.1),   # too few novel molecules: never on the front
        ("m", "b", "cfg", 1.0, 100, 2.0, 0.5),  # another method: its own front
    ])
    flags = pareto_front(table, ["rings_novel_mean", "lowqed_novel_mean"], [True, False])
    assert flags.tolist() == [False, True, True, False, True]
    assert pareto_front(table, ["rings_novel_mean", "lowqed_novel_mean"], [True, True]).tolist() == [True, True, True, False, True]
    sweep = Frontier(table, Settings(target="rings,lowqed"))
    volumes = sweep.hypervolume(reference=[0, 0, 1.0]).set_index("method")["hypervolume"]
    # method a, maximising (novel, rings, -qed) from (0, 0, -1): (100, 3, 0.7) and (200, 1, 0.4) overlap in (100, 1, 0.4)
    assert volumes["a"] == pytest.approx(100 * 3 * 0.7 + 200 * 1 * 0.4 - 100 * 1 * 0.4)
    assert volumes["b"] == pytest.approx(100 * 2 * 0.5)
    default = sweep.hypervolume()  # from 0 novel molecules and each property's worst value over the sweep
    assert default["reference"].tolist() == ["0,1,0.6"] * 2
    assert default.set_index("method").loc["b", "hypervolume"] == pytest.approx(100 * 1 * 0.1)


# --- several targets through the pipeline and the command line ------------------------------------
SHIPPED = "qm9-selfies-mdlm"  # trained with the labels rings and qed; its classifiers guidance/{rings,qed}/mask-selfies


def test_two_target_frontier_sweeps_caches_measures_both_and_plots(tmp_path, point_runs):
    sweep = {"guidance": "none,cfg", "gammas": [1.0, (2.0, 0.0), (0.0, 2.0)], "samplers": "mdlm", "steps": 4,
             "num_samples": 64, "target": "rings,qed", "cache": tmp_path / "cache.json", "progress": False}
    first = moldiff.frontier(SHIPPED, **sweep)
    assert len(first.table) == 4 and len(point_runs) == 4
    assert {"rings_novel_mean", "qed_novel_mean", "rings_hit_novel", "qed_hit_novel", "pareto"} <= set(first.table.columns)
    assert first.table["gamma"].tolist() == [0.0, 1.0, "2:0", "0:2"]
    assert first.property_columns == ["rings_novel_mean", "qed_novel_mean"]
    keys = [p.key for p in first.points]
    assert "|cfg|1.0|rings,qed" in keys[1] and "|cfg|2.0:0.0|rings,qed" in keys[2]
    again = moldiff.frontier(SHIPPED, **sweep)
    assert len(point_runs) == 4 and again.table["cached"].all()
    volumes = first.hypervolume()
    assert len(volumes) == 2 and (volumes["hypervolume"] >= 0).all()
    first.plot(tmp_path / "two.png")
    assert (tmp_path / "two.png").read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(MoldiffError, match="--gamma gives 3 values for 2 targets"):
        moldiff.frontier(SHIPPED, **{**sweep, "gammas": [(1.0, 2.0, 3.0)]})


def test_two_target_cfg_and_cbg_through_the_command_line(run_cli):
    result = run_cli("sample", "--model", SHIPPED, "-n", 8, "--steps", 4, "--guidance", "cfg",
                     "--target", "rings,qed", "--gamma", "2,1", "--out", "two.csv")
    assert "cfg gamma 2,1 toward rings, qed" in result.stdout
    result = run_cli("sample", "-n", 4, "--steps", 4, "--guidance", "cbg", "--target", "rings,qed", "--gamma", "3,1",
                     "--out", "cbg.csv")  # the default model and its two shipped classifiers
    assert "cbg gamma 3,1 toward rings, qed" in result.stdout
    result = run_cli("frontier", "--model", SHIPPED, "--guidance", "cfg", "--gamma", "2:0,0:2", "--steps", 4,
                     "-n", 64, "--sampler", "mdlm", "--target", "rings,qed", "--out", "f.csv")
    assert "qed_novel_mean" in result.stdout and "hypervolume of" in result.stdout


@pytest.mark.parametrize("args,message", [
    (["--target", "rings,qed", "--gamma", "3,1,2"], "--gamma gives 3 values for 2 targets (rings, qed): give one gamma, or one per target"),
    (["--target", "rings", "--gamma", "3,1"], "--gamma gives 2 values for 1 target"),
    (["--target", "rings,qed", "--gamma", "3,x"], "--gamma takes a number, or one per target"),
    (["--target", "rings,qed", "--gamma", "3,-1"], "gamma must be >= 0 and finite"),
])
def test_gammas_that_do_not_fit_the_targets_are_one_line_errors(run_cli, args, message):
    result = run_cli("sample", "-n", 4, "--guidance", "cbg", *args, "--out", "never.csv", expect=2)
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not Path("never.csv").exists()


def test_gamma_per_target_in_the_python_api():
    model = moldiff.load("qm9-selfies-mdlm")
    with pytest.raises(MoldiffError, match="gamma must be a number or a list of numbers"):
        model.sample(2, guidance="cbg", target="rings,qed", gamma=["3", "1"])
    with pytest.raises(MoldiffError, match="--gamma gives 2 values for 1 target"):
        model.sample(2, steps=2, guidance="cbg", target="rings", gamma=[3, 1], progress=False)
    result = model.sample(2, steps=2, guidance="cbg", target=["rings", "qed"], gamma=[3, 0], progress=False)
    assert [t.name for t in result.targets] == ["rings", "qed"]
