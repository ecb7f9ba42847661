"""Errors raised for HS3 documents.

Both classes derive from :class:`relaxed.exceptions.RelaxedError` (itself a ``ValueError``),
so code that catches relaxed's errors catches these too. Every message starts with the JSON
path of the offending place in the HS3 document, e.g. ``distributions[0].samples[1].modifiers[0]``.
"""

from __future__ import annotations

from relaxed.exceptions import RelaxedError

__all__ = ["InvalidHS3", "HS3NotSupported"]


class InvalidHS3(RelaxedError):
    """An HS3 document is malformed or inconsistent.

    Raised at load time for a missing required field, an unknown distribution, data, domain
    or modifier type, a reference to a distribution or data set that does not exist, bin
    counts that disagree, or a parameter point or domain naming an unknown parameter.

    Attributes:
        path: where in the document the problem is, e.g. ``"likelihoods[0].data[1]"``.

    Example:
        >>> from relaxed.hs3 import load
        >>> load({"metadata": {"hs3_version": "0.2"},
        ...       "distributions": [{"name": "d", "type": "no_such_dist"}]})
        Traceback (most recent call last):
        ...
        relaxed.hs3.errors.InvalidHS3: distributions[0].type: unknown distribution type ...
    """

    def __init__(self, message: str, path: str = "") -> None:
        self.path = path
        super().__init__(f"{path}: {message}" if path else message)


class HS3NotSupported(InvalidHS3):
    """A valid HS3 document uses something relaxed cannot translate or build.

    :func:`relaxed.hs3.to_pyhf` raises it for what pyhf's JSON format cannot express (a
    ``LogNormal`` constraint, which models build, a distribution other than
    ``histfactory_dist``, unbinned data, an interpolation pyhf cannot use for that modifier
    type, ...);
    :meth:`relaxed.hs3.HS3Workspace.model` raises it, with "not supported yet" in the
    message, for everything its engine cannot build.

    Example:
        >>> issubclass(HS3NotSupported, InvalidHS3)
        True
    """
