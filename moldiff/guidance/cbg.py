"""Discrete classifier-based guidance (D-CBG) with a noisy classifier ``p(y | z_t)``.

Masked models: the prediction at each masked position is tilted,
``x~[l, v] ∝ x[l, v] p(y | z with l <- v)^gamma``, then any (Re)MDM posterior follows; the samplers
ask for the tilt lazily, only where tokens unmask (:meth:`CBGDenoiser.tilt_at`), and draw exactly by
rejection where they can (:meth:`CBGDenoiser.draw_at`). Uniform models: the transition is tilted,
``p~(z_s^l = v) ∝ p(z_s^l = v | z_t) p(y | z with l <- v)^gamma``. ``taylor=True`` replaces the
``L x N`` classifier calls by one forward and one backward,
``log p(y | z^(l<-v)) ~ log p(y | z) + g[l, v] - g[l, z_l]`` with ``g`` the gradient with respect
to the one-hot input.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from moldiff.diffusion.processes import uniform_reverse
from moldiff.diffusion.samplers import gumbel_argmax
from moldiff.guidance.base import Classifier, GuidedDenoiser

if TYPE_CHECKING:
    from moldiff.diffusion.denoisers import Denoiser
    from moldiff.diffusion.streams import MoleculeStreams

#: Sequences per classifier call when scoring substitutions: on CPU the shipped classifiers score about 1.6x
#: more sequences a second in chunks of 256 than of 4,096 (one thread; the activations stay in cache).
CHUNK = 256
#: The same on a GPU, where each call costs kernel launches whatever its size: as many as one call can hold.
CUDA_CHUNK = 16384


def _chunk(rows: torch.Tensor) -> int:
    """Sequences per classifier call for rows on ``rows.device``."""
    return CHUNK if rows.device.type == "cpu" else CUDA_CHUNK


def substitution_log_probs(classifier: Classifier, z: torch.Tensor, level: torch.Tensor, candidates: torch.Tensor,
                           chunk: int | None = None) -> torch.Tensor:
    """Exact ``log p(y | z with position l set to v)`` for every position and candidate ``v``.

    Returns ``[B, L, len(candidates)]`` from ``L * V`` classifier calls per distinct row of ``z``
    (rows repeat a lot early in sampling, when most tokens are masked), scored in chunks.
    """
    inverse = None
    if len(z) > 1 and bool((level == level[0]).all()):  # one noise level: identical rows score alike
        z, inverse = torch.unique(z, dim=0, return_inverse=True)
        level = level[: len(z)]
    batch, length = z.shape
    v = len(candidates)
    variants = z[:, None, None, :].expand(batch, length, v, length).clone()  # [B, l, v, L]
    for position in range(length):
        variants[:, position, :, position] = candidates
    flat = variants.reshape(-1, length)
    levels = level[:, None].expand(batch, length * v).reshape(-1)
    chunk = chunk or _chunk(flat)
    with torch.no_grad():
        out = torch.cat([classifier.log_prob(flat[i : i + chunk], levels[i : i + chunk]) for i in range(0, len(flat), chunk)])
    out = out.view(batch, length, v)
    return out if inverse is None else out[inverse]


def taylor_log_probs(classifier: Classifier, z: torch.Tensor, level: torch.Tensor, candidates: torch.Tensor, vocab_size: int) -> torch.Tensor:
    """First-order ``log p(y | z^(l<-v)) ~ log p(y | z) + g[l, v] - g[l, z_l]``: one forward, one backward."""
    one_hot = torch.nn.functional.one_hot(z, vocab_size).float().requires_grad_(True)
    with torch.enable_grad():
        log_p = classifier.log_prob(one_hot, level)
        (grad,) = torch.autograd.grad(log_p.sum(), one_hot)
    current = grad.gather(-1, z.unsqueeze(-1))
    return (log_p.detach()[:, None, None] + grad[..., candidates] - current).double()


def _score_unique(classifier: Classifier, variants: torch.Tensor, level: torch.Tensor, chunk: int | None = None) -> tuple[torch.Tensor, int]:
    """``log p(y | variant)`` for rows ``[V, L]`` at one noise level ``level`` (scalar tensor), each distinct
    row scored once in chunks; returns the scores and how many sequences were scored."""
    distinct, inverse = torch.unique(variants, dim=0, return_inverse=True)
    levels = level.expand(len(distinct))
    chunk = chunk or _chunk(distinct)
    with torch.no_grad():
        out = torch.cat([classifier.log_prob(distinct[i : i + chunk], levels[i : i + chunk]) for i in range(0, len(distinct), chunk)])
    return out.double()[inverse], len(distinct)


def adaptive_rejection(probs: torch.Tensor, log_w: torch.Tensor, score, owners: torch.Tensor, streams: MoleculeStreams,
                       rounds: int = 16) -> torch.Tensor:
    """Exact draws ``v_i ∝ probs[i, v] w_i(v)`` with ``w_i(v) <= 1`` (a classifier's ``p(y | .)^gamma``), by
    adaptive rejection sampling; returns the drawn value of each row ``i``.

    ``log_w`` ``[M, N]`` holds the known ``log w`` (NaN where unknown) and is filled in place;
    ``score(rows, values)`` computes unknown ones. The envelope is ``probs * w`` where ``w`` is known and
    ``probs * 1`` elsewhere: a proposal with known weight is accepted, one with unknown weight is scored
    and accepted with probability ``w``. A rejection only tightens the envelope, so each round's accepted
    value has the tilted law. Rows still pending after ``rounds`` rounds have all their remaining values
    scored in one batch and draw from the then exact envelope (the stopping rule looks only at rejected
    proposals, so the draw stays exact). Each row draws two uniforms a round from the stream of
    molecule ``owners[i]``.
    """
    log_p = probs.clamp_min(0).log()
    chosen = torch.full((len(probs),), -1, dtype=torch.long, device=probs.device)
    pending = torch.arange(len(probs), device=probs.device)
    for round_ in range(rounds + 1):
        if not len(pending):
            break
        if round_ == rounds:  # score the rest: the envelope becomes the tilted law, and the draw is accepted
            rest = log_w[pending].isnan() & (probs[pending] > 0)
            which, values = rest.nonzero(as_tuple=True)
            if len(which):
                log_w[pending[which], values] = score(pending[which], values)
        log_e = log_p[pending] + log_w[pending].nan_to_num(nan=0.0)
        envelope = (log_e - log_e.max(-1, keepdim=True).values).exp().cumsum(-1)
        u = streams.rand(owners[pending], 2)
        proposal = torch.searchsorted(envelope, u[:, :1] * envelope[:, -1:], right=True).squeeze(-1)
        proposal = proposal.clamp_max(probs.shape[-1] - 1)
        unknown = log_w[pending, proposal].isnan()
        if unknown.any():
            log_w[pending[unknown], proposal[unknown]] = score(pending[unknown], proposal[unknown])
        accept = ~unknown | (u[:, 1] < log_w[pending, proposal].exp())
        chosen[pending[accept]] = proposal[accept]
        pending = pending[~accept]
    return chosen


class CBGDenoiser(GuidedDenoiser):
    """Classifier-based guidance with a noisy classifier (see module docstring).

    For masked models the tilt is computed lazily by the samplers (:meth:`tilt_at`) at the positions
    that unmask in a step; ``top_k`` scores only the ``k`` most probable tokens of ``x_theta`` there.
    ``classifier_passes`` counts the sequences the classifier scored (Taylor: forward + backward = 2).
    """

    def __init__(self, base: Denoiser, classifier: Classifier, gamma: float, taylor: bool = False, top_k: int | None = None) -> None:
        super().__init__(base)
        self.classifier, self.gamma, self.taylor, self.top_k = classifier, gamma, taylor, top_k
        self.uses_time = True  # the classifier sees the noise level
        self.tokens = base.support if base.kind == "uniform" else torch.tensor(
            [i for i in range(base.vocab_size) if i != base.mask_id], device=base.device)
        self.classifier_passes = 0

    def _tilt(self, z: torch.Tensor, level: torch.Tensor) -> torch.Tensor:
        if self.taylor:
            self.classifier_passes += 2 * len(z)
            return taylor_log_probs(self.classifier, z, level, self.tokens, self.vocab_size)
        self.classifier_passes += len(z) * z.shape[1] * len(self.tokens)
        return substitution_log_probs(self.classifier, z, level, self.tokens).double()

    def tilt_at(self, z: torch.Tensor, level: torch.Tensor, rows: torch.Tensor, positions: torch.Tensor,
                log_x: torch.Tensor) -> torch.Tensor:
        """Masked models: ``log x~ ∝ log x + gamma log p(y | z with l <- v)`` at the pairs (``rows[i]``, ``positions[i]``).

        ``log_x`` ``[M, N]`` is the base prediction there. Exact: the classifier scores the candidate
        substitutions of those positions only (each distinct sequence once). With ``top_k``, only the
        ``k`` most probable tokens are scored and the others keep their untilted probability times the
        scored tokens' mean tilt, so the unscored tokens keep their total untilted share.
        """
        if self.gamma == 0.0 or len(rows) == 0:
            return log_x
        if self.taylor:
            unique_rows, inverse = torch.unique(rows, return_inverse=True)
            scores = self._tilt(z[unique_rows], level[unique_rows])[inverse, positions]  # [M, V]
            tilted = log_x.clone()
            tilted[:, self.tokens] += self.gamma * scores
            return tilted.log_softmax(-1)
        candidates = self.tokens.expand(len(rows), -1)
        if self.top_k is not None and self.top_k < len(self.tokens):
            order = log_x[:, self.tokens].topk(self.top_k, dim=-1).indices
            candidates = self.tokens[order]
        else:  # tokens without probability (outside a top-p nucleus) keep none: each is scored as the likeliest
            # token instead, a duplicate sequence that costs no classifier pass
            likeliest = self.tokens[log_x[:, self.tokens].argmax(-1)]
            candidates = torch.where(log_x.gather(-1, candidates).isfinite(), candidates, likeliest[:, None])
        m, k = candidates.shape
        variants = z[rows][:, None, :].expand(m, k, z.shape[1]).clone()
        variants.scatter_(-1, positions[:, None, None].expand(m, k, 1), candidates[..., None])
        if bool((level == level[0]).all()):
            scores, scored = _score_unique(self.classifier, variants.reshape(m * k, -1), level[0])
        else:
            with torch.no_grad():
                scores = self.classifier.log_prob(variants.reshape(m * k, -1), level[rows].repeat_interleave(k)).double()
            scored = m * k
        self.classifier_passes += scored
        weight = self.gamma * scores.view(m, k)
        head = log_x.gather(-1, candidates)
        tilted = log_x.clone()
        if k < len(self.tokens):  # the tail: untilted times the head's x-weighted mean tilt
            mean_tilt = (head + weight).logsumexp(-1, keepdim=True) - head.logsumexp(-1, keepdim=True)
            tilted[:, self.tokens] += mean_tilt
        tilted.scatter_(-1, candidates, head + weight)
        return tilted.log_softmax(-1)

    def draw_at(self, z: torch.Tensor, level: torch.Tensor, rows: torch.Tensor, positions: torch.Tensor,
                log_x: torch.Tensor, streams: MoleculeStreams, rounds: int = 8) -> torch.Tensor:
        """Like :meth:`tilt_at`, but a *random* distribution whose expectation is ``x~``: enough to draw one token.

        Exact CBG by rejection: propose ``v ~ x``, accept with ``p(y | z with l <- v)^gamma <= 1``
        (each proposal's classifier score is cached); a pair not accepted within ``rounds`` proposals
        gets the exact ``x~``, scoring only its probable tokens not scored yet (under top-p, the nucleus). An accepted pair returns a point mass on its token. The drawn
        token has exactly the law of ``x~`` whatever ``rounds`` is (the fallback is exact and the
        stopping rule only looks at rejected proposals), but ``x~`` itself is not known, so samplers
        that need its probabilities (confidence weighting, temperature, top-p) use :meth:`tilt_at`.
        """
        if self.gamma == 0.0 or self.taylor or self.top_k is not None or not bool((level == level[0]).all()):
            return self.tilt_at(z, level, rows, positions, log_x)
        log_tokens = log_x[:, self.tokens]
        weight = torch.full(log_tokens.shape, torch.nan, dtype=torch.float64, device=log_x.device)

        def score(which: torch.Tensor, tokens: torch.Tensor) -> None:  # weight[which, tokens] from the classifier
            variants = z[rows[which]].clone()
            variants[torch.arange(len(which), device=z.device), positions[which]] = self.tokens[tokens]
            scores, scored = _score_unique(self.classifier, variants, level[0])
            self.classifier_passes += scored
            weight[which, tokens] = self.gamma * scores

        chosen = torch.full((len(rows),), -1, dtype=torch.long, device=log_x.device)
        pending = torch.arange(len(rows), device=log_x.device)
        for _ in range(rounds):
            if not len(pending):
                break
            proposal = gumbel_argmax(log_tokens[pending], streams.rand(rows[pending], log_tokens.shape[-1]))
            unknown = weight[pending, proposal].isnan()
            if unknown.any():
                score(pending[unknown], proposal[unknown])
            accept = streams.rand(rows[pending], 1)[:, 0] < weight[pending, proposal].exp()
            chosen[pending[accept]] = self.tokens[proposal[accept]]
            pending = pending[~accept]
        out = torch.full_like(log_x, -torch.inf)
        done = (chosen >= 0).nonzero().squeeze(-1)
        out[done, chosen[done]] = 0.0
        if len(pending):  # the exact tilt, scoring only the probable tokens not yet scored
            which, tokens = (weight[pending].isnan() & log_tokens[pending].isfinite()).nonzero(as_tuple=True)
            if len(which):
                score(pending[which], tokens)
            tilted = out[pending]
            tilted[:, self.tokens] = (log_tokens[pending] + weight[pending].nan_to_num(nan=0.0)).log_softmax(-1)
            out[pending] = tilted
        return out

    def log_probs(self, z, level, labels):
        """The tilted prediction at every masked position (masked models); the base one for uniform models."""
        log_x = self.base.log_probs(z, level, labels).double()
        if self.gamma == 0.0 or self.kind == "uniform":
            return log_x
        rows, positions = (z == self.mask_id).nonzero(as_tuple=True)
        out = log_x.clone()
        out[rows, positions] = self.tilt_at(z, level, rows, positions, log_x[rows, positions])
        return out

    def _untilted_step(self, z_support, level, alpha_t, alpha_s, shape) -> torch.Tensor:
        x = shape(self.base.log_probs(self.support[z_support], level, None).double().exp()[..., self.support])
        return uniform_reverse(x, z_support, alpha_t, alpha_s)

    def reverse_step(self, z_support, level, alpha_t, alpha_s, shape) -> torch.Tensor:
        """Uniform models: the transition tilted by ``p(y | z^(l<-v))^gamma`` over every value ``v``."""
        step = self._untilted_step(z_support, level, alpha_t, alpha_s, shape)
        if self.gamma == 0.0:
            return step
        tilted = step.clamp_min(1e-300).log() + self.gamma * self._tilt(self.support[z_support], level)
        return tilted.softmax(-1)

    def draw_step(self, z_support, level, alpha_t, alpha_s, shape, streams: MoleculeStreams) -> torch.Tensor:
        """Uniform models: like :meth:`reverse_step`, but a *random* transition whose expectation is the
        tilted one: a point mass on each position's draw, by :func:`adaptive_rejection` (exact).

        Each position scores only the values it proposes: the current sequence once per row (staying
        is the likeliest move late in sampling), then one substitution per rejected proposal. Taylor,
        ``gamma = 0`` and mixed noise levels take :meth:`reverse_step`; so does a ``<bos>`` position,
        which the sampler resets.
        """
        if self.gamma == 0.0 or self.taylor or not bool((level == level[0]).all()):
            return self.reverse_step(z_support, level, alpha_t, alpha_s, shape)
        step = self._untilted_step(z_support, level, alpha_t, alpha_s, shape)
        tokens = self.support[z_support]
        batch, length, n = step.shape
        first = 0 if self.bos_id is None else 1
        rows = torch.arange(batch, device=step.device).repeat_interleave(length - first)
        positions = torch.arange(first, length, device=step.device).repeat(batch)

        def score(pairs: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
            variants = tokens[rows[pairs]].clone()
            variants[torch.arange(len(pairs), device=step.device), positions[pairs]] = self.support[values]
            scores, scored = _score_unique(self.classifier, variants, level[0])
            self.classifier_passes += scored
            return self.gamma * scores

        known = torch.full((len(rows), n), torch.nan, dtype=torch.float64, device=step.device)
        stay, scored = _score_unique(self.classifier, tokens, level[0])  # staying: the row itself
        self.classifier_passes += scored
        known[torch.arange(len(rows), device=step.device), z_support[rows, positions]] = self.gamma * stay[rows]
        chosen = adaptive_rejection(step[rows, positions], known, score, rows, streams)
        out = step.clone()
        out[rows, positions] = torch.nn.functional.one_hot(chosen, n).to(step.dtype)
        return out
