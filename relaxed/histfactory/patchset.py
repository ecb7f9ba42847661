"""Patches and patch sets: signal hypotheses written as JSON Patch documents on a workspace.

Published likelihoods (HEPData) ship one background-only workspace and a *patch set*: for each
signal point a JSON Patch (RFC 6902) that adds the signal samples to the workspace. The format
is pyhf's (PatchSet version 1.0.0)::

    {"metadata": {"description": ..., "digests": {"sha256": ...}, "labels": ["m1", "m2"],
                  "references": {"hepdata": "ins1755298"}},
     "patches": [{"metadata": {"name": "C1N2_Wh_hbb_500_0", "values": [500, 0]},
                  "patch": [{"op": "add", "path": "/channels/0/samples/1", "value": {...}}]},
                 ...],
     "version": "1.0.0"}

The digest identifies the background-only workspace a patch set was made for: the hash of the
workspace's canonical JSON text (:func:`digest`), checked by :meth:`PatchSet.verify`. Patches are
applied with the ``jsonpatch`` library to a copy of the document; the workspace a patch is applied
to never changes.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

import jsonpatch
import jsonpointer
import jsonschema

from relaxed.exceptions import (
    InvalidArgument,
    InvalidPatch,
    InvalidPatchLookup,
    InvalidPatchSet,
    PatchSetVerificationError,
)

if TYPE_CHECKING:
    from relaxed.histfactory.workspace import Workspace

__all__ = ["PATCHSET_VERSION", "Patch", "PatchSet", "apply_patch", "digest"]

#: The version of the PatchSet format read here.
PATCHSET_VERSION = "1.0.0"

_OPERATIONS = ("add", "remove", "replace", "move", "copy", "test")
_MAX_REASON = 240


# -- digests -------------------------------------------------------------------------------
def digest(document: Any, algorithm: str = "sha256") -> str:
    """The hex digest of ``document``'s canonical JSON text, as pyhf computes it.

    The text is ``json.dumps(document, sort_keys=True, ensure_ascii=False)`` (default
    separators) encoded as UTF-8, and the digest is ``hashlib``'s ``algorithm`` of it. Key order
    does not matter; numbers are written as Python writes them (``1`` and ``1.0`` differ).

    Args:
        document: a JSON-serialisable object (usually a workspace document).
        algorithm: a :mod:`hashlib` algorithm name (patch sets use ``"sha256"`` or ``"md5"``).

    Raises:
        relaxed.exceptions.InvalidArgument: the document is not JSON-serialisable or the
            algorithm is unknown.

    Example:
        >>> digest({"b": [1.0, 2], "a": "x"}) == digest({"a": "x", "b": [1.0, 2]})
        True
        >>> digest({"a": 1}, algorithm="md5")
        '42b7b4f2921788ea14dac5566e6f06d0'
    """
    try:
        text = json.dumps(document, sort_keys=True, ensure_ascii=False)
    except (TypeError, ValueError) as err:
        raise InvalidArgument(f"cannot compute a digest: the document is not JSON: {err}") from err
    try:
        hasher = hashlib.new(algorithm)
    except (ValueError, TypeError) as err:
        raise InvalidArgument(
            f"unknown hash algorithm {algorithm!r}; hashlib offers "
            f"{sorted(hashlib.algorithms_guaranteed)}"
        ) from err
    hasher.update(text.encode("utf-8"))
    return hasher.hexdigest()


# -- the PatchSet schema ---------------------------------------------------------------------
@cache
def _schema_document() -> dict[str, Any]:
    package = "relaxed.histfactory.schema"
    text = resources.files(package).joinpath(f"patchset-{PATCHSET_VERSION}.json").read_text()
    return json.loads(text)


@cache
def _validator(definition: str | None) -> jsonschema.protocols.Validator:
    document = _schema_document()
    if definition is None:
        schema = document
    else:
        schema = {
            "$schema": document["$schema"],
            "$defs": document["$defs"],
            "$ref": f"#/$defs/{definition}",
        }
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema)  # the document itself is checked by the tests


def _join_path(prefix: str, parts: Sequence[Any]) -> str:
    out = prefix
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _shorten(text: str, limit: int = _MAX_REASON) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _schema_message(error: jsonschema.ValidationError) -> str:
    last = list(error.absolute_path)[-1:]
    instance = _shorten(repr(error.instance), 80)
    if error.validator == "required":
        return f"missing required key: {error.message.split(' is a required')[0]}"
    if error.validator == "additionalProperties":
        return _shorten(f"unexpected key ({error.message})")
    if error.validator == "const" and last == ["version"]:
        return (
            f"unsupported version {instance}; this is the PatchSet format version "
            f"{PATCHSET_VERSION}"
        )
    if error.validator == "enum" and last == ["op"]:
        return f"unknown operation {instance}; the operations are " + ", ".join(_OPERATIONS)
    if error.validator == "pattern":
        if last in (["md5"], ["sha256"]):
            return f"{instance} is not a hexadecimal {last[0]} digest"
        if last == ["hepdata"]:
            return f"{instance} is not a HEPData record id ('ins' and 7 digits)"
        return f"{instance} is not a valid name (letters, digits and underscores only)"
    if error.validator == "minItems" and last == ["patches"]:
        return "a patch set needs at least one patch"
    if error.validator == "minItems" and last == ["labels"]:
        return "a patch set needs at least one label"
    if error.validator == "minProperties":
        return f"{instance} must not be empty"
    return _shorten(error.message)


def _validate(document: Any, definition: str | None, prefix: str = "") -> None:
    """Raise :class:`InvalidPatchSet` naming the deepest schema violation of ``document``."""
    errors = list(_validator(definition).iter_errors(document))
    if errors:
        error = min(errors, key=lambda e: -len(e.absolute_path))
        raise InvalidPatchSet(_schema_message(error), _join_path(prefix, error.absolute_path))


# -- applying patches --------------------------------------------------------------------------
def _copy_containers(value: Any) -> Any:
    """Copy every dict and list of a JSON-like document; leaves (numbers, arrays) are shared."""
    if isinstance(value, Mapping):
        return {key: _copy_containers(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_copy_containers(item) for item in value]
    return value


def _operations_of(patch: Any, where: str) -> tuple[list[Any], str]:
    """The operations of ``patch`` and its label for error messages."""
    if isinstance(patch, Patch):
        return patch._operations, f"{where} '{patch.name}'"
    if isinstance(patch, jsonpatch.JsonPatch):
        return list(patch.patch), where
    if isinstance(patch, Mapping):
        if "patch" in patch and "metadata" in patch:
            return _operations_of(Patch(patch), where)
        if "op" in patch:
            raise InvalidPatch(
                f"{where}: a patch is a list of operations, got a single operation "
                "(wrap it in a list)",
                patch=where,
                path=where,
            )
    if isinstance(patch, Sequence) and not isinstance(patch, str | bytes):
        return list(patch), where
    raise InvalidPatch(
        f"{where}: a patch is a list of JSON Patch operations, a jsonpatch.JsonPatch or a "
        f"relaxed.Patch, got {type(patch).__name__}",
        patch=where,
        path=where,
    )


def _missing_parent(document: Any, pointer: str) -> str | None:
    """Describe the first part of ``pointer``'s parent that ``document`` lacks, if any."""
    try:
        parts = jsonpointer.JsonPointer(pointer).parts
    except jsonpointer.JsonPointerException:
        return None
    node = document
    for depth, part in enumerate(parts[:-1]):
        here = "/" + "/".join(parts[:depth]) if depth else "the document root"
        if isinstance(node, Mapping):
            if part not in node:
                keys = _shorten(repr(sorted(node)), 120)
                return f"{here} has no member {part!r} (its members are {keys})"
            node = node[part]
        elif isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                return f"{here} is a list of length {len(node)}, it has no item {part!r}"
            node = node[int(part)]
        else:
            return f"{here} is a {type(node).__name__}, not an object or a list"
    if parts and not isinstance(node, Mapping | list):
        here = "/" + "/".join(parts[:-1]) if len(parts) > 1 else "the document root"
        return f"{here} is a {type(node).__name__}, not an object or a list"
    return None


