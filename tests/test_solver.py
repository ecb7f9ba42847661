"""The solver layer: dense SPD algebra without LAPACK, Newton and BFGS agreeing, results that
report convergence, and non-convergence raised or flagged."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import relaxed
from relaxed.exceptions import FailedMinimization, InvalidArgument
from relaxed.infer import hypotest, mle
from relaxed.infer.hypotest import hypotest_result
from relaxed.infer.linalg import cho_solve, cholesky, inv_spd, solve_spd


def _spd(seed: int, n: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(n, n))
    return a @ a.T + n * np.eye(n)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.sampled_from([1, 3, 12, 13, 40]))
def test_spd_routines_match_numpy(seed: int, n: int) -> None:
    a = _spd(seed, n)
    b = np.random.default_rng(seed + 1).normal(size=n)
    np.testing.assert_allclose(cholesky(a), np.linalg.cholesky(a), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(solve_spd(a, b), np.linalg.solve(a, b), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(cho_solve(cholesky(a), b), np.linalg.solve(a, b), rtol=1e-9)
    np.testing.assert_allclose(inv_spd(a), np.linalg.inv(a), rtol=1e-9, atol=1e-12)


def test_not_positive_definite_gives_nan() -> None:
    indefinite = jnp.array([[1.0, 2.0], [2.0, 1.0]])
    assert np.isnan(np.asarray(solve_spd(indefinite, jnp.ones(2)))).all()
    assert np.isnan(np.asarray(inv_spd(indefinite))).all()


def test_inverse_of_ill_conditioned_matrix_matches_exact() -> None:
    """The sweep-operator inverse against an exact (50-digit) inverse, on a matrix with
    condition number ~1e12 and badly scaled rows (as a Hessian with a tau ~ 1e11 shapesys):
    as accurate as LAPACK's."""
    rng = np.random.default_rng(1)
    n = 20
    q, _ = np.linalg.qr(rng.normal(size=(n, n)))
    scale = np.logspace(-3, 3, n)
    a = (q * np.logspace(0, 6, n)) @ q.T
    a = scale[:, None] * (0.5 * (a + a.T)) * scale[None, :]
    with mpmath.workdps(50):
        exact = np.array((mpmath.matrix(a.tolist()) ** -1).tolist(), dtype=float)
    lapack = np.max(np.abs(np.diag(np.linalg.inv(a)) / np.diag(exact) - 1))
    ours = np.max(np.abs(np.diag(np.asarray(inv_spd(a))) / np.diag(exact) - 1))
    assert ours < max(10 * lapack, 1e-9)


def test_batched_solve_is_plain_jax() -> None:
    """Mapped with vmap the solve has no LAPACK custom call (the batched LAPACK kernel is what
    deadlocked on 2-core machines): only ordinary XLA operations."""
    a = jnp.asarray(np.stack([_spd(s, 20) for s in range(4)]))
    b = jnp.ones((4, 20))
    hlo = jax.jit(jax.vmap(solve_spd)).lower(a, b).as_text()
    assert "lapack" not in hlo.lower() and "custom_call" not in hlo
    np.testing.assert_allclose(jax.vmap(solve_spd)(a, b), np.linalg.solve(a, b[..., None])[..., 0])


@pytest.fixture(scope="module")
def example() -> tuple[relaxed.Model, jax.Array]:
    import json
    from pathlib import Path

    path = Path(__file__).parents[1] / "neos" / "examples" / "example_workspace.json"
    ws = relaxed.Workspace(json.loads(path.read_text()))
    model = ws.model()
    return model, ws.data(model)


def test_newton_and_bfgs_reach_the_same_minimum(example) -> None:
    model, data = example
    newton = mle.fit(data, model, method="newton", return_result=True)
    bfgs = mle.fit(data, model, method="bfgs", return_result=True)
    assert bool(newton.converged) and bool(bfgs.converged)
    assert abs(float(newton.twice_nll) - float(bfgs.twice_nll)) < 1e-8
    np.testing.assert_allclose(newton.bestfit, bfgs.bestfit, atol=2e-4)
    assert 0 < int(newton.nit) < 200 and 0 < int(bfgs.nit) < 1000
    # the pyhf-style return agrees with the result object
    pars, nll = mle.fit(data, model, method="newton", return_fitted_val=True)
    np.testing.assert_allclose(pars, newton.bestfit, rtol=0, atol=0)
    assert float(nll) == float(newton.twice_nll)


