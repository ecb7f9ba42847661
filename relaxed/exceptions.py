"""Exceptions raised by relaxed.

Every error raised for bad input says what is wrong and where: the JSON path in the
specification (``channels[0].samples[1].modifiers[2]``), or the channel, sample,
modifier or parameter name.  All of them derive from :class:`RelaxedError`, itself a
:class:`ValueError`, so ``except ValueError`` keeps working for callers that do not care.
"""

from __future__ import annotations

__all__ = [
    "RelaxedError",
    "InvalidSpecification",
    "InvalidModel",
    "InvalidModifier",
    "InvalidMeasurement",
    "InvalidParameters",
    "InvalidData",
    "InvalidArgument",
]


class RelaxedError(ValueError):
    """Base class of every error relaxed raises for bad input.

    Example:
        >>> import relaxed
        >>> from relaxed.exceptions import InvalidData
        >>> issubclass(InvalidData, RelaxedError), issubclass(RelaxedError, ValueError)
        (True, True)
    """


class InvalidSpecification(RelaxedError):
    """A workspace or model specification does not follow the HistFactory JSON schema.

    Attributes:
        path: where in the JSON document the problem is, e.g. ``"channels[0].samples[1].data"``.

    Example:
        >>> import relaxed
        >>> relaxed.Model({"channels": [{"name": "c", "samples": [
        ...     {"name": "s", "modifiers": []}]}]})
        Traceback (most recent call last):
        ...
        relaxed.exceptions.InvalidSpecification: channels[0].samples[0]: missing required key: ...
    """

    def __init__(self, message: str, path: str = "") -> None:
        self.path = path
        super().__init__(f"{path}: {message}" if path else message)


class InvalidModel(RelaxedError):
    """The specification follows the schema but does not describe a consistent model.

    For example bin counts that disagree, an unknown parameter of interest, or incompatible
    shared modifiers.

    Example:
        >>> import relaxed
        >>> spec = {"channels": [{"name": "c", "samples": [{"name": "s", "data": [1.0, 2.0],
        ...     "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]}]}]}
        >>> relaxed.Model(spec, poi_name="xsec")
        Traceback (most recent call last):
        ...
        relaxed.exceptions.InvalidModel: the parameter of interest 'xsec' is not a parameter of ...
    """


class InvalidModifier(InvalidModel):
    """A modifier's type, data or settings are invalid (unknown type, negative uncertainty,
    data of the wrong length, unsupported interpolation code).

    Example:
        >>> import relaxed
        >>> spec = {"channels": [{"name": "c", "samples": [{"name": "s", "data": [1.0, 2.0],
        ...     "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]}]}]}
        >>> spec["channels"][0]["samples"][0]["modifiers"].append(
        ...     {"name": "u", "type": "shapesys", "data": [1.0, -1.0]})
        >>> relaxed.Model(spec)
        Traceback (most recent call last):
        ...
        relaxed.exceptions.InvalidModifier: channels[0].samples[0].modifiers[1].data[1]: ...
    """


class InvalidMeasurement(RelaxedError):
    """A measurement name is unknown, or its parameter configuration is inconsistent.

    Example:
        >>> import relaxed
        >>> spec = {"channels": [{"name": "c", "samples": [{"name": "s", "data": [1.0, 2.0],
        ...     "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]}]}]}
        >>> spec.update(observations=[{"name": "c", "data": [1.0, 2.0]}], version="1.0.0",
        ...     measurements=[{"name": "m", "config": {"poi": "mu", "parameters": []}}])
        >>> relaxed.Workspace(spec).model(measurement_name="other")
        Traceback (most recent call last):
        ...
        relaxed.exceptions.InvalidMeasurement: unknown measurement 'other'; the workspace has ['m']
    """


class InvalidParameters(RelaxedError):
    """A parameter vector has the wrong length or shape for the model.

    Example:
        >>> import relaxed
        >>> model = relaxed.Model({"channels": [{"name": "c", "samples": [
        ...     {"name": "s", "data": [1.0, 2.0],
        ...      "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]}]}]})
        >>> model.logpdf([1.0, 2.0], [1.0, 2.0])
        Traceback (most recent call last):
        ...
        relaxed.exceptions.InvalidParameters: expected a parameter vector of length 1 (or a ...
    """


class InvalidData(RelaxedError):
    """Observed data have the wrong length or are missing for a channel.

    Example:
        >>> import relaxed
        >>> model = relaxed.Model({"channels": [{"name": "c", "samples": [
        ...     {"name": "s", "data": [1.0, 2.0],
        ...      "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]}]}]})
        >>> model.logpdf([1.0], [1.0])
        Traceback (most recent call last):
        ...
        relaxed.exceptions.InvalidData: expected data of length 2 (main bins + auxiliary data: ...
    """


class InvalidArgument(RelaxedError):
    """An argument of a differentiable operation is invalid (a non-positive bandwidth, bin edges
    that are not finite and strictly increasing, an unknown option).

    Example:
        >>> import relaxed
        >>> relaxed.hist([0.5], [0.0, 1.0], bandwidth=0.0)
        Traceback (most recent call last):
        ...
        relaxed.exceptions.InvalidArgument: bandwidth must be finite and > 0, got 0.0
    """
