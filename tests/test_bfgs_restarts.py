"""BFGS on a hard pseudo-experiment of a published 218-parameter likelihood.

The data set (``tests/data/compressed_poi_toy.json``, drawn by relaxed) is a toy of the
ATLAS-SUSY-2018-16 compressed background-only workspace with a POI added. A projected BFGS
step pushes a Poisson-constrained :math:`\\gamma` onto its lower bound, where the gradient
grows like :math:`1/\\gamma`: the solver used to stop there, not converged, at
:math:`-2\\log L = 806.66`, and without its convergence check it reported a convergence at
552.99, where the estimate :math:`B` of the inverse Hessian had gone stale.
"""

from __future__ import annotations

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import shared_path

import relaxed
from relaxed.infer import calculators, mle, newton

TOY = json.loads((Path(__file__).parent / "data" / "compressed_poi_toy.json").read_text())


@pytest.fixture(scope="module")
def model() -> relaxed.Model:
    spec = json.loads(
        shared_path("atlas_real/ATLAS-SUSY-2018-16_compressed-bkgonly/BkgOnly.json").read_text()
    )
    spec["channels"][0]["samples"][0]["modifiers"].append(
        {"name": "mu", "type": "normfactor", "data": None}
    )
    for measurement in spec["measurements"]:
        measurement["config"]["poi"] = "mu"
    ws = relaxed.Workspace(spec)
    return ws.model()


@pytest.fixture(scope="module")
def fits(model):
    """The conditional (mu = 1) and free fits of the toy, in one vmapped solver (as toys run)."""
    init, config = calculators._resolve(model, None, None, None, None)
    assert config.settings.method == "bfgs"
    data = jnp.asarray(TOY["data"])
    poi = model.config.poi_index
    starts = jnp.stack([init.at[poi].set(1.0), init])
    run = jax.jit(
        lambda d, x0, fix: mle.fit_batch(model, d, x0, fix, config.settings, config.solver.nstarts)
    )
    result = run(jnp.stack([data, data]), starts, jnp.asarray([True, False]))
    return result, config.settings, data


def _exact_edm(model, settings, data, x, fixed):
    """1/2 g_F^T H_FF^{-1} g_F with the exact Hessian on the free components at x."""
    objective = lambda p: mle.twice_nll(p, data, model)  # noqa: E731
    g = jax.grad(objective)(x)
    h = jax.hessian(objective)(x)
    free = np.asarray(newton.free_mask(x, g, settings, fixed))
    g_free = np.asarray(g)[free]
    return 0.5 * g_free @ np.linalg.solve(np.asarray(h)[np.ix_(free, free)], g_free)


def test_hard_toy_fits_converge_to_a_minimum(model, fits):
    result, settings, data = fits
    assert np.asarray(result.converged).tolist() == [True, True]
    poi = model.config.poi_index
    fixed = [jnp.zeros(model.config.npars, bool).at[poi].set(True), None]
    for i in range(2):
        edm = _exact_edm(model, settings, data, result.bestfit[i], fixed[i])
        assert edm < 1e-6, (i, edm)
    cond, free = np.asarray(result.twice_nll)
    # the free minimum lies below the conditional one (which the free fit could reach)
    assert free <= cond + calculators.FIT_ORDER_TOLERANCE
    assert free < 552.99 - 10.0  # the stale-estimate stop, and the old 806.66


def test_set_stats_drops_a_free_fit_above_the_conditional_one():
    """``_set_stats`` flags a data set whose free fit ends above its conditional fit (another
    local minimum) as not converged, instead of clipping its test statistic to 0."""
    cond = jnp.asarray([5.0, 5.0, 5.0])
    free = jnp.asarray([4.0, 5.0 + 0.5 * calculators.FIT_ORDER_TOLERANCE, 5.1])
    ok = calculators._ordered_fits(cond, free)
    assert np.asarray(ok).tolist() == [True, True, False]
