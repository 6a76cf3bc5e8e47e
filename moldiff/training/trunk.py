"""A guidance classifier's trunk started from a trained denoiser (``train-classifier --trunk-from``).

A noisy-input classifier and a masked or uniform denoiser of the same preset share their token
embedding and transformer blocks; only the conditioning (noise level for the classifier, labels for
a conditional denoiser) and the output head differ. The denoiser has learnt what a partly noised
sequence can become, which is what a classifier of ``p(y | z_t)`` needs at high noise and what a
few thousand classifier steps on a CPU do not teach. The transfer copies the shared weights and
starts the classifier's noise-level embedding so that, before any training, its conditioning
vector equals the denoiser's unconditional one at every noise level; the class head starts fresh.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from moldiff.core.errors import MoldiffError
from moldiff.store.modelfile import read_model

if TYPE_CHECKING:
    from moldiff.chemistry.tokenizers import Tokenizer
    from moldiff.diffusion.networks import Transformer

#: Network fields that must agree for the trunk to fit.
TRUNK_FIELDS = ("vocab_size", "max_length", "hidden", "layers", "heads", "mlp_ratio", "cond_dim")
#: The denoiser kind whose noising process a classifier of each process sees.
DENOISER_OF = {"mask": "mdlm", "uniform": "udlm"}
#: Top-level modules copied from the denoiser.
TRUNK_MODULES = ("embed", "blocks", "final_ada")


def transfer_trunk(classifier: Transformer, process: str, source: str, tokenizer: Tokenizer) -> None:
    """Copy the token embedding, blocks and final modulation of the denoiser ``source`` (a model name
    or directory) into ``classifier``, with its noise-level embedding set to reproduce the denoiser's
    unconditional conditioning; a one-line error if ``source`` is not a denoiser that fits."""

    model = read_model(source)
    kind = model.config["kind"]
    theirs, ours = model.network.config, classifier.config
    if kind != DENOISER_OF[process]:
        raise MoldiffError(f"--trunk-from {source}: it is a {kind} model; a {process} classifier starts from a "
                           f"{DENOISER_OF[process]} denoiser of the same representation and preset")
    differ = [f"{k} {getattr(theirs, k)} -> {getattr(ours, k)}" for k in TRUNK_FIELDS if getattr(theirs, k) != getattr(ours, k)]
    if list(model.tokenizer.tokens) != list(tokenizer.tokens):
        differ.append("another vocabulary")
    if differ:
        raise MoldiffError(f"--trunk-from {source}: its network does not fit this classifier ({', '.join(differ)}); "
                           f"use the denoiser's preset and representation")
    state = {k: v.float() for k, v in model.network.state_dict().items() if k.split(".")[0] in TRUNK_MODULES}
    missing, unexpected = classifier.load_state_dict(state, strict=False)
    assert not unexpected and all(k.split(".")[0] not in TRUNK_MODULES for k in missing), (missing, unexpected)
    with torch.no_grad():
        null = torch.zeros(ours.cond_dim)
        for embed, index in zip(model.network.label_embeds, model.network.null_labels):
            null += embed.weight[index].float()
        last = classifier.time_embed.mlp[-1]
        if model.network.time_embed is not None:  # a uniform denoiser: its own noise-level embedding
            classifier.time_embed.load_state_dict({k: v.float() for k, v in model.network.time_embed.state_dict().items()})
        else:  # a masked denoiser ignores the noise level: start from a constant
            last.weight.zero_()
            last.bias.zero_()
        last.bias += null
