"""LogisticRegression / SoftmaxRegression penalties (l1, elasticnet, none) against scikit-learn's saga optimum."""

import numpy as np
import pytest

from portable_ml import models as M
from portable_ml.testing import assert_close, dtype_name

from .helpers import optional_module, place_all
from .test_models_common import assert_fitted_on, torch_single_thread  # noqa: F401

make_classification = optional_module("sklearn.datasets").deferred("make_classification")
SkLogistic = optional_module("sklearn.linear_model").deferred("LogisticRegression")


ALPHA = 0.05


def _binary():
    X, y = make_classification(200, 5, n_informative=3, n_redundant=0, random_state=3)
    return X, np.where(y == 1, 4, -1)


def _multi():
    X, y = make_classification(240, 4, n_informative=3, n_redundant=0, n_classes=3, random_state=1)
    return X, np.array([2, 5, 9])[y]


def _sk(X, y, penalty, l1_ratio):
    # scikit-learn >= 1.8 spells the penalty through l1_ratio (and C = inf for none); saga to its
    # own tight tolerance reaches the optimum of C * sum(loss) + (1-r)/2 |w|^2 + r |w|_1
    r = {"l1": 1.0, "elasticnet": l1_ratio, "l2": 0.0, None: 0.0}[penalty]
    C = np.inf if penalty is None else 1.0 / (X.shape[0] * ALPHA)
    return SkLogistic(C=C, l1_ratio=r, solver="saga", tol=1e-13, max_iter=500000).fit(X, y)


@pytest.mark.parametrize("penalty, l1_ratio", [("l1", 0.5), ("elasticnet", 0.3), ("l2", 0.5), (None, 0.5)])
@pytest.mark.skip_backends(dask="one Dask pass per FISTA iteration (tens to hundreds); Dask is compared "
                                "iterate by iterate with NumPy in test_fista_on_dask_follows_memory")
def test_penalties_match_sklearn_saga(backend, float_dtype, penalty, l1_ratio):
    name = dtype_name(float_dtype)
    tol = dict(rtol=1e-7, atol=1e-8) if name == "float64" else dict(rtol=2e-3, atol=2e-4)
    solver_tol = 1e-10 if name == "float64" else 1e-5
    for (X, y), cls in [(_binary(), M.LogisticRegression), (_multi(), M.SoftmaxRegression)]:
        if penalty is None and cls is M.SoftmaxRegression:
            continue  # unpenalised multinomial: coefficients defined only up to a shift per feature
        ref = _sk(X, y, penalty, l1_ratio)
        Xb, yb = place_all(backend, X, y, dtype=name)
        m = cls(alpha=ALPHA, penalty=penalty, l1_ratio=l1_ratio, solver="fista", tol=solver_tol,
                max_iter=5000).fit(Xb, yb)
        assert_fitted_on(m, backend, float_dtype)
        assert_close(m.coef_, ref.coef_, **tol, err_msg=f"{cls.__name__}/{penalty} coef_")
        assert_close(m.intercept_, ref.intercept_, **tol, err_msg=f"{cls.__name__}/{penalty} intercept_")
        assert_close(m.predict_proba(Xb), ref.predict_proba(X), **tol)
        if penalty == "l1" and name == "float64":  # exact zeros where scikit-learn has them
            assert np.array_equal(backend.to_numpy(m.coef_) == 0, ref.coef_ == 0)
            assert (ref.coef_ == 0).any(), "the case should have a zero coefficient"


