"""The transformer backbone: presets, attention direction, conditioning, one-hot inputs."""

from __future__ import annotations

import pytest
import torch

from moldiff.core.errors import MoldiffError
from moldiff.diffusion.networks import PRESETS, NetworkConfig, Transformer

VOCAB, LENGTH = 12, 10


def _network(**overrides) -> Transformer:
    config = NetworkConfig.from_preset("tiny", **{"vocab_size": VOCAB, "max_length": LENGTH, "out_dim": VOCAB, **overrides})
    torch.manual_seed(0)
    network = Transformer(config)
    with torch.no_grad():  # adaLN-Zero and the zero output layer hide everything at init: randomise
        for name, param in network.named_parameters():
            if "ada" in name or name.startswith("out."):
                param.normal_(0, 0.2)
    return network.eval()


def _tokens(batch: int = 3) -> torch.Tensor:
    return torch.randint(VOCAB, (batch, LENGTH), generator=torch.Generator().manual_seed(1))


def test_cpu_presets_are_well_under_a_million_parameters():
    for preset in ("tiny", "compact"):
        network = Transformer(NetworkConfig.from_preset(preset, vocab_size=34, max_length=32, out_dim=34, label_classes=[2, 2]))
        assert network.num_parameters() < 1_000_000
    assert set(PRESETS) == {"tiny", "compact", "medium", "small", "base"}


def test_base_preset_is_about_the_papers_size():
    config = NetworkConfig.from_preset("base", vocab_size=34, max_length=32, out_dim=34)
    with torch.device("meta"):
        network = Transformer(config)
    assert 80e6 < network.num_parameters() < 130e6


def test_causal_network_does_not_see_the_future():
    network = _network(causal=True)
    x = _tokens()
    changed = x.clone()
    changed[:, 6:] = (changed[:, 6:] + 1) % VOCAB
    with torch.no_grad():
        a, b = network(x), network(changed)
    assert torch.allclose(a[:, :6], b[:, :6], atol=1e-6)
    assert not torch.allclose(a[:, 6:], b[:, 6:], atol=1e-4)


def test_bidirectional_network_sees_the_whole_sequence():
    network = _network()
    x = _tokens()
    changed = x.clone()
    changed[:, -1] = (changed[:, -1] + 1) % VOCAB
    with torch.no_grad():
        assert not torch.allclose(network(x)[:, 0], network(changed)[:, 0], atol=1e-5)


def test_one_hot_input_equals_token_input_and_has_gradients():
    network = _network()
    x = _tokens()
    one_hot = torch.nn.functional.one_hot(x, VOCAB).float().requires_grad_(True)
    out = network(one_hot)
    assert torch.allclose(out, network(x), atol=1e-5)
    out.sum().backward()
    assert one_hot.grad is not None and one_hot.grad.abs().sum() > 0


def test_labels_condition_the_output_and_none_means_null():
    network = _network(label_classes=[2, 2])
    x = _tokens(2)
    null = torch.tensor([[2, 2], [2, 2]])
    with torch.no_grad():
        assert torch.allclose(network(x), network(x, labels=null))
        assert not torch.allclose(network(x, labels=torch.tensor([[1, 0], [1, 0]])), network(x, labels=null), atol=1e-5)


def test_time_conditioned_network_needs_the_noise_level():
    network = _network(time_conditioning=True)
    x = _tokens(2)
    with pytest.raises(ValueError, match="noise level"):
        network(x)
    with torch.no_grad():
        assert not torch.allclose(network(x, torch.tensor([0.1, 0.1])), network(x, torch.tensor([0.9, 0.9])), atol=1e-5)


def test_pooled_head_gives_one_prediction_per_sequence():
    network = _network(head="pooled", out_dim=2)
    assert network(_tokens(4)).shape == (4, 2)


def test_bad_architecture_is_a_clear_error():
    with pytest.raises(MoldiffError, match="heads"):
        NetworkConfig(vocab_size=5, max_length=4, out_dim=5, hidden=30, heads=4)
    with pytest.raises(MoldiffError, match="preset"):
        NetworkConfig.from_preset("huge", vocab_size=5, max_length=4, out_dim=5)