def apply_patch(document: Mapping[str, Any], patch: Any, where: str = "patch") -> dict[str, Any]:
    """Apply a JSON Patch to a copy of ``document`` and return the copy.

    The operations run in order with the ``jsonpatch`` library on a copy of every dict and list
    of ``document`` (and of the operations' values), so neither ``document`` nor the patch ever
    changes and the result shares no dict or list with them (array leaves, which the patch
    operations cannot change, are shared). The result is not validated.

    Args:
        document: a JSON document (a workspace, or a model specification).
        patch: a list of operations, a :class:`jsonpatch.JsonPatch`, a :class:`Patch`, or a
            patch set entry (``{"metadata": ..., "patch": [...]}``).
        where: how error messages name the patch (its place in the caller's arguments).

    Raises:
        relaxed.exceptions.InvalidPatch: an operation is malformed or does not apply; the
            message names the operation (``where[j]``), its op and path, and the reason.

    Example:
        >>> doc = {"channels": [{"name": "SR", "samples": []}]}
        >>> new = apply_patch(doc, [{"op": "add", "path": "/channels/0/samples/-",
        ...     "value": {"name": "signal", "data": [5.0], "modifiers": []}}])
        >>> [s["name"] for s in new["channels"][0]["samples"]], doc["channels"][0]["samples"]
        (['signal'], [])
        >>> apply_patch(doc, [{"op": "add", "path": "/channels/2/samples/0", "value": {}}])
        Traceback (most recent call last):
        ...
        relaxed.exceptions.InvalidPatch: patch[0] (add /channels/2/samples/0): /channels is a ...
    """
    operations, label = _operations_of(patch, where)
    result = _copy_containers(document)
    for j, operation in enumerate(copy.deepcopy(operations)):
        place = f"{where}[{j}]"
        suffix = f" of {label}" if label != where else ""
        if not isinstance(operation, Mapping) or not isinstance(operation.get("path"), str):
            raise InvalidPatch(
                f"{place}{suffix}: an operation is an object with 'op' and 'path' (a string), "
                f"got {_shorten(repr(operation), 120)}",
                patch=label,
                path=place,
            )
        what = f"{place} ({operation.get('op')} {operation['path']}){suffix}"
        try:
            result = jsonpatch.JsonPatch([operation]).apply(result, in_place=True)
        except (
            jsonpatch.JsonPatchException,
            jsonpointer.JsonPointerException,
            AssertionError,
            KeyError,
            IndexError,
            TypeError,
        ) as err:
            reason = _missing_parent(result, operation["path"]) or _shorten(
                str(err) or type(err).__name__
            )
            if isinstance(err, jsonpatch.JsonPatchTestFailed):
                reason = f"test failed: {_shorten(str(err))}"
            raise InvalidPatch(
                f"{what}: {reason}", patch=label, path=place, operation=dict(operation)
            ) from err
    return result