def test_l2_penalty_is_the_existing_objective_on_every_solver(backend):
    """penalty="l2" with fista reaches the Newton solution; penalty=None is alpha=0."""
    X, y = _binary()
    Xb, yb = place_all(backend, X, y)
    newton = M.LogisticRegression(alpha=ALPHA, tol=1e-12).fit(Xb, yb)
    fista = M.LogisticRegression(alpha=ALPHA, solver="fista", tol=1e-11, max_iter=5000).fit(Xb, yb)
    assert_close(fista.coef_, newton.coef_, rtol=1e-8, atol=1e-9)
    # elasticnet at l1_ratio = 0 is the l2 penalty
    en0 = M.LogisticRegression(alpha=ALPHA, penalty="elasticnet", l1_ratio=0.0, solver="fista", tol=1e-11,
                               max_iter=5000).fit(Xb, yb)
    assert_close(en0.coef_, newton.coef_, rtol=1e-8, atol=1e-9)
    none = M.LogisticRegression(alpha=3.0, penalty=None, tol=1e-12).fit(Xb, yb)
    zero = M.LogisticRegression(alpha=0.0, tol=1e-12).fit(Xb, yb)
    assert_close(none.coef_, zero.coef_, rtol=1e-9, atol=1e-10)


def test_strong_l1_zeroes_every_weight(backend):
    """alpha above max|X^T (y - ybar)|/n: the solution is w = 0, b = logit(mean y)."""
    X, y = _binary()
    t = (y == 4).astype(float)
    lam_max = np.abs(X.T @ (t - t.mean())).max() / len(y)
    m = M.LogisticRegression(alpha=1.01 * lam_max, penalty="l1", solver="fista", tol=1e-12,
                             max_iter=5000).fit(*place_all(backend, X, y))
    assert np.all(backend.to_numpy(m.coef_) == 0)
    assert_close(m.intercept_, np.array([np.log(t.mean() / (1 - t.mean()))]), rtol=1e-9, atol=1e-10)


def test_fista_on_dask_follows_memory():
    """Dask runs the same FISTA iterates as NumPy (one pass per iteration)."""
    da = pytest.importorskip("dask.array")
    import warnings

    X, y = _binary()
    kw = dict(alpha=ALPHA, penalty="elasticnet", l1_ratio=0.6, solver="fista", tol=1e-10, max_iter=15)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # not converged in 15 iterations, on purpose
        ref = M.LogisticRegression(**kw).fit(X, y)
        m = M.LogisticRegression(**kw).fit(da.from_array(X, chunks=64), da.from_array(y, chunks=64))
    assert isinstance(m.coef_, da.Array)
    assert_close(np.asarray(m.coef_), ref.coef_, rtol=1e-12, atol=1e-14)
    assert_close(np.asarray(m.intercept_), ref.intercept_, rtol=1e-12, atol=1e-14)
    assert m.n_iter_ == ref.n_iter_ == 15


@pytest.mark.parametrize("kw, match", [
    (dict(penalty="l3"), "penalty must be one of"),
    (dict(solver="sag"), "solver must be one of"),
    (dict(penalty="elasticnet", l1_ratio=1.5, solver="fista"), "l1_ratio must be"),
])
def test_bad_penalty_arguments(kw, match):
    X, y = _binary()
    with pytest.raises(ValueError, match=match):
        M.LogisticRegression(**kw).fit(X, y)


def test_warm_start_starts_from_the_previous_fit(backend):
    X, y = _binary()
    Xb, yb = place_all(backend, X, y)
    kw = dict(alpha=ALPHA, penalty="l1", solver="fista", tol=1e-10, max_iter=5000)
    cold = M.LogisticRegression(**kw).fit(Xb, yb)
    warm = M.LogisticRegression(warm_start=True, **kw).fit(Xb, yb)
    assert warm.n_iter_ == cold.n_iter_ > 5
    warm.fit(Xb, yb)  # from the optimum
    if backend.name != "dask":  # Dask fits always start at zero (documented)
        assert warm.n_iter_ <= 2
    assert_close(warm.coef_, cold.coef_, rtol=1e-8, atol=1e-9)
    for cls, (Xm, ym) in [(M.SoftmaxRegression, _multi())]:
        Xmb, ymb = place_all(backend, Xm, ym)
        a = cls(alpha=ALPHA, warm_start=True, tol=1e-10).fit(Xmb, ymb)
        a.set_params(alpha=2 * ALPHA).fit(Xmb, ymb)
        b = cls(alpha=2 * ALPHA, tol=1e-10).fit(Xmb, ymb)
        assert_close(a.coef_, b.coef_, rtol=1e-8, atol=1e-9)
