"""Forward processes and losses against exact computations on small cases."""

from __future__ import annotations

import math

import torch

from moldiff.diffusion.processes import (
    T_MIN,
    Support,
    antithetic_times,
    forbid_bos,
    get_schedule,
    mask_forward,
    mdlm_loss,
    plugin_to_mean,
    subs_log_probs,
    udlm_loss,
    uniform_forward,
    uniform_posterior,
    uniform_reverse,
)

DOUBLE = torch.float64


def test_antithetic_times_cover_the_interval_once_per_stratum():
    t = antithetic_times(64, torch.Generator().manual_seed(0))
    assert t.min() >= T_MIN and t.max() <= 1.0
    strata = torch.floor((t - T_MIN) / (1 - T_MIN) * 64).long()
    assert sorted(strata.tolist()) == list(range(64))


def test_mask_forward_masks_at_rate_one_minus_alpha():
    x = torch.randint(4, 34, (4000, 32))
    alpha = torch.full((4000,), 0.3)
    z = mask_forward(x, alpha, 3, torch.Generator().manual_seed(0))
    masked = (z == 3).double().mean().item()
    assert abs(masked - 0.7) < 0.01
    assert torch.equal(z[z != 3], x[z != 3])


def test_subs_puts_no_mass_on_mask_and_copies_unmasked_tokens():
    logits = torch.randn(2, 5, 7, dtype=DOUBLE)
    z = torch.tensor([[3, 1, 3, 6, 0], [3, 3, 3, 3, 2]])
    log_p = subs_log_probs(logits, z, mask_id=3)
    probs = log_p.exp()
    assert torch.allclose(probs.sum(-1), torch.ones(2, 5, dtype=DOUBLE))
    assert torch.all(probs[..., 3] == 0)
    unmasked = z != 3
    assert torch.all(probs[unmasked].gather(-1, z[unmasked][:, None]) == 1)


def test_forbid_bos_removes_the_start_token_only_where_data_never_has_it():
    logits = torch.randn(2, 5, 7, dtype=DOUBLE)
    later = forbid_bos(logits, bos_id=1)
    assert torch.equal(later[:, 0], logits[:, 0])  # position 0 may still predict <bos>
    assert torch.all(later[:, 1:, 1] == -math.inf)
    others = [v for v in range(7) if v != 1]
    assert torch.equal(later[:, 1:, others], logits[:, 1:, others])
    assert torch.all(forbid_bos(logits, bos_id=1, first=0)[..., 1] == -math.inf)  # next-token predictions
    assert forbid_bos(logits, bos_id=None) is logits
    assert torch.isfinite(logits).all()  # the input is left alone


def test_mdlm_elbo_is_tight_for_a_factorised_distribution_with_its_exact_denoiser():
    # For p(x) = prod_l p_l(x_l) the exact denoiser is p_l itself and the continuous-time bound
    # equals -log p(x): E_t[(1/t) * P(masked) * sum_l -log p_l] = sum_l -log p_l.
    torch.manual_seed(0)
    length, vocab, batch = 6, 5, 200_000
    marginals = torch.softmax(torch.randn(length, vocab, dtype=DOUBLE), -1)
    marginals[:, 3] = 0  # no mass on the mask id
    marginals /= marginals.sum(-1, keepdim=True)
    x = torch.tensor([[0, 1, 2, 4, 0, 2]]).expand(batch, -1)
    schedule = get_schedule("linear")
    generator = torch.Generator().manual_seed(1)
    t = antithetic_times(batch, generator)
    z = mask_forward(x, schedule.alpha(t), 3, generator)
    logits = marginals.log().expand(batch, -1, -1)
    loss = mdlm_loss(subs_log_probs(logits, z, 3), x, z, t, schedule, 3).mean().item()
    exact = -marginals[torch.arange(length), x[0]].log().sum().item()
    assert math.isclose(loss, exact, rel_tol=0.01), (loss, exact)


def test_uniform_posterior_is_bayes_rule_and_normalised():
    n = 6
    torch.manual_seed(0)
    alpha_t, alpha_s = torch.tensor([0.3], dtype=DOUBLE), torch.tensor([0.7], dtype=DOUBLE)
    for x in range(n):
        for z in range(n):
            x_onehot = torch.nn.functional.one_hot(torch.tensor([[x]]), n).double()
            posterior = uniform_posterior(x_onehot, torch.tensor([[z]]), alpha_t, alpha_s)[0, 0]
            a_ts = alpha_t / alpha_s
            forward = a_ts * (torch.arange(n) == z) + (1 - a_ts) / n  # q(z_t = z | z_s = v), over v
            prior = alpha_s * (torch.arange(n) == x) + (1 - alpha_s) / n  # q(z_s = v | x)
            bayes = forward * prior / (forward * prior).sum()
            assert torch.allclose(posterior, bayes, atol=1e-12)
    soft = torch.softmax(torch.randn(3, 4, n, dtype=DOUBLE), -1)
    out = uniform_posterior(soft, torch.randint(n, (3, 4)), torch.full((3,), 0.2, dtype=DOUBLE), torch.full((3,), 0.5, dtype=DOUBLE))
    assert torch.all(out >= 0) and torch.allclose(out.sum(-1), torch.ones(3, 4, dtype=DOUBLE))