# -- Patch -------------------------------------------------------------------------------------
class Patch:
    """One signal point of a patch set: a name, the values of the set's labels, and a JSON Patch.

    Args:
        spec: a patch set entry, ``{"metadata": {"name": ..., "values": [...]}, "patch": [...]}``
            (the metadata may hold more keys; they are kept).
        validate: check ``spec`` against the PatchSet schema's definition of a patch.

    Raises:
        relaxed.exceptions.InvalidPatchSet: ``spec`` is not a valid patch set entry.

    Example:
        >>> import relaxed
        >>> patch = relaxed.Patch({"metadata": {"name": "sig_500_0", "values": [500, 0]},
        ...     "patch": [{"op": "add", "path": "/channels/0/samples/-",
        ...                "value": {"name": "signal", "data": [5.0], "modifiers": []}}]})
        >>> patch.name, patch.values, len(patch.operations)
        ('sig_500_0', (500, 0), 1)
        >>> patch
        relaxed.Patch(name='sig_500_0', values=(500, 0), operations=1)
    """

    def __init__(self, spec: Mapping[str, Any], validate: bool = True) -> None:
        if validate:
            if not isinstance(spec, Mapping):
                raise InvalidPatchSet(
                    f"a patch is an object with 'metadata' and 'patch', got {type(spec).__name__}"
                )
            _validate(_copy_containers(spec), "patch")
        metadata = _field(spec, "metadata", "", Mapping)
        self._name = _field(metadata, "name", "metadata", str)
        self._values = tuple(_field(metadata, "values", "metadata", Sequence))
        self._metadata = copy.deepcopy(dict(metadata))
        self._operations = copy.deepcopy(list(_field(spec, "patch", "", Sequence)))

    @property
    def name(self) -> str:
        """The patch's name (``metadata.name``)."""
        return self._name

    @property
    def values(self) -> tuple[Any, ...]:
        """The values of the patch set's labels at this point (``metadata.values``)."""
        return self._values

    @property
    def metadata(self) -> dict[str, Any]:
        """A copy of the patch's metadata (``name``, ``values`` and any other keys)."""
        return copy.deepcopy(self._metadata)

    @property
    def operations(self) -> list[dict[str, Any]]:
        """A copy of the JSON Patch operations (the entry's ``patch`` list)."""
        return copy.deepcopy(self._operations)

    def apply(self, document: Mapping[str, Any]) -> dict[str, Any]:
        """``document`` with this patch applied (a new document; see :func:`apply_patch`).

        Example:
            >>> import relaxed
            >>> patch = relaxed.Patch({"metadata": {"name": "p", "values": [1]},
            ...     "patch": [{"op": "replace", "path": "/a", "value": 2}]})
            >>> patch.apply({"a": 1})
            {'a': 2}
        """
        return apply_patch(document, self)

    def to_dict(self) -> dict[str, Any]:
        """The patch set entry, ``{"metadata": ..., "patch": [...]}`` (a copy).

        Example:
            >>> import relaxed
            >>> relaxed.Patch({"metadata": {"name": "p", "values": [1]}, "patch": []}).to_dict()
            {'metadata': {'name': 'p', 'values': [1]}, 'patch': []}
        """
        return {"metadata": self.metadata, "patch": self.operations}

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Patch):
            return NotImplemented
        return self._metadata == other._metadata and self._operations == other._operations

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"relaxed.Patch(name={self._name!r}, values={self._values!r}, "
            f"operations={len(self._operations)})"
        )


