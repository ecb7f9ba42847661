r"""Give patched model specifications one common structure, without changing any model.

The signal points of a published patch set usually differ in structure only trivially: a
point's signal sample is absent from a channel where its yield is zero, or it lacks a
``normsys``/``histosys`` systematic that other points carry. Compiled code depends on the
structure, so every such variant would compile again. :func:`align` adds the missing pieces
in their *neutral* form, which leaves every expected rate as it was (each added term is an
exact zero or factor one; only the order of a sum may change, which moves a rate by an ulp):

- a sample missing from a channel is added with zero yields; its modifiers are those of the
  same sample (the same role) in other points, in neutral form (a zero yield times any
  factor is zero);
- a ``normsys`` missing from a sample is added with :math:`\kappa^\pm = 1` (factor exactly 1
  for every interpolation code);
- a ``histosys`` missing from a sample is added with both templates equal to the nominal
  (shift exactly 0).

A neutral modifier may add a constrained nuisance parameter that no rate depends on: it stays
at its auxiliary value in every fit, so twice the negative log-likelihood changes by a
constant that cancels in every test statistic, and CLs and limits are unchanged.
Modifiers that cannot be neutral without changing the model (``normfactor`` or ``lumi`` whose
parameter the point does not have, ``shapefactor``, ``shapesys``, ``staterror``) are never
added; a point that would need one to match the others keeps its own structure.

Samples are matched by *role*: a sample of the background-only specification is its own role;
samples a patch adds are roles ``0, 1, ...`` in order of first appearance (their names, which
usually name the signal point, do not matter). ``shapesys`` modifiers are matched by their
position among the sample's ``shapesys`` modifiers (their names usually name the point too),
all others by type and name.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from relaxed.histfactory.modifiers import UNITS

__all__ = ["align"]

#: types with a neutral form (``ModifierUnit.neutral``): normsys and histosys
_NEUTRAL_TYPES = tuple(name for name, unit in UNITS.items() if unit.has_neutral)
_SHARED_FACTORS = ("normfactor", "lumi")


def _roles(base: Mapping[str, Any], spec: Mapping[str, Any]) -> dict[str, Any]:
    """Sample name -> role for one patched specification."""
    known = {s["name"] for c in base["channels"] for s in c["samples"]}
    roles: dict[str, Any] = {}
    for channel in spec["channels"]:
        for sample in channel["samples"]:
            name = sample["name"]
            if name not in roles:
                roles[name] = ("bkg", name) if name in known else ("new", len(roles))
    new = [n for n, r in roles.items() if r[0] == "new"]
    return {n: (r if r[0] == "bkg" else ("new", new.index(n))) for n, r in roles.items()}


def _modifier_keys(modifiers: Sequence[Mapping[str, Any]]) -> list[tuple[str, Any]]:
    """(type, name) of each modifier; (type, position among its type) for a type whose names
    are never shared (``ModifierUnit.shareable``: shapesys), as those name the point."""
    keys: list[tuple[str, Any]] = []
    counts: dict[str, int] = {}
    for m in modifiers:
        unit = UNITS.get(m["type"])  # an unknown type is left to the builder to name
        if unit is not None and not unit.shareable:
            keys.append((m["type"], counts.get(m["type"], 0)))
            counts[m["type"]] = counts.get(m["type"], 0) + 1
        else:
            keys.append((m["type"], m["name"]))
    return keys


def _neutral(template: Mapping[str, Any], nominal: Sequence[float]) -> dict[str, Any]:
    unit = UNITS[template["type"]]
    return unit.pyhf_entry(template["name"], unit.neutral(nominal))


def _parameter_names(spec: Mapping[str, Any]) -> set[str]:
    return {m["name"] for c in spec["channels"] for s in c["samples"] for m in s["modifiers"]}


def _align_group(base: Mapping[str, Any], specs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Specifications with identical channel lists: one union structure for all."""
    roles = [_roles(base, spec) for spec in specs]
    # per channel: role -> (ordered modifier keys -> template modifier), first position seen
    union: list[dict[Any, dict[tuple[str, Any], Mapping[str, Any]]]] = []
    order: list[list[Any]] = []
    for c in range(len(specs[0]["channels"])):
        per_role: dict[Any, dict[tuple[str, Any], Mapping[str, Any]]] = {}
        role_order: list[Any] = []
        for spec, role_of in zip(specs, roles, strict=True):
            for sample in spec["channels"][c]["samples"]:
                role = role_of[sample["name"]]
                if role not in per_role:
                    per_role[role] = {}
                    role_order.append(role)
                keys = _modifier_keys(sample["modifiers"])
                for key, modifier in zip(keys, sample["modifiers"], strict=True):
                    per_role[role].setdefault(key, modifier)
        union.append(per_role)
        order.append(role_order)

    aligned = []
    for spec, role_of in zip(specs, roles, strict=True):
        names = {role: name for name, role in role_of.items()}
        parameters = _parameter_names(spec)
        new_spec = dict(spec)
        channels = []
        for c, channel in enumerate(spec["channels"]):
            nbins = len(channel["samples"][0]["data"]) if channel["samples"] else 0
            present = {role_of[s["name"]]: s for s in channel["samples"]}
            samples = []
            for role in order[c]:
                template = union[c][role]
                sample = present.get(role)
                if sample is None:
                    sample = _zero_sample(role, names, template, nbins, parameters)
                    if sample is None:
                        continue
                else:
                    sample = _complete_sample(sample, template)
                samples.append(sample)
            channels.append({**channel, "samples": samples})
        new_spec["channels"] = channels
        aligned.append(new_spec)
    return aligned


