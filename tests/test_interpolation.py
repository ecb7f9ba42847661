"""Interpolation codes against pyhf's interpolators and against their defining formulas."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pyhf
import pytest

from relaxed.histfactory import interpolation as interp

ALPHAS = np.array([-3.0, -1.7, -1.0, -0.6, -0.2, 0.0, 0.3, 0.9, 1.0, 1.4, 2.5])


def _pyhf_interpolate(code: str, lo, nom, hi, alphas):
    """pyhf interpolator on one histogram set: returns shape (len(alphas), nbins)."""
    pyhf.set_backend("numpy")
    histoset = [[[list(lo), list(nom), list(hi)]]]
    key = code.removeprefix("code")
    interpolator = pyhf.interpolators.get(int(key) if key.isdigit() else key)(
        histoset, subscribe=False
    )
    out = interpolator(pyhf.tensorlib.astensor([list(alphas)]))
    return np.asarray(out)[0, 0]


@pytest.mark.parametrize("code", ["code0", "code4p"])
def test_additive_codes_match_pyhf(code):
    nom = np.array([10.0, 20.0, 5.0])
    hi = np.array([12.0, 19.0, 9.0])
    lo = np.array([7.0, 23.0, 4.0])
    expected = _pyhf_interpolate(code, lo, nom, hi, ALPHAS)
    ours = interp.ADDITIVE_CODES[code](ALPHAS[:, None], hi - nom, nom - lo)
    np.testing.assert_allclose(ours, expected, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("code", ["code1", "code4"])
def test_multiplicative_codes_match_pyhf(code):
    hi = np.array([1.1, 1.4, 0.95])
    lo = np.array([0.8, 0.7, 1.02])
    expected = _pyhf_interpolate(code, lo, np.ones(3), hi, ALPHAS)
    ours = interp.MULTIPLICATIVE_CODES[code](ALPHAS[:, None], hi, lo)
    np.testing.assert_allclose(ours, expected, rtol=1e-13)


def test_code2_matches_pyhf_where_pyhf_is_right():
    """pyhf 0.7.6 drops the constant of both linear branches, so compare inside |alpha| <= 1."""
    nom = np.array([10.0, 20.0])
    hi = np.array([12.0, 19.0])
    lo = np.array([7.0, 23.0])
    alphas = ALPHAS[np.abs(ALPHAS) <= 1.0]
    expected = _pyhf_interpolate("code2", lo, nom, hi, alphas)
    ours = interp.code2(alphas[:, None], hi - nom, nom - lo)
    np.testing.assert_allclose(ours, expected, rtol=1e-13, atol=1e-13)


def test_code2_outside_is_the_published_formula():
    """Quadratic a*x^2 + b*x inside, linear continuation with matching value and slope."""
    nom, hi, lo = 10.0, 13.0, 8.5
    a = 0.5 * (hi + lo) - nom
    b = 0.5 * (hi - lo)
    for alpha in (-1.5, -2.0, -4.0):
        expected = (lo - nom) + (b - 2 * a) * (alpha + 1)
        assert float(interp.code2(alpha, hi - nom, nom - lo)) == pytest.approx(expected, rel=1e-14)
    for alpha in (1.5, 2.0, 4.0):
        expected = (hi - nom) + (b + 2 * a) * (alpha - 1)
        assert float(interp.code2(alpha, hi - nom, nom - lo)) == pytest.approx(expected, rel=1e-14)
    # value and slope are continuous at -1 and +1
    f = lambda x: interp.code2(x, hi - nom, nom - lo)  # noqa: E731
    df = jax.grad(f)
    for edge in (-1.0, 1.0):
        assert float(f(edge - 1e-9)) == pytest.approx(float(f(edge + 1e-9)), abs=1e-7)
        assert float(df(edge - 1e-9)) == pytest.approx(float(df(edge + 1e-9)), rel=1e-6)
    assert float(f(-1.0)) == pytest.approx(lo - nom)
    assert float(f(1.0)) == pytest.approx(hi - nom)


@pytest.mark.parametrize("hi,lo", [(1.1, 0.9), (1.5, 0.6), (0.9, 1.2)])
def test_code4_polynomial_matches_exponential_to_second_derivative(hi, lo):
    f = lambda x: interp.code4(x, hi, lo)  # noqa: E731
    exp_up = lambda x: jnp.power(hi, x)  # noqa: E731
    exp_dn = lambda x: jnp.power(lo, -x)  # noqa: E731
    d1, d2 = jax.grad(f), jax.grad(jax.grad(f))
    eps = 1e-7
    for edge, ref in ((1.0, exp_up), (-1.0, exp_dn)):
        inside = edge - np.sign(edge) * eps
        assert float(f(inside)) == pytest.approx(float(ref(edge)), rel=1e-6)
        assert float(d1(inside)) == pytest.approx(float(jax.grad(ref)(edge)), rel=1e-5)
        assert float(d2(inside)) == pytest.approx(
            float(jax.grad(jax.grad(ref))(edge)), rel=1e-5, abs=1e-9
        )
    assert float(f(0.0)) == 1.0


def test_no_variation_is_identity():
    """Slots without a modifier use delta = 0 (additive) and hi = lo = 1 (multiplicative)."""
    alphas = jnp.asarray(ALPHAS)
    for fn in interp.ADDITIVE_CODES.values():
        assert np.all(np.asarray(fn(alphas, 0.0, 0.0)) == 0.0)
        assert np.all(np.asarray(jax.vmap(jax.grad(lambda a, fn=fn: fn(a, 0.0, 0.0)))(alphas)) == 0)
    for fn in interp.MULTIPLICATIVE_CODES.values():
        np.testing.assert_allclose(fn(alphas, 1.0, 1.0), 1.0, rtol=1e-15)


@pytest.mark.parametrize("code", ["code0", "code2", "code4p"])
def test_additive_codes_are_linear_in_the_variations(code):
    """Delta(alpha) = alpha S + w(alpha) A (what a model evaluates) equals each code's formula,
    values and alpha-derivatives, on both sides of |alpha| = 1 and at the kinks."""
    rng = np.random.default_rng(3)
    up, dn = rng.normal(0.0, 5.0, (2, 7))
    s, a = 0.5 * (up + dn), 0.0625 * (up - dn)
    alphas = np.concatenate([ALPHAS, rng.uniform(-4, 4, 50)])

    def linear(alpha):
        return alpha * s + interp.histosys_weight(alpha, code) * a

    def direct(alpha):
        return interp.ADDITIVE_CODES[code](alpha, up, dn)

    for alpha in alphas:
        np.testing.assert_allclose(linear(alpha), direct(alpha), rtol=1e-13, atol=1e-12)
        np.testing.assert_allclose(
            jax.jacfwd(linear)(alpha), jax.jacfwd(direct)(alpha), rtol=1e-12, atol=1e-11
        )
    with pytest.raises(ValueError, match="unknown histosys interpolation code 'code9'"):
        interp.histosys_weight(0.5, "code9")