def test_udlm_continuous_loss_matches_the_discrete_time_kl_sum():
    # E_t E_{z_t} L_continuous = lim_{T->inf} sum_i E_{z_ti} KL(q(z_s|z_t,x) || q(z_s|z_t,x_theta)),
    # computed exactly over z (one position, N = 5) with a random denoiser that depends on z_t.
    n, schedule = 5, get_schedule("loglinear")
    torch.manual_seed(0)
    x_theta = torch.softmax(torch.randn(n, n, dtype=DOUBLE), -1)  # x_theta[z] = prediction given z_t = z
    steps = 2000
    grid = torch.linspace(0, 1, steps + 1, dtype=DOUBLE)
    t_mid = (grid[1:] + grid[:-1]) / 2
    for x in range(n):
        continuous, discrete = 0.0, 0.0
        x_onehot = torch.nn.functional.one_hot(torch.tensor(x), n).double()
        for z in range(n):
            alpha_mid = schedule.alpha(t_mid)
            q_z = alpha_mid * (z == x) + (1 - alpha_mid) / n
            loss = udlm_loss(x_theta[z].log().expand(steps, 1, n), torch.full((steps, 1), x),
                             torch.full((steps, 1), z), t_mid, schedule)
            continuous += (q_z * loss).mean().item()
            alpha_t, alpha_s = schedule.alpha(grid[1:]), schedule.alpha(grid[:-1])
            zz = torch.full((steps, 1), z)
            q = uniform_posterior(x_onehot.expand(steps, 1, n), zz, alpha_t, alpha_s)[:, 0]
            p = uniform_posterior(x_theta[z].expand(steps, 1, n), zz, alpha_t, alpha_s)[:, 0]
            kl = (q * (q.clamp_min(1e-300).log() - p.log())).sum(-1)
            q_zt = alpha_t * (z == x) + (1 - alpha_t) / n
            discrete += (q_zt * kl).sum().item()
        assert continuous > 0
        assert math.isclose(continuous, discrete, rel_tol=2e-3), (x, continuous, discrete)


def test_udlm_loss_is_zero_for_the_perfect_denoiser():
    n = 6
    x = torch.randint(n, (8, 4))
    z = uniform_forward(x, torch.full((8,), 0.5), n, torch.Generator().manual_seed(0))
    perfect = torch.nn.functional.one_hot(x, n).double().clamp_min(1e-30).log()
    loss = udlm_loss(perfect, x, z, torch.full((8,), 0.5, dtype=DOUBLE), get_schedule("loglinear"))
    assert torch.allclose(loss, torch.zeros(8, dtype=DOUBLE), atol=1e-9)


def test_support_maps_tokens_without_the_mask():
    support = Support(vocab_size=7, mask_id=3)
    assert support.size == 6
    assert support.tokens.tolist() == [0, 1, 2, 4, 5, 6]
    assert torch.equal(support.tokens[support.to_support[support.tokens]], support.tokens)
    assert support.to_support[3] == -1


def test_uniform_reverse_is_the_mixture_of_one_hot_posteriors():
    torch.manual_seed(0)
    n = 5
    x = torch.softmax(torch.randn(2, 3, n, dtype=DOUBLE), -1)
    z = torch.randint(n, (2, 3))
    a_t, a_s = torch.tensor([0.3, 0.6], dtype=DOUBLE), torch.tensor([0.5, 0.8], dtype=DOUBLE)
    one_hot = lambda v: torch.nn.functional.one_hot(torch.full((2, 3), v), n).to(DOUBLE)  # noqa: E731
    mixture = sum(x[..., v : v + 1] * uniform_posterior(one_hot(v), z, a_t, a_s) for v in range(n))
    assert torch.allclose(uniform_reverse(x, z, a_t, a_s), mixture, atol=1e-14)
    # the plug-in posterior of an ELBO-trained x_theta is the mixture of its posterior mean
    x_theta = torch.softmax(torch.randn(2, 3, n, dtype=DOUBLE), -1)
    assert torch.allclose(uniform_posterior(x_theta, z, a_t, a_s), uniform_reverse(plugin_to_mean(x_theta, z, a_t), z, a_t, a_s), atol=1e-14)
