"""The transformer backbone shared by every model kind.

One module serves the diffusion denoisers (bidirectional attention), the autoregressive model
(causal attention) and the guidance classifiers (a pooled or per-position class head):

- token embedding that also accepts one-hot (or any soft) inputs ``[B, L, V]``, so a classifier's
  gradient with respect to its input exists (first-order D-CBG);
- rotary position embeddings, attention through ``F.scaled_dot_product_attention``;
- adaLN-Zero conditioning on one vector built from an optional noise-level embedding and one label
  embedding per guidance target (each with an extra *null* class, used for classifier-free
  guidance), summed.

Time-conditioned networks take the noise level ``1 - alpha_t`` in [0, 1], not the sampler's
clock, so any noise schedule (including ReMDM's loop) can drive them.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from moldiff.core.errors import MoldiffError

#: Size presets: hidden width, layers, attention heads.
PRESETS: dict[str, dict[str, int]] = {
    "tiny": {"hidden": 64, "layers": 2, "heads": 4},
    "compact": {"hidden": 64, "layers": 4, "heads": 4, "cond_dim": 64},
    "medium": {"hidden": 128, "layers": 4, "heads": 4, "cond_dim": 128},
    "small": {"hidden": 256, "layers": 6, "heads": 8},
    "base": {"hidden": 768, "layers": 12, "heads": 12},
}
HEADS = ("positions", "pooled")


@dataclass
class NetworkConfig:
    """Architecture of a :class:`Transformer`.

    ``label_classes[i]`` is the number of classes of target ``i`` (index ``label_classes[i]`` is its
    null class). ``head`` is ``positions`` (``[B, L, out_dim]``) or ``pooled`` (``[B, out_dim]``).
    """

    vocab_size: int
    max_length: int
    out_dim: int
    hidden: int = 256
    layers: int = 6
    heads: int = 8
    mlp_ratio: int = 4
    cond_dim: int = 128
    dropout: float = 0.0
    causal: bool = False
    time_conditioning: bool = False
    label_classes: list[int] = field(default_factory=list)
    head: str = "positions"

    def __post_init__(self) -> None:
        if self.hidden % self.heads or (self.hidden // self.heads) % 2:
            raise MoldiffError(f"hidden size {self.hidden} must split into {self.heads} heads of even width")
        if self.head not in HEADS:
            raise MoldiffError(f"unknown head '{self.head}': choose one of {', '.join(HEADS)}")

    @classmethod
    def from_preset(cls, preset: str, **kwargs: Any) -> "NetworkConfig":
        """A configuration from a size preset (``tiny``, ``small``, ``base``) plus the task's fields."""
        if preset not in PRESETS:
            raise MoldiffError(f"unknown preset '{preset}': choose one of {', '.join(PRESETS)}")
        return cls(**{**PRESETS[preset], **kwargs})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Rotary(nn.Module):
    """Rotary position embedding tables for ``max_length`` positions."""

    def __init__(self, head_dim: int, max_length: int, base: float = 10_000.0) -> None:
        super().__init__()
        inv_freq = 1.0 / base ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)
        angles = torch.outer(torch.arange(max_length, dtype=torch.float32), inv_freq)
        self.register_buffer("cos", angles.cos(), persistent=False)
        self.register_buffer("sin", angles.sin(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Rotate ``x`` of shape ``[B, heads, L, head_dim]``."""
        length = x.shape[-2]
        cos, sin = self.cos[:length].to(x.dtype), self.sin[:length].to(x.dtype)
        x1, x2 = x[..., 0::2], x[..., 1::2]
        rotated = torch.stack((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1)
        return rotated.flatten(-2)


def _modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return x * (1 + scale[:, None]) + shift[:, None]


class Block(nn.Module):
    """Pre-norm transformer block with adaLN-Zero modulation."""

    def __init__(self, config: NetworkConfig, rotary: Rotary) -> None:
        super().__init__()
        self.heads = config.heads
        self.causal = config.causal
        self.dropout = config.dropout
        self.rotary = rotary
        self.norm1 = nn.LayerNorm(config.hidden, elementwise_affine=False)
        self.qkv = nn.Linear(config.hidden, 3 * config.hidden, bias=False)
        self.proj = nn.Linear(config.hidden, config.hidden)
        self.norm2 = nn.LayerNorm(config.hidden, elementwise_affine=False)
        self.mlp = nn.Sequential(
            nn.Linear(config.hidden, config.mlp_ratio * config.hidden),
            nn.GELU(approximate="tanh"),
            nn.Linear(config.mlp_ratio * config.hidden, config.hidden),
        )
        self.ada = nn.Linear(config.cond_dim, 6 * config.hidden)
        nn.init.zeros_(self.ada.weight)
        nn.init.zeros_(self.ada.bias)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        shift1, scale1, gate1, shift2, scale2, gate2 = self.ada(cond).chunk(6, dim=-1)
        batch, length, hidden = x.shape
        q, k, v = (
            self.qkv(_modulate(self.norm1(x), shift1, scale1))
            .view(batch, length, 3, self.heads, hidden // self.heads)
            .permute(2, 0, 3, 1, 4)
        )
        attended = F.scaled_dot_product_attention(
            self.rotary(q), self.rotary(k), v,
            is_causal=self.causal, dropout_p=self.dropout if self.training else 0.0,
        )
        attended = attended.transpose(1, 2).reshape(batch, length, hidden)
        x = x + gate1[:, None] * F.dropout(self.proj(attended), self.dropout, self.training)
        h = self.mlp(_modulate(self.norm2(x), shift2, scale2))
        return x + gate2[:, None] * F.dropout(h, self.dropout, self.training)


class NoiseLevelEmbedding(nn.Module):
    """Sinusoidal features of the noise level in [0, 1], then an MLP."""

    def __init__(self, dim: int, frequencies: int = 128) -> None:
        super().__init__()
        self.frequencies = frequencies
        self.mlp = nn.Sequential(nn.Linear(frequencies, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, level: torch.Tensor) -> torch.Tensor:
        half = self.frequencies // 2
        freqs = torch.exp(-math.log(10_000.0) * torch.arange(half, device=level.device, dtype=torch.float32) / half)
        args = 1000.0 * level.float()[:, None] * freqs[None]
        return self.mlp(torch.cat([args.cos(), args.sin()], dim=-1))


class Transformer(nn.Module):
    """Transformer over token sequences; see the module docstring."""

    def __init__(self, config: NetworkConfig) -> None:
        super().__init__()
        self.config = config
        self.embed = nn.Embedding(config.vocab_size, config.hidden)
        rotary = Rotary(config.hidden // config.heads, config.max_length)
        self.blocks = nn.ModuleList(Block(config, rotary) for _ in range(config.layers))
        self.time_embed = NoiseLevelEmbedding(config.cond_dim) if config.time_conditioning else None
        self.label_embeds = nn.ModuleList(nn.Embedding(n + 1, config.cond_dim) for n in config.label_classes)
        self.final_norm = nn.LayerNorm(config.hidden, elementwise_affine=False)
        self.final_ada = nn.Linear(config.cond_dim, 2 * config.hidden)
        self.out = nn.Linear(config.hidden, config.out_dim)
        for layer in (self.final_ada, self.out):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    @property
    def null_labels(self) -> list[int]:
        """The null-class index of each target (its number of classes)."""
        return list(self.config.label_classes)

    def condition(self, batch: int, device: torch.device, level: torch.Tensor | None, labels: torch.Tensor | None) -> torch.Tensor:
        """The conditioning vector ``[B, cond_dim]`` from the noise level and target labels."""
        cond = torch.zeros(batch, self.config.cond_dim, device=device)
        if self.time_embed is not None:
            if level is None:
                raise ValueError("this network is time-conditioned: pass the noise level")
            cond = cond + self.time_embed(level.expand(batch) if level.dim() == 0 else level)
        if self.label_embeds:
            if labels is None:
                labels = torch.tensor(self.null_labels, device=device).expand(batch, -1)
            for i, embed in enumerate(self.label_embeds):
                cond = cond + embed(labels[:, i])
        return F.silu(cond)

    def forward(
        self,
        x: torch.Tensor,
        level: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Logits for token ids ``x`` ``[B, L]`` (or soft one-hot inputs ``[B, L, V]``).

        ``level``: noise level ``[B]`` (time-conditioned networks only); ``labels``: ``[B, targets]``
        class indices, the null class (or ``None`` for all null) meaning unconditional.
        """
        h = self.embed(x) if x.dtype == torch.long else x.to(self.embed.weight.dtype) @ self.embed.weight
        cond = self.condition(h.shape[0], h.device, level, labels)
        for block in self.blocks:
            h = block(h, cond)
        shift, scale = self.final_ada(cond).chunk(2, dim=-1)
        h = _modulate(self.final_norm(h), shift, scale)
        if self.config.head == "pooled":
            h = h.mean(dim=1)
        return self.out(h)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