def test_hypotest_same_with_either_method(example) -> None:
    model, data = example
    a = hypotest(1.0, data, model, return_expected_set=True, method="newton")
    b = hypotest(1.0, data, model, return_expected_set=True, method="bfgs", nstarts=3)
    np.testing.assert_allclose(a[0], b[0], rtol=1e-6)
    np.testing.assert_allclose(a[1], b[1], rtol=1e-6)


def _defeating_model() -> relaxed.Model:
    """A negative normalisation is allowed by the bounds, and the start puts it there: every
    rate is negative, the likelihood is NaN, and no step can repair it."""
    spec = {
        "channels": [
            {
                "name": "SR",
                "samples": [
                    {
                        "name": "sig",
                        "data": [5.0, 4.0],
                        "modifiers": [{"name": "mu", "type": "normfactor", "data": None}],
                    }
                ],
            }
        ],
        "parameters": [{"name": "mu", "bounds": [[-10.0, 10.0]], "inits": [-5.0]}],
    }
    return relaxed.Model(spec)


def test_fit_that_cannot_converge_raises_or_flags() -> None:
    model = _defeating_model()
    data = [6.0, 3.0]
    with pytest.raises(FailedMinimization, match="did not converge") as info:
        mle.fit(data, model)
    assert not bool(info.value.result.converged)
    result = mle.fit(data, model, return_result=True)
    assert not bool(result.converged)
    # inside jit nothing is raised: the flag is the answer
    flag = jax.jit(lambda d: mle.fit(d, model, return_result=True).converged)(jnp.asarray(data))
    assert not bool(flag)
    # a good start converges on the same model
    good = mle.fit(data, model, init_pars=[1.0], return_result=True)
    assert bool(good.converged) and abs(float(good.bestfit[0]) - 1.0) < 1e-8


def test_iteration_limit_is_reported(example) -> None:
    model, data = example
    with pytest.raises(FailedMinimization, match="after 2 iterations"):
        mle.fit(data, model, maxiter=2, nstarts=1)
    with pytest.raises(FailedMinimization):
        hypotest(1.0, data, model, maxiter=2)
    result = hypotest_result(1.0, data, model, maxiter=2)
    assert not bool(result.converged)
    assert bool(hypotest_result(1.0, data, model).converged)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"method": "lbfgs"},
        {"maxiter": 0},
        {"maxiter": 2.5},
        {"tolerance": -1.0},
        {"tolerance": float("nan")},
        {"nstarts": 2},
    ],
)
def test_bad_solver_options(kwargs, example) -> None:
    model, data = example
    with pytest.raises(InvalidArgument):
        mle.fit(data, model, **kwargs)


def test_single_start_option(example) -> None:
    model, data = example
    one = mle.fit(data, model, nstarts=1, return_result=True)
    three = mle.fit(data, model, nstarts=3, return_result=True)
    assert float(three.twice_nll) <= float(one.twice_nll) + 1e-9


def test_a_losing_start_at_a_non_finite_point_leaves_the_gradient_finite() -> None:
    """Of several starts, only the chosen minimum is differentiated: a start that ends where
    the objective is NaN (a negative Poisson rate in a fit) gives a zero contribution, not
    0 * NaN (the gradient of a 25-systematic neos analysis was NaN through this)."""
    import jax
    import jax.numpy as jnp

    from relaxed.infer.newton import NewtonSettings, minimize

    def f(x, t):  # (x - t)^2, NaN (value and derivatives) below x = -5
        return jnp.sum((x - t) ** 2 + 0.0 * jnp.sqrt(x + 5.0))

    settings = NewtonSettings(lower=(-10.0,), upper=(10.0,), fixed=(False,))
    starts = jnp.array([[1.0], [-8.0]])

    def best(t):
        results = jax.vmap(lambda x0: minimize(f, t, x0, settings))(starts)
        assert not bool(jnp.isfinite(results.x[1, 0] + f(results.x[1], t)))
        return results.x[0, 0]

    t = jnp.array([2.0])
    assert float(best(t)) == 2.0
    assert jax.grad(best)(t).tolist() == pytest.approx([1.0], rel=1e-12)
