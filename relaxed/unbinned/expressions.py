r"""Generic expressions (HS3 ``generic_function``, ``generic_dist``) and the HS3 functions
``sum``, ``product`` and ``polynomial``, as immutable, JAX-evaluable :class:`Expression`\ s.

:func:`parse_expression` reads the HS3 expression language with a tokenizer and a
recursive-descent parser (nothing is ever handed to ``eval``, ``exec``, ``compile`` or
Python's ``ast``): the text becomes a tree of :class:`Num`, :class:`Var`, :class:`Unary`,
:class:`Binary` and :class:`Call` nodes, which :class:`Expression` evaluates with
``jax.numpy`` in float64, so that every expression is ``jit``-, ``vmap``- and ``grad``-able.

The language (HS3 section "Generic Expressions", with the extensions marked):

- numbers ``12``, ``1.5``, ``.5``, ``1e-3``, ``1.2E+2``; ``TRUE`` and ``FALSE`` (1 and 0);
  the constants ``PI`` and ``EULER``;
- names of parameters and observables: a letter or ``_``, then letters, digits, ``_``, and
  ``.`` or ``::`` between such parts (``alpha_JES``, ``n.sig``, ROOT's ``TMath::Exp``);
- arithmetic ``+ - * /`` (floating-point division), power ``^`` (and ``**``, as sympy and
  pyhs3 write it), round brackets;
- comparisons ``==`` (equal to within 4 units in the last place), ``===`` (exactly equal),
  ``!=``, ``!==``, ``< <= > >=``, and the logical ``!``, ``&&``, ``||``: they give 1 or 0;
- ``ifelse(condition, if_true, if_false)`` (``jnp.where``: both branches are evaluated, so a
  branch that is NaN where it is not taken still makes gradients NaN);
- the functions of :data:`FUNCTIONS`: the standard's ``exp log sqrt abs pow min max sin cos tan
  asin acos atan``, and as extensions ``erf erfc log10 atan2 sinh cosh tanh``; ROOT's spellings
  ``TMath::Exp``, ``TMath::Power``, ``TMath::Pi()``, ``std::exp``, ... (:data:`ALIASES`).

Precedence, from the loosest: ``||``, ``&&``, comparisons, ``+ -``, ``* /``, unary ``- + !``,
then the power, which is right-associative and binds tighter than a unary minus on its left:
``-x^2`` is :math:`-(x^2)`, ``2^-x`` is :math:`2^{-x}`, ``a^b^c`` is :math:`a^{(b^c)}`. An
integer power (``x^2``, ``pow(x, -1)``) is ``lax.integer_pow``: exact, and with finite
derivatives at negative and zero bases.

Errors raise :class:`relaxed.exceptions.InvalidExpression` naming the expression and the
0-based position of the problem (a syntax error, an unknown function, a wrong number of
arguments).

:func:`sum_function`, :func:`product_function` and :func:`polynomial_function` build the HS3
functions from references (a parameter's name, a number, or another :class:`Expression`);
:meth:`Expression.substitute` replaces names by other expressions, which composes functions
that refer to each other by name; and ``+ - * /`` combine expressions and numbers.

Example:
    >>> import jax
    >>> import jax.numpy as jnp
    >>> f = parse_expression("exp(-0.5 * ((x - mu) / sigma)^2)")
    >>> f.parameters
    ('mu', 'sigma', 'x')
    >>> round(float(f({"x": 1.0, "mu": 0.0, "sigma": 1.0})), 12)
    0.606530659713
    >>> g = jax.grad(lambda m: f({"x": 1.0, "mu": m, "sigma": 1.0}))
    >>> round(float(g(0.0)), 12)  # (x - mu) / sigma^2 * f
    0.606530659713
    >>> str(parse_expression("-x^2 + 2*a^b^c"))
    '-x^2 + 2 * a^b^c'
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Union

import jax
import jax.numpy as jnp
import jax.scipy.special as jsp
import numpy as np
from jax import Array
from jax.typing import ArrayLike

from relaxed.exceptions import InvalidExpression

__all__ = [
    "ALIASES",
    "CONSTANTS",
    "FUNCTIONS",
    "Binary",
    "Call",
    "Expression",
    "Num",
    "Unary",
    "Var",
    "as_expression",
    "parse_expression",
    "polynomial_function",
    "product_function",
    "sum_function",
]

#: The deepest tree an expression may have, and the deepest nesting of brackets, unary
#: operators, powers and calls the parser reads (guards against Python's recursion limit).
MAX_DEPTH = 400
MAX_NESTING = 64

# -- the tree -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Num:
    """A number."""

    value: float


@dataclass(frozen=True)
class Var:
    """A name: a parameter, an observable (or, before :meth:`Expression.substitute`, a
    function)."""

    name: str


@dataclass(frozen=True)
class Unary:
    """``op operand`` with ``op`` one of ``-``, ``+``, ``!``."""

    op: str
    operand: Node


@dataclass(frozen=True)
class Binary:
    """``left op right`` (``op`` an arithmetic, comparison or logical operator; ``^`` for
    the power)."""

    op: str
    left: Node
    right: Node


@dataclass(frozen=True)
class Call:
    """``function(args...)``, ``function`` a name of :data:`FUNCTIONS`."""

    function: str
    args: tuple[Node, ...]


Node = Union[Num, Var, Unary, Binary, Call]  # noqa: UP007  (a runtime alias of dataclasses)

# -- the vocabulary -----------------------------------------------------------------------


#: Functions by name: (number of arguments, implementation on float64 arrays).
FUNCTIONS: dict[str, tuple[int, Callable[..., Array]]] = {
    "exp": (1, jnp.exp),
    "log": (1, jnp.log),
    "sqrt": (1, jnp.sqrt),
    "abs": (1, jnp.abs),
    "pow": (2, jnp.power),
    "min": (2, jnp.minimum),
    "max": (2, jnp.maximum),
    "sin": (1, jnp.sin),
    "cos": (1, jnp.cos),
    "tan": (1, jnp.tan),
    "asin": (1, jnp.arcsin),
    "acos": (1, jnp.arccos),
    "atan": (1, jnp.arctan),
    "ifelse": (3, lambda c, a, b: jnp.where(c != 0, a, b)),
    # extensions (not in the standard's list)
    "erf": (1, jsp.erf),
    "erfc": (1, jsp.erfc),
    "log10": (1, jnp.log10),
    "atan2": (2, jnp.arctan2),
    "sinh": (1, jnp.sinh),
    "cosh": (1, jnp.cosh),
    "tanh": (1, jnp.tanh),
}

#: Named constants.
CONSTANTS: dict[str, float] = {"PI": math.pi, "EULER": math.e, "TRUE": 1.0, "FALSE": 0.0}

#: ROOT's (``TMath::``) and C++'s (``std::``) spellings of the functions, and ROOT's
#: zero-argument constants ``TMath::Pi()`` and ``TMath::E()``.
ALIASES: dict[str, str] = {
    **{
        f"TMath::{root}": ours
        for root, ours in {
            "Exp": "exp",
            "Log": "log",
            "Sqrt": "sqrt",
            "Abs": "abs",
            "Power": "pow",
            "Min": "min",
            "Max": "max",
            "Sin": "sin",
            "Cos": "cos",
            "Tan": "tan",
            "ASin": "asin",
            "ACos": "acos",
            "ATan": "atan",
            "ATan2": "atan2",
            "Erf": "erf",
            "Erfc": "erfc",
            "Log10": "log10",
            "SinH": "sinh",
            "CosH": "cosh",
            "TanH": "tanh",
            "Pi": "PI",
            "E": "EULER",
        }.items()
    },
    **{f"std::{name}": name for name in ("exp", "log", "sqrt", "abs", "pow", "min", "max")},
    **{f"std::{name}": name for name in ("sin", "cos", "tan", "asin", "acos", "atan", "erf")},
    **{"fabs": "abs", "std::fabs": "abs"},
}

_BINARY_OPS: dict[str, Callable[[Array, Array], Array]] = {
    "+": jnp.add,
    "-": jnp.subtract,
    "*": jnp.multiply,
    "/": jnp.divide,
    "^": jnp.power,
    "<": lambda a, b: jnp.where(a < b, 1.0, 0.0),
    "<=": lambda a, b: jnp.where(a <= b, 1.0, 0.0),
    ">": lambda a, b: jnp.where(a > b, 1.0, 0.0),
    ">=": lambda a, b: jnp.where(a >= b, 1.0, 0.0),
    "===": lambda a, b: jnp.where(a == b, 1.0, 0.0),
    "!==": lambda a, b: jnp.where(a != b, 1.0, 0.0),
    "==": lambda a, b: jnp.where(_close(a, b), 1.0, 0.0),
    "!=": lambda a, b: jnp.where(_close(a, b), 0.0, 1.0),
    "&&": lambda a, b: jnp.where((a != 0) & (b != 0), 1.0, 0.0),
    "||": lambda a, b: jnp.where((a != 0) | (b != 0), 1.0, 0.0),
}

_COMPARISONS = ("==", "===", "!=", "!==", "<", "<=", ">", ">=")
#: Binding strength of the binary operators (higher binds tighter); unary operators sit at
#: 6, between ``* /`` and the power.
_PRECEDENCE = {
    "||": 1,
    "&&": 2,
    **dict.fromkeys(_COMPARISONS, 3),
    "+": 4,
    "-": 4,
    "*": 5,
    "/": 5,
    "^": 7,
}
_UNARY_PRECEDENCE = 6


def _close(a: Array, b: Array) -> Array:
    """Equal to within 4 units in the last place of the larger magnitude."""
    eps = float(np.finfo(np.float64).eps)
    return jnp.abs(a - b) <= 4.0 * eps * jnp.maximum(jnp.abs(a), jnp.abs(b))


# -- the tokenizer ------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:(?:\.|::)[A-Za-z0-9_]+)*)
  | (?P<op>===|!==|\*\*|==|!=|<=|>=|&&|\|\||[-+*/^()<>!,])
    """,
    re.VERBOSE,
)


