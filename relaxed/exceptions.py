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
    "InvalidExpression",
    "InvalidModifier",
    "InvalidMeasurement",
    "InvalidParameters",
    "InvalidDistribution",
    "InvalidData",
    "InvalidArgument",
    "InvalidPatch",
    "InvalidPatchSet",
    "InvalidPatchLookup",
    "PatchSetVerificationError",
    "FailedMinimization",
    "LimitNotBracketed",
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


class InvalidExpression(InvalidModel):
    """A generic expression (HS3 ``generic_function``/``generic_dist``) cannot be parsed or
    evaluated: a syntax error, an unknown function, a wrong number of arguments, or a name
    without a value.

    Attributes:
        expression: the expression's text.
        position: the 0-based offset of the problem in the text (``None`` when it is not
            about one place, e.g. a missing value at evaluation).

    Example:
        >>> from relaxed.unbinned.expressions import parse_expression
        >>> parse_expression("2 * (x + 1")
        Traceback (most recent call last):
        ...
        relaxed.exceptions.InvalidExpression: position 10 of '2 * (x + 1': expected ')', got the end
    """

    def __init__(self, message: str, expression: str = "", position: int | None = None) -> None:
        self.expression = expression
        self.position = position
        if position is not None:
            where = f"position {position} of {expression!r}: "
        elif expression:
            where = f"{expression!r}: "
        else:
            where = ""
        super().__init__(where + message)


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


class InvalidDistribution(InvalidParameters):
    """A distribution's parameter values or domain are outside their valid range: a width
    that is not > 0, a Crystal Ball tail exponent n <= 1 on an infinite side, a polynomial
    that is negative on the domain, a covariance that is not positive definite, an empty
    domain, or an infinite one over which the density does not integrate.

    Raised by the ``check`` of each :mod:`relaxed.distributions` distribution (for concrete
    numbers), naming the distribution, the field and the value.

    Attributes:
        distribution: the HS3 type, e.g. ``"gaussian_dist"``.
        field: the HS3 field at fault (``"sigma"``), or ``"domain"``.
        value: the offending value.

    Example:
        >>> from relaxed.distributions import gaussian_dist
        >>> gaussian_dist.check({"mean": 0.0, "sigma": -1.0}, -5.0, 5.0)
        Traceback (most recent call last):
        ...
        relaxed.exceptions.InvalidDistribution: gaussian_dist.sigma: must be finite and > 0, ...
    """

    def __init__(
        self, message: str, distribution: str = "", field: str = "", value: object = None
    ) -> None:
        self.distribution = distribution
        self.field = field
        self.value = value
        where = ".".join(part for part in (distribution, field) if part)
        super().__init__(f"{where}: {message}" if where else message)


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


class InvalidPatch(RelaxedError):
    """A JSON Patch does not apply to a workspace, or applying it leaves an invalid document.

    Raised for a malformed operation, a conflict (a path that does not exist, an insertion
    outside a list, a failed ``test``), or a patched document that no longer follows the
    HistFactory JSON schema.

    Attributes:
        patch: which patch failed, e.g. ``"patches[1] 'C1N2_Wh_hbb_500_0'"``.
        path: where: the failing operation (``"patches[1][0]"``) or, for an invalid result,
            the place in the patched document (``"channels[0].samples[2].data"``).
        operation: the failing JSON Patch operation (a dict), or ``None``.

    Example:
        >>> import relaxed
        >>> spec = {"channels": [{"name": "c", "samples": [{"name": "s", "data": [1.0, 2.0],
        ...     "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]}]}],
        ...     "observations": [{"name": "c", "data": [1.0, 2.0]}], "version": "1.0.0",
        ...     "measurements": [{"name": "m", "config": {"poi": "mu", "parameters": []}}]}
        >>> relaxed.Workspace(spec).model(patches=[[{"op": "remove", "path": "/channels/3"}]])
        Traceback (most recent call last):
        ...
        relaxed.exceptions.InvalidPatch: patches[0][0] (remove /channels/3): can't remove ...
    """

    def __init__(
        self, message: str, patch: str = "", path: str = "", operation: object = None
    ) -> None:
        self.patch = patch
        self.path = path
        self.operation = operation
        super().__init__(message)


class InvalidPatchSet(RelaxedError):
    """A patch set document does not follow pyhf's PatchSet format (version 1.0.0).

    Raised for a schema violation, two patches with the same name or the same values, or a
    patch whose number of values differs from the number of labels.

    Attributes:
        path: where in the document the problem is, e.g. ``"patches[3].metadata.values"``.

    Example:
        >>> import relaxed
        >>> relaxed.PatchSet({"metadata": {"description": "d", "digests": {"md5": "0" * 32},
        ...     "labels": ["x"], "references": {"hepdata": "ins1234567"}}, "version": "1.0.0",
        ...     "patches": [{"metadata": {"name": "a", "values": [1, 2]}, "patch": []}]})
        Traceback (most recent call last):
        ...
        relaxed.exceptions.InvalidPatchSet: patches[0].metadata.values: patch 'a' has 2 ...
    """

    def __init__(self, message: str, path: str = "") -> None:
        self.path = path
        super().__init__(f"{path}: {message}" if path else message)


