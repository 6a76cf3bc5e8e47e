"""Named sampler presets: the ReMDM paper's QM9 settings (``docs/algorithms.md``).

Each preset fixes a guidance method, its target and the sampler settings the paper used for them.
Options given explicitly next to a preset override its sampler settings; a different guidance method
or target than the preset's is an error (the settings belong to that pair).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from moldiff.core.errors import MoldiffError
from moldiff.diffusion.samplers import SAMPLER_SPECIFIC


@dataclass(frozen=True)
class Preset:
    """A guidance method and target with the sampler settings (``SamplerOptions`` fields) used for them."""

    description: str
    guidance: str
    target: str
    sampler: dict[str, Any] = field(default_factory=dict)


PRESETS = {
    "paper-rings-cfg": Preset(
        "ring count, D-CFG: rescale eta 0.9 with confidence weighting and the loop window t_on 0.25, t_off 0.125",
        "cfg", "rings",
        dict(sampler="remdm-rescale", eta=0.9, confidence=True, loop_window=True, t_on=0.25, t_off=0.125),
    ),
    "paper-rings-cbg": Preset(
        "ring count, D-CBG: rescale eta 0.9 with confidence weighting",
        "cbg", "rings", dict(sampler="remdm-rescale", eta=0.9, confidence=True),
    ),
    "paper-qed-cfg": Preset(
        "QED, D-CFG: rescale eta 0.1 with confidence weighting, remasking from t = 0.1",
        "cfg", "qed", dict(sampler="remdm-rescale", eta=0.1, confidence=True, t_switch=0.1),
    ),
    "paper-qed-cbg": Preset(
        "QED, D-CBG: rescale eta 1.0 with confidence weighting, remasking from t = 0.5",
        "cbg", "qed", dict(sampler="remdm-rescale", eta=1.0, confidence=True, t_switch=0.5),
    ),
}


def get_preset(name: str) -> Preset:
    """The preset called ``name``; a clear error listing the presets otherwise."""
    try:
        return PRESETS[name]
    except KeyError:
        raise MoldiffError(f"unknown preset '{name}': choose one of {', '.join(PRESETS)}") from None


def apply_preset(name: str | None, given: dict[str, Any]) -> dict[str, Any]:
    """``given`` sampling options (None: not given) completed by preset ``name``'s guidance, target and
    sampler settings (:func:`preset_settings`); explicit sampler settings win, a different guidance or
    target is an error."""
    if name is None:
        return dict(given)
    preset = get_preset(name)
    guidance, target = given.get("guidance"), given.get("target")
    if guidance is not None and guidance != preset.guidance:
        raise MoldiffError(f"preset '{name}' is for --guidance {preset.guidance}, not {guidance}: drop --guidance or the preset")
    targets = [target] if isinstance(target, str) else target
    if targets is not None and [t.strip() for t in ",".join(targets).split(",") if t.strip()] != [preset.target]:
        raise MoldiffError(f"preset '{name}' is for --target {preset.target}, not {','.join(targets)}: drop --target or the preset")
    return {**preset_settings(preset, given.get("sampler")), "guidance": preset.guidance, "target": preset.target,
            **{k: v for k, v in given.items() if v is not None}}


def preset_settings(preset: Preset, sampler: str | None = None) -> dict[str, Any]:
    """A preset's sampler settings; with another ``sampler`` than the preset's, only those that carry
    over to it (the preset's remasking schedule settings do not: :data:`SAMPLER_SPECIFIC`)."""
    if sampler is None or sampler == preset.sampler.get("sampler"):
        return dict(preset.sampler)
    return {k: v for k, v in preset.sampler.items() if k not in (*SAMPLER_SPECIFIC, "sampler")}


def presets_help() -> str:
    """One line per preset, for ``--help`` and error messages."""
    return "; ".join(f"{name}: {p.description}" for name, p in PRESETS.items())