@dataclass(frozen=True)
class _Token:
    kind: str  # "number", "name", "op", "end"
    text: str
    position: int


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise InvalidExpression(f"unexpected character {text[position]!r}", text, position)
        kind = match.lastgroup or ""
        if kind != "space":
            value = match.group()
            tokens.append(_Token(kind, "^" if value == "**" else value, position))
        position = match.end()
    tokens.append(_Token("end", "", len(text)))
    return tokens


# -- the parser ---------------------------------------------------------------------------


class _Parser:
    """Recursive descent, one method per precedence level (module docstring)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.i = 0
        self.depth = 0

    def error(self, message: str, token: _Token | None = None) -> InvalidExpression:
        token = token or self.peek()
        return InvalidExpression(message, self.text, token.position)

    def peek(self) -> _Token:
        return self.tokens[self.i]

    def take(self) -> _Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def expect(self, text: str) -> _Token:
        token = self.peek()
        if token.text != text or token.kind == "end":
            got = "the end" if token.kind == "end" else repr(token.text)
            raise self.error(f"expected {text!r}, got {got}")
        return self.take()

    def parse(self) -> Node:
        if self.peek().kind == "end":
            raise self.error("the expression is empty")
        node = self.binary(1)
        token = self.peek()
        if token.kind != "end":
            raise self.error(f"unexpected {token.text!r} after a complete expression")
        return node

    def binary(self, level: int) -> Node:
        """Left-associative binary operators of precedence ``level`` and above (below the
        unary operators)."""
        if level >= _UNARY_PRECEDENCE:
            return self.unary()
        left = self.binary(level + 1)
        while True:
            token = self.peek()
            if token.kind != "op" or _PRECEDENCE.get(token.text) != level:
                return left
            self.take()
            left = Binary(token.text, left, self.binary(level + 1))

    def unary(self) -> Node:
        token = self.peek()
        if token.kind == "op" and token.text in ("-", "+", "!"):
            self.take()
            self.enter(token)
            operand = self.unary()
            self.depth -= 1
            return Unary(token.text, operand)
        return self.power()

    def power(self) -> Node:
        base = self.primary()
        token = self.peek()
        if token.kind == "op" and token.text == "^":
            self.take()
            self.enter(token)
            exponent = self.unary()  # right-associative, and 2^-x is allowed
            self.depth -= 1
            return Binary("^", base, exponent)
        return base

    def enter(self, token: _Token) -> None:
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise self.error(f"nested more than {MAX_NESTING} levels deep", token)

    def primary(self) -> Node:
        token = self.take()
        if token.kind == "number":
            return Num(float(token.text))
        if token.kind == "name":
            if self.peek().text == "(" and self.peek().kind == "op":
                return self.call(token)
            if token.text in CONSTANTS:
                return Num(CONSTANTS[token.text])
            return Var(token.text)
        if token.kind == "op" and token.text == "(":
            self.enter(token)
            node = self.binary(1)
            self.depth -= 1
            self.expect(")")
            return node
        got = "the end" if token.kind == "end" else repr(token.text)
        raise self.error(f"expected a number, a name or '(', got {got}", token)

    def call(self, name: _Token) -> Node:
        function = ALIASES.get(name.text, name.text)
        self.expect("(")
        self.enter(name)
        args: list[Node] = []
        if self.peek().text != ")" or self.peek().kind != "op":
            args.append(self.binary(1))
            while self.peek().kind == "op" and self.peek().text == ",":
                self.take()
                args.append(self.binary(1))
        self.expect(")")
        self.depth -= 1
        if function in CONSTANTS and not args:  # TMath::Pi()
            return Num(CONSTANTS[function])
        if function not in FUNCTIONS:
            raise self.error(
                f"unknown function {name.text!r}; known: {', '.join(sorted(FUNCTIONS))}", name
            )
        arity = FUNCTIONS[function][0]
        if len(args) != arity:
            raise self.error(
                f"{name.text}() takes {arity} argument{'s' if arity != 1 else ''}, got {len(args)}",
                name,
            )
        return Call(function, tuple(args))


def _depth(node: Node) -> int:
    stack = [(node, 1)]
    deepest = 0
    while stack:
        current, d = stack.pop()
        deepest = max(deepest, d)
        stack.extend((child, d + 1) for child in _children(current))
    return deepest


def _children(node: Node) -> tuple[Node, ...]:
    if isinstance(node, Unary):
        return (node.operand,)
    if isinstance(node, Binary):
        return (node.left, node.right)
    if isinstance(node, Call):
        return node.args
    return ()


def _free_names(node: Node) -> set[str]:
    names: set[str] = set()
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, Var):
            names.add(current.name)
        stack.extend(_children(current))
    return names


# -- evaluation ---------------------------------------------------------------------------


def _integer(node: Node) -> int | None:
    """The value of ``node`` when it is a small integer constant (``2``, ``-1``), else
    ``None``."""
    sign = 1
    if isinstance(node, Unary) and node.op in "-+":
        sign = -1 if node.op == "-" else 1
        node = node.operand
    if isinstance(node, Num) and float(node.value).is_integer() and abs(node.value) <= 64:
        return sign * int(node.value)
    return None


def _evaluate(node: Node, values: Mapping[str, Array], text: str) -> Array:
    if isinstance(node, Num):
        return jnp.asarray(node.value, dtype=jnp.float64)
    if isinstance(node, Var):
        if node.name not in values:
            raise InvalidExpression(f"no value given for {node.name!r}", text)
        return jnp.asarray(values[node.name], dtype=jnp.float64)
    if isinstance(node, Unary):
        operand = _evaluate(node.operand, values, text)
        if node.op == "-":
            return -operand
        if node.op == "!":
            return jnp.where(operand == 0, 1.0, 0.0)
        return operand
    if isinstance(node, Binary):
        left = _evaluate(node.left, values, text)
        if node.op == "^" and (n := _integer(node.right)) is not None:
            return jax.lax.integer_pow(left, n)
        return _BINARY_OPS[node.op](left, _evaluate(node.right, values, text))
    args = node.args
    if node.function == "pow" and (n := _integer(args[1])) is not None:
        return jax.lax.integer_pow(_evaluate(args[0], values, text), n)
    return FUNCTIONS[node.function][1](*(_evaluate(a, values, text) for a in args))


def _positive(node: Node) -> bool:
    """Whether ``node`` is positive by its form: ``exp(...)``, a positive number, and
    products, quotients and powers of those."""
    if isinstance(node, Call):
        return node.function == "exp"
    if isinstance(node, Num):
        return node.value > 0
    if isinstance(node, Binary) and node.op in ("*", "/"):
        return _positive(node.left) and _positive(node.right)
    if isinstance(node, Binary) and node.op == "^":
        return _positive(node.left)
    return False


def _safe_log(value: Array) -> Array:
    r""":math:`\log v` where :math:`v > 0`, :math:`-\infty` elsewhere (finite gradients)."""
    positive = value > 0
    return jnp.where(positive, jnp.log(jnp.where(positive, value, 1.0)), -jnp.inf)


def _log_evaluate(node: Node, values: Mapping[str, Array], text: str) -> Array:
    r""":math:`\log` of the value of ``node`` (:math:`-\infty` where it is not positive),
    in log space through ``exp``, and through products, quotients and powers with a positive
    factor, so that :math:`\log e^{-a}` is :math:`-a` also where :math:`e^{-a}` underflows."""
    if isinstance(node, Call) and node.function == "exp":
        return _evaluate(node.args[0], values, text)
    if isinstance(node, Unary) and node.op == "+":
        return _log_evaluate(node.operand, values, text)
    if isinstance(node, Binary) and node.op in ("*", "/"):
        if _positive(node.left) or _positive(node.right):
            left = _log_evaluate(node.left, values, text)
            right = _log_evaluate(node.right, values, text)
            if node.op == "*":
                return left + right
            return jnp.where(right > -jnp.inf, left - right, -jnp.inf)
    if isinstance(node, Binary) and node.op == "^" and _positive(node.left):
        return _evaluate(node.right, values, text) * _log_evaluate(node.left, values, text)
    return _safe_log(_evaluate(node, values, text))


# -- printing -----------------------------------------------------------------------------


def _format(node: Node) -> tuple[str, int]:
    """The text of ``node`` with the fewest brackets, and its binding strength."""
    if isinstance(node, Num):
        text = repr(float(node.value))
        text = text[:-2] if text.endswith(".0") and "e" not in text else text
        return (f"({text})", 9) if node.value < 0 or text in ("inf", "nan") else (text, 9)
    if isinstance(node, Var):
        return node.name, 9
    if isinstance(node, Call):
        return f"{node.function}({', '.join(_format(a)[0] for a in node.args)})", 9
    if isinstance(node, Unary):
        inner, strength = _format(node.operand)
        if strength < _UNARY_PRECEDENCE:
            inner = f"({inner})"
        return f"{node.op}{inner}", _UNARY_PRECEDENCE
    level = _PRECEDENCE[node.op]
    left, left_strength = _format(node.left)
    right, right_strength = _format(node.right)
    if node.op == "^":  # right-associative; a unary operand on the left needs brackets
        if left_strength <= level:
            left = f"({left})"
        if right_strength < _UNARY_PRECEDENCE:
            right = f"({right})"
        return f"{left}^{right}", level
    if left_strength < level:
        left = f"({left})"
    if right_strength <= level:
        right = f"({right})"
    return f"{left} {node.op} {right}", level


# -- the expression -----------------------------------------------------------------------

#: A reference as HS3 writes it: a name, a number, or an expression.
Ref = Union[str, float, "Expression"]  # noqa: UP007


@dataclass(frozen=True)
class Expression:
    r"""An immutable function of named values: the tree of a parsed expression (or of an
    HS3 function), its free names ``parameters`` (sorted) and its ``text`` (for messages).

    ``expr(values)`` evaluates it with ``values`` a mapping of every name in ``parameters`` to
    a float64 scalar or array (they broadcast, as in NumPy); the result is a float64 JAX
    array, and the evaluation traces under ``jit``, ``vmap`` and ``grad``.

    Example:
        >>> e = parse_expression("a * x^2 + b")
        >>> e.parameters, float(e({"a": 2.0, "b": 1.0, "x": 3.0}))
        (('a', 'b', 'x'), 19.0)
        >>> e({"a": 1.0, "b": 0.0, "x": jnp.array([1.0, 2.0])}).tolist()
        [1.0, 4.0]
        >>> str(e.substitute({"a": parse_expression("k + 1")}))
        '(k + 1) * x^2 + b'
    """

    tree: Node
    text: str = field(default="", compare=False)
    parameters: tuple[str, ...] = field(init=False, compare=False)

    def __post_init__(self) -> None:
        if not self.text:
            object.__setattr__(self, "text", _format(self.tree)[0])
        if _depth(self.tree) > MAX_DEPTH:
            raise InvalidExpression(f"nested more than {MAX_DEPTH} levels deep", self.text)
        object.__setattr__(self, "parameters", tuple(sorted(_free_names(self.tree))))

    def __call__(self, values: Mapping[str, ArrayLike]) -> Array:
        return _evaluate(self.tree, values, self.text)  # type: ignore[arg-type]

    def log_value(self, values: Mapping[str, ArrayLike]) -> Array:
        r""":math:`\log` of the value, :math:`-\infty` where the value is not positive;
        computed in log space through ``exp`` and through products, quotients and powers
        with a factor positive by its form, so that it stays finite where the value
        underflows (the log-density of a shape far in its tail).

        Example:
            >>> e = parse_expression("2 * exp(-x^2)")
            >>> float(e({"x": 30.0})), round(float(e.log_value({"x": 30.0})), 6)
            (0.0, -899.306853)
            >>> float(parse_expression("x - 1").log_value({"x": 0.5}))
            -inf
        """
        return _log_evaluate(self.tree, values, self.text)  # type: ignore[arg-type]

    def __str__(self) -> str:
        return _format(self.tree)[0]

    def __repr__(self) -> str:
        return f"Expression({str(self)!r})"

    def substitute(self, definitions: Mapping[str, Ref]) -> Expression:
        """The expression with each name of ``definitions`` replaced by its value (another
        name, a number, or an :class:`Expression`, whose tree is inserted in place).

        Example:
            >>> str(parse_expression("2 * f").substitute({"f": sum_function(["a", 1.0])}))
            '2 * (a + 1)'
        """
        trees = {name: _tree(ref) for name, ref in definitions.items()}

        def replace(node: Node) -> Node:
            if isinstance(node, Var):
                return trees.get(node.name, node)
            if isinstance(node, Unary):
                return Unary(node.op, replace(node.operand))
            if isinstance(node, Binary):
                return Binary(node.op, replace(node.left), replace(node.right))
            if isinstance(node, Call):
                return Call(node.function, tuple(replace(a) for a in node.args))
            return node

        return Expression(replace(self.tree))

    # -- arithmetic of references (constants folded, 0 + e and 1 * e simplified) ---------
    def __add__(self, other: Ref) -> Expression:
        return _combine("+", self, other)

    def __radd__(self, other: Ref) -> Expression:
        return _combine("+", other, self)

    def __sub__(self, other: Ref) -> Expression:
        return _combine("-", self, other)

    def __rsub__(self, other: Ref) -> Expression:
        return _combine("-", other, self)

    def __mul__(self, other: Ref) -> Expression:
        return _combine("*", self, other)

    def __rmul__(self, other: Ref) -> Expression:
        return _combine("*", other, self)

    def __truediv__(self, other: Ref) -> Expression:
        return _combine("/", self, other)

    def __rtruediv__(self, other: Ref) -> Expression:
        return _combine("/", other, self)

    def __neg__(self) -> Expression:
        return _combine("-", 0.0, self)


def _tree(ref: Ref) -> Node:
    if isinstance(ref, Expression):
        return ref.tree
    if isinstance(ref, str):
        return Var(ref)
    if isinstance(ref, (int, float, np.floating, np.integer)) and not isinstance(ref, bool):
        return Num(float(ref))
    raise InvalidExpression(f"expected a name, a number or an expression, got {ref!r}")


_FOLD = {"+": float.__add__, "-": float.__sub__, "*": float.__mul__, "/": float.__truediv__}


def _join(op: str, a: Node, b: Node) -> Node:
    """``a op b`` with numbers folded (IEEE float64, as XLA computes them) and the identities
    ``0 + b``, ``a + 0``, ``a - 0``, ``1 * b``, ``a * 1``, ``a / 1`` dropped."""
    if isinstance(a, Num) and isinstance(b, Num) and not (op == "/" and b.value == 0):
        return Num(_FOLD[op](a.value, b.value))
    if op == "+" and isinstance(a, Num) and a.value == 0:
        return b
    if op in "+-" and isinstance(b, Num) and b.value == 0:
        return a
    if op == "-" and isinstance(a, Num) and a.value == 0:
        return Unary("-", b)
    if op == "*" and isinstance(a, Num) and a.value == 1:
        return b
    if op in "*/" and isinstance(b, Num) and b.value == 1:
        return a
    return Binary(op, a, b)


def _combine(op: str, a: Ref, b: Ref) -> Expression:
    return Expression(_join(op, _tree(a), _tree(b)))


def _balanced(op: str, nodes: Sequence[Node]) -> Node:
    """``n_0 op n_1 op ...`` as a balanced tree (depth log n, for long sums)."""
    if len(nodes) == 1:
        return nodes[0]
    middle = len(nodes) // 2
    return _join(op, _balanced(op, nodes[:middle]), _balanced(op, nodes[middle:]))


def as_expression(ref: Ref) -> Expression:
    """A reference (a name, a number or an expression) as an :class:`Expression`.

    Example:
        >>> as_expression("mu").parameters, float(as_expression(2.5)({}))
        (('mu',), 2.5)
    """
    return ref if isinstance(ref, Expression) else Expression(_tree(ref))


def parse_expression(text: str) -> Expression:
    """Parse an HS3 generic expression (module docstring) into an :class:`Expression`.

    Raises:
        InvalidExpression: a syntax error, an unknown function or a wrong number of
            arguments, naming the expression and the 0-based position.

    Example:
        >>> float(parse_expression("2^3^2")({}))  # right-associative: 2^9
        512.0
        >>> float(parse_expression("-2^2")({}))  # -(2^2)
        -4.0
        >>> float(parse_expression("TMath::Power(2, 10) / 1e3")({}))
        1.024
        >>> parse_expression("expo(x)")
        Traceback (most recent call last):
        ...
        relaxed.exceptions.InvalidExpression: position 0 of 'expo(x)': unknown function 'expo'; ...
    """
    if not isinstance(text, str):
        raise InvalidExpression(f"an expression must be a string, got {text!r}")
    return Expression(_Parser(text).parse(), text)


def sum_function(summands: Sequence[Ref]) -> Expression:
    r"""HS3 ``sum``: :math:`\sum_i a_i` of names, numbers and expressions.

    Example:
        >>> e = sum_function(["a", 1.8, parse_expression("2*b")])
        >>> str(e), float(e({"a": 1.0, "b": 0.1}))
        ('a + (1.8 + 2 * b)', 3.0)
    """
    if not summands:
        return Expression(Num(0.0))
    return Expression(_balanced("+", [_tree(s) for s in summands]))


def product_function(factors: Sequence[Ref]) -> Expression:
    r"""HS3 ``product``: :math:`\prod_i a_i` of names, numbers and expressions.

    Example:
        >>> float(product_function(["a", 2.0, "b"])({"a": 1.5, "b": 4.0}))
        12.0
    """
    if not factors:
        return Expression(Num(1.0))
    return Expression(_balanced("*", [_tree(f) for f in factors]))


def polynomial_function(x: Ref, coefficients: Sequence[Ref]) -> Expression:
    r"""HS3 ``polynomial``: :math:`\sum_{i=0}^{n} a_i x^i` (not normalised), by Horner's
    rule :math:`a_0 + x(a_1 + x(a_2 + \dots))`.

    Example:
        >>> p = polynomial_function("x", [1.0, "a", 3.0])
        >>> str(p), float(p({"x": 2.0, "a": -1.0}))
        ('1 + x * (a + x * 3)', 11.0)
    """
    if not coefficients:
        return Expression(Num(0.0))
    xt = _tree(x)
    node = _tree(coefficients[-1])
    for c in reversed(coefficients[:-1]):
        node = _join("+", _tree(c), _join("*", xt, node))
    return Expression(node)