class InvalidPatchLookup(RelaxedError, KeyError):
    """No patch of a patch set has the requested name or values.

    Also a :class:`KeyError`, so ``patchset.get``-style code that catches ``KeyError`` keeps
    working; the message is shown as written (not quoted as a plain ``KeyError`` would be).

    Attributes:
        key: the key that was looked up.

    Example:
        >>> import relaxed
        >>> patchset = relaxed.PatchSet({"metadata": {"description": "d", "labels": ["x"],
        ...     "digests": {"md5": "0" * 32}, "references": {"hepdata": "ins1234567"}},
        ...     "version": "1.0.0", "patches": [{"metadata": {"name": "a", "values": [1]},
        ...     "patch": []}]})
        >>> patchset["b"]
        Traceback (most recent call last):
        ...
        relaxed.exceptions.InvalidPatchLookup: no patch is named 'b'; the patch set has 1 patch: 'a'
    """

    def __init__(self, message: str, key: object = None) -> None:
        self.key = key
        super().__init__(message)

    __str__ = BaseException.__str__


class PatchSetVerificationError(RelaxedError):
    """A workspace's digest differs from the one a patch set was made for.

    The digest is the hash of the workspace's canonical JSON text (keys sorted), as in pyhf.

    Attributes:
        algorithm: the hash algorithm (``"sha256"`` or ``"md5"``).
        expected: the digest the patch set records.
        actual: the digest of the workspace.

    Example:
        >>> import relaxed
        >>> patchset = relaxed.PatchSet({"metadata": {"description": "d", "labels": ["x"],
        ...     "digests": {"sha256": "0" * 64}, "references": {"hepdata": "ins1234567"}},
        ...     "version": "1.0.0", "patches": [{"metadata": {"name": "a", "values": [1]},
        ...     "patch": []}]})
        >>> patchset.verify({"channels": []})
        Traceback (most recent call last):
        ...
        relaxed.exceptions.PatchSetVerificationError: the workspace's sha256 digest is ...
    """

    def __init__(
        self, message: str, algorithm: str = "", expected: str = "", actual: str = ""
    ) -> None:
        self.algorithm = algorithm
        self.expected = expected
        self.actual = actual
        super().__init__(message)


class FailedMinimization(RelaxedError):
    """A fit did not converge (as ``pyhf.exceptions.FailedMinimization``).

    Raised by the Python-level fits, hypothesis tests and limits when a concrete result's
    ``converged`` flag is false; inside ``jax.jit``/``vmap``/``grad`` nothing can be raised and
    the flag is returned instead (``return_result=True``, ``HypoTestResult.converged``).

    Attributes:
        result: the unconverged result (a ``FitResult`` or ``HypoTestResult``).

    Example:
        >>> import relaxed
        >>> from relaxed.infer import mle
        >>> model = relaxed.Model({"channels": [{"name": "c", "samples": [
        ...     {"name": "s", "data": [5.0],
        ...      "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]}]}]})
        >>> mle.fit([40.0], model, maxiter=1)
        Traceback (most recent call last):
        ...
        relaxed.exceptions.FailedMinimization: fit did not converge after 1 iterations ...
    """

    def __init__(self, message: str, result: object = None) -> None:
        self.result = result
        super().__init__(message)


class LimitNotBracketed(RelaxedError):
    """An upper limit is not inside the range that was searched: ``CLs = level`` is not
    crossed between the ends of a ``scan``, or not below the upper bound of the parameter of
    interest (root finding). No number is returned in that case: a clipped value would look
    like a limit.

    Attributes:
        which: the limits concerned, e.g. ``["observed", "expected +2 sigma"]``.
        low, high: the searched range.

    Example:
        >>> import relaxed
        >>> from relaxed.infer import upper_limit
        >>> model = relaxed.Model({"channels": [{"name": "SR", "samples": [
        ...     {"name": "sig", "data": [0.5],
        ...      "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]},
        ...     {"name": "bkg", "data": [50.0], "modifiers": []}]}]})
        >>> upper_limit([50.0], model)
        Traceback (most recent call last):
        ...
        relaxed.exceptions.LimitNotBracketed: the observed and all 5 expected upper limits ...
    """

    def __init__(
        self,
        message: str,
        which: list[str] | None = None,
        low: float = float("nan"),
        high: float = float("nan"),
    ) -> None:
        self.which = [] if which is None else list(which)
        self.low = low
        self.high = high
        super().__init__(message)