def _field(mapping: Any, key: str, path: str, kind: type) -> Any:
    """``mapping[key]``, checked to be a ``kind``; :class:`InvalidPatchSet` names ``path``."""
    where = f"{path}.{key}" if path else key
    if not isinstance(mapping, Mapping):
        raise InvalidPatchSet(f"expected an object, got {type(mapping).__name__}", path or "")
    if key not in mapping:
        raise InvalidPatchSet(f"missing required key: {key!r}", path)
    value = mapping[key]
    if not isinstance(value, kind) or (kind is Sequence and isinstance(value, str)):
        raise InvalidPatchSet(f"expected {kind.__name__}, got {type(value).__name__}", where)
    return value


# -- PatchSet ----------------------------------------------------------------------------------
class PatchSet:
    """A set of signal patches for one background-only workspace, in pyhf's PatchSet format.

    A patch set behaves like a list of :class:`Patch` (``len``, iteration, :attr:`patches`) and
    like a dictionary keyed both by patch name and by the tuple of label values:
    ``patchset["C1N2_Wh_hbb_500_0"]``, ``patchset[500, 0]`` and ``patchset[(500, 0)]`` are the
    same patch. As in pyhf, each patch has one value per label, and names and values are unique.

    Args:
        spec: the patch set document (``metadata``, ``patches``, ``version``).
        validate: check ``spec`` against the PatchSet schema (version 1.0.0) first.

    Raises:
        relaxed.exceptions.InvalidPatchSet: the document is malformed; ``.path`` says where
            (``patches[3].metadata.values``).

    Example:
        >>> import relaxed
        >>> patchset = relaxed.PatchSet({
        ...     "metadata": {"description": "signal grid", "labels": ["m1", "m2"],
        ...                  "digests": {"sha256": "a" * 64},
        ...                  "references": {"hepdata": "ins1234567"}},
        ...     "patches": [
        ...         {"metadata": {"name": "sig_500_0", "values": [500, 0]}, "patch": []},
        ...         {"metadata": {"name": "sig_600_100", "values": [600, 100]}, "patch": []}],
        ...     "version": "1.0.0"})
        >>> len(patchset), patchset.labels, [p.name for p in patchset]
        (2, ['m1', 'm2'], ['sig_500_0', 'sig_600_100'])
        >>> patchset[600, 100].name, patchset["sig_500_0"].values
        ('sig_600_100', (500, 0))
    """

    def __init__(self, spec: Mapping[str, Any], validate: bool = True) -> None:
        if not isinstance(spec, Mapping):
            raise InvalidPatchSet(f"a patch set is a JSON object (dict), got {type(spec).__name__}")
        if validate:
            _validate(_copy_containers(spec), None)
        metadata = _field(spec, "metadata", "", Mapping)
        labels = _field(metadata, "labels", "metadata", Sequence)
        _field(metadata, "digests", "metadata", Mapping)
        self._metadata = copy.deepcopy(dict(metadata))
        self._version = spec.get("version")
        self._patches: list[Patch] = []
        self._by_name: dict[str, int] = {}
        self._by_values: dict[tuple[Any, ...], int] = {}
        for i, entry in enumerate(_field(spec, "patches", "", Sequence)):
            where = f"patches[{i}]"
            if not isinstance(entry, Mapping):
                raise InvalidPatchSet(f"expected an object, got {type(entry).__name__}", where)
            _field(entry, "patch", where, Sequence)
            entry_metadata = _field(entry, "metadata", where, Mapping)
            _field(entry_metadata, "name", f"{where}.metadata", str)
            _field(entry_metadata, "values", f"{where}.metadata", Sequence)
            patch = Patch(entry, validate=False)
            if patch.name in self._by_name:
                raise InvalidPatchSet(
                    f"patch {patch.name!r} is defined twice (also at "
                    f"patches[{self._by_name[patch.name]}])",
                    f"{where}.metadata.name",
                )
            if len(patch.values) != len(labels):
                raise InvalidPatchSet(
                    f"patch {patch.name!r} has {len(patch.values)} values but the patch set has "
                    f"{len(labels)} labels {list(labels)}",
                    f"{where}.metadata.values",
                )
            try:
                other = self._by_values.get(patch.values)
            except TypeError as err:
                raise InvalidPatchSet(
                    f"patch {patch.name!r}: values must be numbers or strings",
                    f"{where}.metadata.values",
                ) from err
            if other is not None:
                raise InvalidPatchSet(
                    f"patch {patch.name!r} has the values {patch.values} of patch "
                    f"{self._patches[other].name!r} (patches[{other}])",
                    f"{where}.metadata.values",
                )
            self._by_name[patch.name] = i
            self._by_values[patch.values] = i
            self._patches.append(patch)

    @classmethod
    def load(cls, path: str | os.PathLike[str], validate: bool = True) -> PatchSet:
        """Read a patch set from a JSON file.

        Example:
            >>> import json, pathlib, tempfile, relaxed
            >>> path = pathlib.Path(tempfile.mkdtemp()) / "patchset.json"
            >>> _ = path.write_text(json.dumps({"metadata": {"description": "d",
            ...     "labels": ["x"], "digests": {"md5": "0" * 32},
            ...     "references": {"hepdata": "ins1234567"}}, "version": "1.0.0",
            ...     "patches": [{"metadata": {"name": "a", "values": [1]}, "patch": []}]}))
            >>> len(relaxed.PatchSet.load(path))
            1
        """
        with open(path) as f:
            return cls(json.load(f), validate=validate)

    # -- metadata --------------------------------------------------------------------------
    @property
    def version(self) -> str | None:
        """The format version (``"1.0.0"``)."""
        return self._version

    @property
    def metadata(self) -> dict[str, Any]:
        """A copy of the patch set's metadata (including keys beyond the required four)."""
        return copy.deepcopy(self._metadata)

    @property
    def description(self) -> str:
        """What the patches represent (``metadata.description``)."""
        return self._metadata.get("description", "")

    @property
    def digests(self) -> dict[str, str]:
        """Digests of the background-only workspace, by algorithm (``metadata.digests``)."""
        return dict(self._metadata["digests"])

    @property
    def labels(self) -> list[str]:
        """Names of the signal parameters each patch gives values for (``metadata.labels``)."""
        return list(self._metadata["labels"])

    @property
    def references(self) -> dict[str, Any]:
        """Where the patch set comes from, e.g. ``{"hepdata": "ins1755298"}``."""
        return dict(self._metadata.get("references", {}))

    @property
    def patches(self) -> list[Patch]:
        """The patches, in file order."""
        return list(self._patches)

    # -- list and dictionary -----------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._patches)

    def __iter__(self) -> Iterator[Patch]:
        return iter(self._patches)

    def __contains__(self, key: object) -> bool:
        try:
            self[key]
        except InvalidPatchLookup:
            return False
        return True

    def __getitem__(self, key: Any) -> Patch:
        """The patch named ``key`` (a string) or with values ``key`` (a tuple or list).

        Raises:
            relaxed.exceptions.InvalidPatchLookup: no such patch; the message lists a few of
                the valid keys.
        """
        if isinstance(key, str):
            if key in self._by_name:
                return self._patches[self._by_name[key]]
            some = ", ".join(repr(p.name) for p in self._patches[:5])
            more = ", ..." if len(self._patches) > 5 else ""
            raise InvalidPatchLookup(
                f"no patch is named {key!r}; the patch set has {self._count()}: {some}{more}",
                key=key,
            )
        if isinstance(key, list | tuple):
            values = tuple(key)
            try:
                index = self._by_values.get(values)
            except TypeError:
                index = None
            if index is not None:
                return self._patches[index]
            some = ", ".join(repr(p.values) for p in self._patches[:5])
            more = ", ..." if len(self._patches) > 5 else ""
            raise InvalidPatchLookup(
                f"no patch has the values {values!r} for the labels {self.labels}; the patch "
                f"set has {self._count()} with values {some}{more}",
                key=key,
            )
        raise InvalidPatchLookup(
            f"a patch is looked up by its name (a string) or its values (a tuple, one per label "
            f"{self.labels}), got {type(key).__name__} {key!r}",
            key=key,
        )

    # -- workspaces --------------------------------------------------------------------------
    def verify(self, workspace: Workspace | Mapping[str, Any]) -> None:
        """Check that ``workspace`` is the background-only workspace this set was made for.

        For every algorithm in :attr:`digests`, the :func:`digest` of the workspace document
        must equal the recorded digest exactly (as pyhf's ``PatchSet.verify`` requires).

        Raises:
            relaxed.exceptions.PatchSetVerificationError: a digest differs; the message gives
                both.

        Example:
            >>> import relaxed
            >>> from relaxed.histfactory.patchset import digest
            >>> bkg = {"channels": [], "version": "1.0.0"}
            >>> patchset = relaxed.PatchSet({"metadata": {"description": "d", "labels": ["x"],
            ...     "digests": {"sha256": digest(bkg)}, "references": {"hepdata": "ins1234567"}},
            ...     "version": "1.0.0", "patches": [{"metadata": {"name": "a", "values": [1]},
            ...     "patch": []}]})
            >>> patchset.verify(bkg)  # no error: the digests agree
        """
        document = workspace.to_dict() if hasattr(workspace, "to_dict") else workspace
        for algorithm, expected in self._metadata["digests"].items():
            actual = digest(document, algorithm)
            if actual != expected:
                raise PatchSetVerificationError(
                    f"the workspace's {algorithm} digest is {actual}, but the patch set "
                    f"({self.description!r}) was made for a workspace with {algorithm} digest "
                    f"{expected}",
                    algorithm=algorithm,
                    expected=expected,
                    actual=actual,
                )

    def apply(
        self, workspace: Workspace | Mapping[str, Any], key: Any, verify: bool = True
    ) -> Workspace:
        """The workspace with the patch ``key`` (a name or values) applied.

        Args:
            workspace: the background-only workspace (a :class:`relaxed.Workspace` or its
                document); it is not changed.
            key: the patch's name or its values, as for ``patchset[key]``.
            verify: first check the workspace's digest (:meth:`verify`), as pyhf always does.

        Raises:
            relaxed.exceptions.PatchSetVerificationError: ``verify`` and the digests differ.
            relaxed.exceptions.InvalidPatchLookup: no patch has this key.
            relaxed.exceptions.InvalidPatch: the patch does not apply, or the result is not a
                valid workspace.

        Example:
            >>> import relaxed
            >>> bkg = relaxed.Workspace({"channels": [{"name": "SR", "samples": [
            ...     {"name": "bkg", "data": [50.0], "modifiers": []}]}],
            ...     "observations": [{"name": "SR", "data": [52.0]}], "version": "1.0.0",
            ...     "measurements": [{"name": "m", "config": {"poi": "mu", "parameters": []}}]})
            >>> signal = {"name": "sig", "data": [5.0],
            ...     "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]}
            >>> patchset = relaxed.PatchSet({"metadata": {"description": "d", "labels": ["m"],
            ...     "digests": {"sha256": "0" * 64}, "references": {"hepdata": "ins1234567"}},
            ...     "version": "1.0.0", "patches": [{"metadata": {"name": "sig_100",
            ...     "values": [100]}, "patch": [{"op": "add", "path": "/channels/0/samples/-",
            ...     "value": signal}]}]})
            >>> patchset.apply(bkg, (100,), verify=False).samples
            ['bkg', 'sig']
        """
        from relaxed.histfactory.workspace import Workspace

        if not isinstance(workspace, Workspace):
            workspace = Workspace(workspace)
        if verify:
            self.verify(workspace)
        return workspace.patch(self[key])

    def _count(self) -> str:
        return f"{len(self)} patch" + ("es" if len(self) != 1 else "")

    def __repr__(self) -> str:
        return (
            f"relaxed.PatchSet({self.description!r}, labels={self.labels}, "
            f"patches={len(self._patches)})"
        )