def _zero_sample(
    role: Any,
    names: Mapping[Any, str],
    template: Mapping[tuple[str, Any], Mapping[str, Any]],
    nbins: int,
    parameters: set[str],
) -> dict[str, Any] | None:
    """A zero-yield sample of ``role`` with the template's modifiers that can be added
    without a new free parameter or a new constraint on a rate; None if the point has no
    sample of this role anywhere (nothing to name it by)."""
    if role not in names or nbins == 0:
        return None
    modifiers = []
    for (mtype, _), modifier in template.items():
        if mtype in _NEUTRAL_TYPES:
            modifiers.append(_neutral(modifier, [0.0] * nbins))
        elif mtype in _SHARED_FACTORS and modifier["name"] in parameters:
            modifiers.append({"name": modifier["name"], "type": mtype, "data": None})
    return {"name": names[role], "data": [0.0] * nbins, "modifiers": modifiers}


def _complete_sample(
    sample: Mapping[str, Any], template: Mapping[tuple[str, Any], Mapping[str, Any]]
) -> Mapping[str, Any]:
    """``sample`` with its modifiers in the union order and neutral ones added where possible."""
    own = dict(zip(_modifier_keys(sample["modifiers"]), sample["modifiers"], strict=True))
    if list(own) == list(template):
        return sample
    modifiers = []
    for key, modifier in template.items():
        if key in own:
            modifiers.append(own[key])
        elif key[0] in _NEUTRAL_TYPES:
            modifiers.append(_neutral(modifier, sample["data"]))
    # a modifier the union order does not know cannot happen (the union holds them all)
    return {**sample, "modifiers": modifiers}


def align(base: Mapping[str, Any], specs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    r"""The patched model specifications ``specs`` (of the background-only specification
    ``base``) with neutral samples and modifiers added so that as many as possible share one
    structure; every expected rate is unchanged (see the module docstring).

    Specifications with different channel lists are aligned separately. The inputs are not
    modified.

    Example:
        >>> base = {"channels": [{"name": "A", "samples": [{"name": "bkg", "data": [5.0],
        ...     "modifiers": []}]}, {"name": "B", "samples": [{"name": "bkg", "data": [7.0],
        ...     "modifiers": []}]}]}
        >>> mu = {"name": "mu", "type": "normfactor", "data": None}
        >>> p1 = copy.deepcopy(base)
        >>> for c in p1["channels"]:
        ...     c["samples"].append({"name": "sig_1", "data": [1.0], "modifiers": [mu]})
        >>> p2 = copy.deepcopy(base)
        >>> p2["channels"][0]["samples"].append({"name": "sig_2", "data": [2.0],
        ...     "modifiers": [mu]})
        >>> a1, a2 = align(base, [p1, p2])
        >>> added = a2["channels"][1]["samples"][1]
        >>> added["name"], added["data"], [m["name"] for m in added["modifiers"]]
        ('sig_2', [0.0], ['mu'])
    """
    groups: dict[tuple[str, ...], list[int]] = {}
    for i, spec in enumerate(specs):
        groups.setdefault(tuple(c["name"] for c in spec["channels"]), []).append(i)
    result: list[dict[str, Any]] = [{} for _ in specs]
    for indices in groups.values():
        members = [copy.copy(dict(specs[i])) for i in indices]
        for i, spec in zip(indices, _align_group(base, members), strict=True):
            result[i] = spec
    return result
