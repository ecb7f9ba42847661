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
    """Base class of every error relaxed raises for bad input."""


class InvalidSpecification(RelaxedError):
    """A workspace or model specification does not follow the HistFactory JSON schema.

    Attributes:
        path: where in the JSON document the problem is, e.g. ``"channels[0].samples[1].data"``.
    """

    def __init__(self, message: str, path: str = "") -> None:
        self.path = path
        super().__init__(f"{path}: {message}" if path else message)


class InvalidModel(RelaxedError):
    """The specification follows the schema but does not describe a consistent model.

    For example bin counts that disagree, an unknown parameter of interest, or incompatible
    shared modifiers.
    """


class InvalidModifier(InvalidModel):
    """A modifier's type, data or settings are invalid (unknown type, negative uncertainty,
    data of the wrong length, unsupported interpolation code)."""


class InvalidMeasurement(RelaxedError):
    """A measurement name is unknown, or its parameter configuration is inconsistent."""


class InvalidParameters(RelaxedError):
    """A parameter vector has the wrong length or shape for the model."""


class InvalidData(RelaxedError):
    """Observed data have the wrong length or are missing for a channel."""


class InvalidArgument(RelaxedError):
    """An argument of a differentiable operation is invalid (a non-positive bandwidth, bin edges
    that are not finite and strictly increasing, an unknown option)."""
