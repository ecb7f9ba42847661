"""The HS3 generic expression language (relaxed.unbinned.expressions): values against numpy
and hand computation, precedence and associativity, errors with positions, gradients against
finite differences, the HS3 functions sum/product/polynomial, and a property test of random
expression trees against a reference evaluator written here."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special

from relaxed.exceptions import InvalidExpression, InvalidModel
from relaxed.unbinned.expressions import (
    FUNCTIONS,
    Binary,
    Expression,
    Num,
    Unary,
    Var,
    as_expression,
    parse_expression,
    polynomial_function,
    product_function,
    sum_function,
)

VALUES = {"x": 0.7, "y": -1.3, "a": 2.5, "b": 0.4, "alpha_JES": 0.25, "n.sig": 3.0}


def _eval(text: str, **values: float) -> float:
    return float(parse_expression(text)({**VALUES, **values}))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1 + 2", 3.0),
        ("7 - 2 - 1", 4.0),  # left-associative
        ("8 / 4 / 2", 1.0),
        ("2 * 3 + 4", 10.0),
        ("2 + 3 * 4", 14.0),
        ("(2 + 3) * 4", 20.0),
        ("2 / 3", 2.0 / 3.0),  # floating-point division
        ("2^3^2", 512.0),  # right-associative
        ("(2^3)^2", 64.0),
        ("2**3**2", 512.0),
        ("-2^2", -4.0),  # -(2^2)
        ("(-2)^2", 4.0),
        ("2^-1", 0.5),
        ("2^-2^2", 2.0**-4),  # 2^(-(2^2))
        ("-x^2", -(0.7**2)),
        ("- -3", 3.0),
        ("+3", 3.0),
        ("-3 * 2", -6.0),
        ("1e-3 * 1000", 1.0),
        ("1.5E+2", 150.0),
        (".5 + 5.", 5.5),
        ("1.25e2", 125.0),
        ("PI", math.pi),
        ("EULER", math.e),
        ("TRUE + TRUE + FALSE", 2.0),
        ("a * x + b", 2.5 * 0.7 + 0.4),
        ("alpha_JES * n.sig", 0.75),
        ("exp(-0.5 * ((x - a) / b)^2)", math.exp(-0.5 * ((0.7 - 2.5) / 0.4) ** 2)),
        ("pow(a, b) + pow(2, 10)", 2.5**0.4 + 1024.0),
        ("min(x, y) + max(x, y)", 0.7 - 1.3),
        ("abs(y) + sqrt(4)", 1.3 + 2.0),
        ("log(EULER^3)", 3.0),
        ("sin(x)^2 + cos(x)^2", 1.0),
        ("tan(x)", math.tan(0.7)),
        ("asin(b) + acos(b) - PI / 2", 0.0),
        ("atan(1) * 4", math.pi),
        ("erf(x) + erfc(x)", 1.0),
        ("log10(1000)", 3.0),
        ("atan2(1, 1)", math.pi / 4),
        ("sinh(x) / cosh(x) - tanh(x)", 0.0),
        ("TMath::Exp(1) - EULER", 0.0),
        ("TMath::Power(2, 5)", 32.0),
        ("TMath::Pi() - PI", 0.0),
        ("TMath::Sqrt(x) - std::sqrt(x)", 0.0),
        ("TMath::Erf(0.5)", math.erf(0.5)),
        ("fabs(y)", 1.3),
    ],
)
def test_values(text: str, expected: float) -> None:
    assert _eval(text) == pytest.approx(expected, rel=1e-14, abs=1e-14)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1 < 2", 1.0),
        ("2 <= 2", 1.0),
        ("1 > 2", 0.0),
        ("2 >= 3", 0.0),
        ("0.1 + 0.2 == 0.3", 1.0),  # approximately equal
        ("0.1 + 0.2 === 0.3", 0.0),  # exactly equal
        ("0.1 + 0.2 != 0.3", 0.0),
        ("0.1 + 0.2 !== 0.3", 1.0),
        ("1 == 1.0001", 0.0),
        ("!0", 1.0),
        ("!3", 0.0),
        ("!0 + 1", 2.0),  # unary binds tighter than +
        ("1 && 0", 0.0),
        ("1 || 0 && 0", 1.0),  # && binds tighter than ||
        ("(1 || 0) && 0", 0.0),
        ("1 < 2 == 1", 1.0),  # comparisons left-associative: (1 < 2) == 1
        ("1 + 1 < 3", 1.0),  # arithmetic before comparison
        ("ifelse(x > 0, 10, 20)", 10.0),
        ("ifelse(y > 0, 10, 20)", 20.0),
    ],
)
def test_comparisons_and_logic(text: str, expected: float) -> None:
    assert _eval(text) == expected


def test_functions_against_numpy_on_arrays() -> None:
    x = np.linspace(0.05, 0.95, 7)
    checks = {
        "exp": np.exp,
        "log": np.log,
        "sqrt": np.sqrt,
        "abs": np.abs,
        "sin": np.sin,
        "cos": np.cos,
        "tan": np.tan,
        "asin": np.arcsin,
        "acos": np.arccos,
        "atan": np.arctan,
        "erf": special.erf,
        "erfc": special.erfc,
        "log10": np.log10,
        "sinh": np.sinh,
        "cosh": np.cosh,
        "tanh": np.tanh,
    }
    for name, reference in checks.items():
        got = np.asarray(parse_expression(f"{name}(x)")({"x": x}))
        np.testing.assert_allclose(got, reference(x), rtol=2e-15, atol=0, err_msg=name)
    y = x[::-1]
    for name, reference in {"min": np.minimum, "max": np.maximum, "atan2": np.arctan2}.items():
        got = np.asarray(parse_expression(f"{name}(x, y)")({"x": x, "y": y}))
        np.testing.assert_allclose(got, reference(x, y), rtol=2e-15, err_msg=name)
    got = np.asarray(parse_expression("pow(x, y)")({"x": x, "y": y}))
    np.testing.assert_allclose(got, x**y, rtol=2e-15)
    assert set(checks) | {"min", "max", "atan2", "pow", "ifelse"} == set(FUNCTIONS)


def test_parameters_are_sorted_free_names() -> None:
    e = parse_expression("z * exp(-a.b * x) + TMath::Exp(y) + PI")
    assert e.parameters == ("a.b", "x", "y", "z")
    assert parse_expression("2 * 3").parameters == ()


def test_an_integer_power_is_exact_with_finite_gradients() -> None:
    square = parse_expression("x^2")
    assert float(jax.grad(lambda v: square({"x": v}))(-3.0)) == -6.0
    cube = parse_expression("pow(x, 3)")
    assert float(jax.grad(lambda v: cube({"x": v}))(0.0)) == 0.0
    inverse = parse_expression("x^-2")
    assert float(inverse({"x": 4.0})) == 1.0 / 16.0
    assert float(parse_expression("(-2)^3")({})) == -8.0


@pytest.mark.parametrize(
    "text",
    [
        "exp(-0.5 * ((x - a) / b)^2) / b",
        "a * x^3 - sin(a * x) + log(1 + x^2)",
        "pow(x, a) * sqrt(b + x)",
        "atan(x / a) + erf(x * b) + max(x, b)^2",
        "ifelse(x > b, x^2, b * x)",
        "tanh(x)^a + TMath::Power(x, 2.5)",
    ],
)
def test_gradients_against_finite_differences(text: str) -> None:
    expr = parse_expression(text)
    names = expr.parameters
    point = jnp.asarray([{"x": 0.7, "a": 2.5, "b": 0.4}[n] for n in names])

    def f(p: jax.Array) -> jax.Array:
        return expr(dict(zip(names, p, strict=True)))

    grad = np.asarray(jax.jit(jax.grad(f))(point))
    h = 1e-6
    for i in range(len(names)):
        step = np.zeros(len(names))
        step[i] = h
        numeric = (float(f(point + step)) - float(f(point - step))) / (2 * h)
        assert grad[i] == pytest.approx(numeric, rel=1e-7, abs=1e-9), names[i]


def test_jit_and_vmap() -> None:
    expr = parse_expression("a * exp(-x / b)")
    xs = jnp.linspace(0.0, 2.0, 5)
    bs = jnp.asarray([0.5, 1.0, 2.0])
    got = jax.jit(jax.vmap(lambda b: expr({"a": 2.0, "b": b, "x": xs})))(bs)
    np.testing.assert_allclose(
        np.asarray(got), 2.0 * np.exp(-np.asarray(xs)[None, :] / np.asarray(bs)[:, None])
    )
    assert got.dtype == jnp.float64


@pytest.mark.parametrize(
    ("text", "position", "fragment"),
    [
        ("", 0, "empty"),
        ("x +", 3, "expected a number, a name or '(', got the end"),
        ("2 * (x + 1", 10, "expected ')'"),
        ("x)", 1, "unexpected ')'"),
        ("x $ 2", 2, "unexpected character '$'"),
        ("2x", 1, "unexpected 'x'"),
        ("a + * b", 4, "got '*'"),
        ("expo(x)", 0, "unknown function 'expo'"),
        ("1 + foo(2)", 4, "unknown function 'foo'"),
        ("exp(x, y)", 0, "exp() takes 1 argument, got 2"),
        ("pow(x)", 0, "pow() takes 2 arguments, got 1"),
        ("max(1, )", 7, "got ')'"),
        ("sin(", 4, "got the end"),
        ("(" * 70 + "x" + ")" * 70, 64, "nested more than 64 levels"),
        ("1 ^ ^ 2", 4, "got '^'"),
        ("a = b", 2, "unexpected character '='"),
    ],
)
def test_syntax_errors_name_expression_and_position(
    text: str, position: int, fragment: str
) -> None:
    with pytest.raises(InvalidExpression) as info:
        parse_expression(text)
    err = info.value
    assert isinstance(err, InvalidModel)
    assert err.position == position and err.expression == text
    assert str(err).startswith(f"position {position} of {text!r}: ")
    assert fragment in str(err)


def test_missing_value_and_bad_input() -> None:
    with pytest.raises(InvalidExpression, match="no value given for 'b'"):
        parse_expression("a + b")({"a": 1.0})
    with pytest.raises(InvalidExpression, match="must be a string"):
        parse_expression(3.0)  # type: ignore[arg-type]
    with pytest.raises(InvalidExpression, match="expected a name, a number or an expression"):
        sum_function([None])  # type: ignore[list-item]


def test_deep_trees_are_refused_not_crashing() -> None:
    deep = " + ".join(["x"] * 500)  # a left-deep chain 500 deep
    with pytest.raises(InvalidExpression, match="nested more than 400 levels"):
        parse_expression(deep)
    long_sum = sum_function([f"x{i}" for i in range(2000)])  # balanced: depth ~11
    assert float(long_sum({f"x{i}": 1.0 for i in range(2000)})) == 2000.0


def test_hs3_functions() -> None:
    s = sum_function([1.8, 4, "param_xy", parse_expression("2 * k")])
    assert s.parameters == ("k", "param_xy")
    assert float(s({"param_xy": 0.2, "k": 1.0})) == pytest.approx(8.0, rel=1e-15)
    p = product_function(["a", 2.0, sum_function(["b", 1.0])])
    assert float(p({"a": 1.5, "b": 3.0})) == 12.0
    poly = polynomial_function("x", [1.0, "c1", -0.5, 0.25])
    x = np.linspace(-2.0, 3.0, 11)
    np.testing.assert_allclose(
        np.asarray(poly({"x": x, "c1": 0.3})),
        np.polynomial.polynomial.polyval(x, [1.0, 0.3, -0.5, 0.25]),
        rtol=1e-14,
        atol=1e-14,
    )
    assert float(sum_function([])({})) == 0.0 and float(product_function([])({})) == 1.0
    assert float(polynomial_function("x", [])({})) == 0.0
    # composition: a polynomial in a function of parameters
    composed = polynomial_function(sum_function(["u", "v"]), [0.0, 0.0, 1.0])
    assert float(composed({"u": 1.0, "v": 2.0})) == 9.0


def test_substitute_and_arithmetic() -> None:
    f = parse_expression("a * x + b")
    g = f.substitute({"a": parse_expression("k^2"), "b": 1.0, "x": "t"})
    assert g.parameters == ("k", "t")
    assert float(g({"k": 3.0, "t": 2.0})) == 19.0
    assert str(g) == "k^2 * t + 1"
    h = 1.0 - as_expression("c") * 2.0 / as_expression("d")
    assert float(h({"c": 1.0, "d": 4.0})) == 0.5
    assert -as_expression("c") == Expression(Unary("-", Var("c")))
    # numbers fold, identities drop
    assert (as_expression(2.0) * 3.0).tree == Num(6.0)
    assert (1.0 * as_expression("c") + 0.0).tree == Var("c")
    assert (as_expression("c") / 1.0).tree == Var("c")
    assert (as_expression(1.0) / 0.0).tree == Binary("/", Num(1.0), Num(0.0))  # not folded


@pytest.mark.parametrize(
    "text",
    [
        "a + b * c - d / e",
        "-(x)^2",
        "(-x)^2",
        "a^b^c",
        "(a^b)^c",
        "2^-x^2",
        "!a && b || c < d",
        "a - (b - c)",
        "a / (b * c)",
        "ifelse(x >= 0, sqrt(x), -x)",
        "--x",
        "a - -b",
        "x * -y",
        "1e-05 * x + 1.5e+300",
    ],
)
def test_printing_round_trips(text: str) -> None:
    e = parse_expression(text)
    assert parse_expression(str(e)) == e
    assert repr(e) == f"Expression({str(e)!r})"


# -- property test: random trees, printed here, parsed there, evaluated both ways ----------

_NAMES = ("x", "y", "z_1", "w.2")
_ENV = {"x": 0.7, "y": -1.3, "z_1": 2.2, "w.2": 0.45}
_UNARY_FUNCTIONS = {
    "exp": np.exp,
    "sin": np.sin,
    "cos": np.cos,
    "atan": np.arctan,
    "abs": np.abs,
    "tanh": np.tanh,
}
_BINARY_FUNCTIONS = {"min": np.minimum, "max": np.maximum}
_OPS = {
    "+": np.add,
    "-": np.subtract,
    "*": np.multiply,
    "/": np.divide,
}


def _trees() -> st.SearchStrategy:
    leaves = st.one_of(
        st.sampled_from(_NAMES).map(lambda n: ("var", n)),
        st.floats(1e-3, 50.0).map(lambda v: ("num", v)),  # no subnormals: XLA flushes them
        st.integers(0, 4).map(lambda v: ("num", float(v))),
    )

    def extend(children: st.SearchStrategy) -> st.SearchStrategy:
        return st.one_of(
            st.tuples(st.sampled_from(sorted(_OPS)), children, children).map(lambda t: ("op", *t)),
            st.tuples(children, st.integers(0, 3)).map(lambda t: ("pow", *t)),
            children.map(lambda c: ("neg", c)),
            st.tuples(st.sampled_from(sorted(_UNARY_FUNCTIONS)), children).map(
                lambda t: ("f1", *t)
            ),
            st.tuples(st.sampled_from(sorted(_BINARY_FUNCTIONS)), children, children).map(
                lambda t: ("f2", *t)
            ),
        )

    return st.recursive(leaves, extend, max_leaves=12)


def _print(tree: tuple, style: int) -> str:
    """Fully bracketed text, in one of several spellings (spaces, ``^`` or ``**``)."""
    kind = tree[0]
    sp = " " if style % 2 else ""
    if kind == "var":
        return tree[1]
    if kind == "num":
        return repr(tree[1]) if style % 3 else f"{tree[1]:.17e}"
    if kind == "op":
        return f"({_print(tree[2], style)}{sp}{tree[1]}{sp}{_print(tree[3], style)})"
    if kind == "pow":
        power = "**" if style % 2 else "^"
        return f"({_print(tree[1], style)}{power}{tree[2]})"
    if kind == "neg":
        return f"(-{_print(tree[1], style)})"
    if kind == "f1":
        return f"{tree[1]}({_print(tree[2], style)})"
    return f"{tree[1]}({_print(tree[2], style)},{sp}{_print(tree[3], style)})"


def _minimal(tree: tuple) -> tuple[str, int]:
    """The text with the fewest brackets by the usual conventions (``*`` over ``+``, unary
    minus over both, the power over unary minus), and its binding strength."""
    kind = tree[0]
    if kind in ("var", "num"):
        return (tree[1] if kind == "var" else repr(tree[1])), 9
    if kind == "op":
        strength = 4 if tree[1] in "+-" else 5
        (left, ls), (right, rs) = _minimal(tree[2]), _minimal(tree[3])
        left = f"({left})" if ls < strength else left
        right = f"({right})" if rs <= strength else right
        return f"{left} {tree[1]} {right}", strength
    if kind == "neg":
        inner, strength = _minimal(tree[1])
        return "-" + (f"({inner})" if strength < 6 else inner), 6
    if kind == "pow":
        base, strength = _minimal(tree[1])
        return (f"({base})" if strength <= 7 else base) + f"^{tree[2]}", 7
    args = ", ".join(_minimal(child)[0] for child in tree[2:])
    return f"{tree[1]}({args})", 9


def _reference(tree: tuple) -> tuple[np.float64, float]:
    """The value, and the largest magnitude of the values on the way (for the tolerance:
    roundings of the order of an ulp of those may survive a cancellation)."""
    kind = tree[0]
    if kind in ("var", "num"):
        value = np.float64(_ENV[tree[1]] if kind == "var" else tree[1])
        return value, abs(float(value))
    children = [c for c in tree[1:] if isinstance(c, tuple)]
    parts = [_reference(child) for child in children]
    args = [v for v, _ in parts]
    if kind == "op":
        value = _OPS[tree[1]](*args)
    elif kind == "pow":
        value = args[0] ** tree[2]
    elif kind == "neg":
        value = -args[0]
    elif kind == "f1":
        value = _UNARY_FUNCTIONS[tree[1]](*args)
    else:
        value = _BINARY_FUNCTIONS[tree[1]](*args)
    return value, max([abs(float(value))] + [scale for _, scale in parts])


@settings(max_examples=150, deadline=None, derandomize=True)
@given(tree=_trees(), style=st.integers(0, 5))
def test_random_expressions_match_a_reference_evaluator(tree: tuple, style: int) -> None:
    text = _print(tree, style)
    expr = parse_expression(text)
    with np.errstate(all="ignore"):
        expected, scale = _reference(tree)
    got = np.float64(expr(_ENV))
    if not (np.isfinite(expected) and np.isfinite(scale)):
        return  # an overflow on the way: nothing to compare to a float64 precision
    assert abs(got - expected) <= 1e-10 * abs(expected) + 1e-13 * scale, (text, got, expected)
    # the conventional precedence gives the same tree without the brackets
    assert parse_expression(_minimal(tree)[0]) == expr
    # and the parser's own printing reads back to the same tree
    assert parse_expression(str(expr)) == expr
