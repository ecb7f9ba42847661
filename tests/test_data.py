"""neos.data: Gaussian blobs, reproducible, independent, with the configured means."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from neos.data import generate_blobs, make_train_test

MEANS = {
    "sig_mean": (-1.0, 1.0),
    "b_mean": (1.0, -1.0),
    "bup_mean": (2.5, 2.0),
    "bdown_mean": (-2.5, -1.5),
}


@pytest.fixture(scope="module")
def four():
    return generate_blobs(jax.random.PRNGKey(42), blobs=4, NMC=2000)()


def test_shapes_dtype_and_order(four):
    assert len(four) == 4
    for x in four:
        assert x.shape == (2000, 2) and x.dtype == np.float32  # float32 even under x64
    order = ("sig_mean", "b_mean", "bup_mean", "bdown_mean")
    three = generate_blobs(jax.random.PRNGKey(0), blobs=3, NMC=2000)()
    assert len(three) == 3
    for blobs, names in ((four, order), (three, ("sig_mean", "bup_mean", "bdown_mean"))):
        for x, name in zip(blobs, names, strict=True):
            # identity covariance: the standard error of each mean component is 1/sqrt(NMC)
            np.testing.assert_allclose(np.mean(x, axis=0), MEANS[name], atol=5 / np.sqrt(2000))


def test_identity_covariance(four):
    for x in four:
        cov = np.cov(np.asarray(x, dtype=np.float64), rowvar=False)
        # standard error of a variance is sqrt(2/N) ~ 0.03, of a covariance 1/sqrt(N) ~ 0.022
        np.testing.assert_allclose(cov, np.eye(2), atol=0.15)


def test_blobs_are_independent(four):
    noise = [np.asarray(x) - np.asarray(x).mean(axis=0) for x in four]
    for i in range(4):
        for j in range(i + 1, 4):
            assert not np.allclose(noise[i], noise[j])
            corr = np.corrcoef(noise[i][:, 0], noise[j][:, 0])[0, 1]
            assert abs(corr) < 5 / np.sqrt(2000)


def test_same_key_same_samples_other_key_other_samples():
    gen = generate_blobs(jax.random.PRNGKey(3), NMC=10)
    again = generate_blobs(jax.random.PRNGKey(3), NMC=10)
    other = generate_blobs(jax.random.PRNGKey(4), NMC=10)
    for a, b, c in zip(gen(), again(), other(), strict=True):
        np.testing.assert_array_equal(a, b)
        assert not np.any(np.asarray(a) == np.asarray(c))
    # an explicit key draws fresh samples; the default key stays the factory's
    fresh = gen(jax.random.PRNGKey(5))
    assert not np.any(np.asarray(fresh[0]) == np.asarray(gen()[0]))
    np.testing.assert_array_equal(gen(jax.random.PRNGKey(3))[0], gen()[0])
    # jit-compilable (XLA may fuse differently: equal up to float32 rounding)
    np.testing.assert_allclose(jax.jit(gen)(jax.random.PRNGKey(5))[1], fresh[1], rtol=1e-5)


def test_custom_means():
    sig, bup, bdown = generate_blobs(
        jax.random.PRNGKey(0),
        blobs=3,
        NMC=500,
        sig_mean=[10, 0],
        bup_mean=(0, 10),
        bdown_mean=np.array([-10.0, -10.0]),
    )()
    np.testing.assert_allclose(sig.mean(axis=0), [10, 0], atol=0.25)
    np.testing.assert_allclose(bup.mean(axis=0), [0, 10], atol=0.25)
    np.testing.assert_allclose(bdown.mean(axis=0), [-10, -10], atol=0.25)


def test_train_and_test_use_separate_keys():
    train, test = make_train_test(jax.random.PRNGKey(9), blobs=4, NMC=20)
    train_again, _ = make_train_test(jax.random.PRNGKey(9), blobs=4, NMC=20)
    for a, b, c in zip(train(), test(), train_again(), strict=True):
        assert a.shape == b.shape == (20, 2)
        assert not np.any(np.asarray(a) == np.asarray(b))
        np.testing.assert_array_equal(a, c)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"blobs": 2}, "blobs must be 3 or 4"),
        ({"blobs": 5}, "blobs must be 3 or 4"),
        ({"NMC": 0}, "NMC must be a positive integer"),
        ({"NMC": -3}, "NMC must be a positive integer"),
        ({"NMC": 2.5}, "NMC must be a positive integer"),
        ({"sig_mean": (1.0,)}, "sig_mean must be a sequence of 2"),
        ({"bup_mean": (1.0, 2.0, 3.0)}, "bup_mean must be a sequence of 2"),
        ({"bdown_mean": "ab"}, "bdown_mean must be a sequence of 2"),
        ({"b_mean": (np.nan, 0.0)}, "b_mean must be a sequence of 2 finite"),
        ({"dtype": np.int32}, "dtype must be a floating dtype"),
    ],
)
def test_bad_arguments_name_the_argument(kwargs, match):
    with pytest.raises(ValueError, match=match):
        generate_blobs(jax.random.PRNGKey(0), **kwargs)
    with pytest.raises(ValueError, match=match):
        make_train_test(jax.random.PRNGKey(0), **kwargs)
