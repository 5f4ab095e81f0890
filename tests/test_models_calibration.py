"""CalibratedClassifier (Platt scaling) against scikit-learn's CalibratedClassifierCV on a frozen estimator."""

import numpy as np
import pytest

from portable_ml import models as M
from portable_ml.backend import backend_of
from portable_ml.testing import assert_close, dtype_name

from .helpers import optional_module, place, place_all
from .test_models_common import torch_single_thread  # noqa: F401

CalibratedClassifierCV = optional_module("sklearn.calibration").deferred("CalibratedClassifierCV")
make_classification = optional_module("sklearn.datasets").deferred("make_classification")
SkLogistic = optional_module("sklearn.linear_model").deferred("LogisticRegression")
SkGNB = optional_module("sklearn.naive_bayes").deferred("GaussianNB")


frozen = pytest.importorskip("sklearn.frozen")


def _data(k):
    X, y = make_classification(400, 5, n_informative=3, n_redundant=0, n_classes=k, random_state=k)
    return X, np.array([3, 5, 8])[y]


@pytest.mark.filterwarnings("ignore:Since FrozenEstimator:UserWarning")
@pytest.mark.parametrize("k", [2, 3])
@pytest.mark.parametrize("weighted", [False, True])
def test_sigmoid_matches_sklearn(backend, float_dtype, k, weighted):
    name = dtype_name(float_dtype)
    X, y = _data(k)
    sw = np.random.default_rng(0).uniform(0.0, 2.0, 200) if weighted else None
    cls = M.LogisticRegression if k == 2 else M.SoftmaxRegression
    sk = SkLogistic(C=1.0 / (200 * 0.5), solver="newton-cholesky", tol=1e-14).fit(X[:200], y[:200])
    ref = CalibratedClassifierCV(frozen.FrozenEstimator(sk), method="sigmoid").fit(X[200:], y[200:],
                                                                                  sample_weight=sw)
    Xtr, ytr, Xcal, ycal, Xb = place_all(backend, X[:200], y[:200], X[200:], y[200:], X, dtype=name)
    est = cls(alpha=0.5, tol=1e-12 if name == "float64" else 1e-5).fit(Xtr, ytr)
    m = M.CalibratedClassifier(est, tol=1e-10 if name == "float64" else 1e-5).fit(
        Xcal, ycal, sample_weight=None if sw is None else place(backend, sw, dtype=name))
    # scikit-learn's L-BFGS stops at a summed-gradient of 1e-6: its A, B are good to about 1e-8
    tol = dict(rtol=1e-6, atol=1e-7) if name == "float64" else dict(rtol=1e-3, atol=1e-4)
    assert backend_of(m.a_) == backend.name
    want_a = [c.a_ for c in ref.calibrated_classifiers_[0].calibrators]
    want_b = [c.b_ for c in ref.calibrated_classifiers_[0].calibrators]
    assert_close(m.a_, np.array(want_a), **tol)
    assert_close(m.b_, np.array(want_b), **tol)
    assert_close(m.predict_proba(Xb), ref.predict_proba(X), **tol)
    assert (backend.to_numpy(m.predict(Xb)) != ref.predict(X)).sum() <= 1


def test_predict_proba_only_estimator():
    """An estimator without decision_function is calibrated on its predict_proba, as in scikit-learn."""
    X, y = _data(3)
    sk = SkGNB().fit(X[:200], y[:200])
    ref = CalibratedClassifierCV(frozen.FrozenEstimator(sk), method="sigmoid").fit(X[200:], y[200:])
    m = M.CalibratedClassifier(M.GaussianNB().fit(X[:200], y[:200])).fit(X[200:], y[200:])
    assert_close(m.predict_proba(X), ref.predict_proba(X), rtol=1e-6, atol=1e-7)


def test_errors():
    X, y = _data(2)
    with pytest.raises(M.NotFittedError, match="needs a fitted estimator"):
        M.CalibratedClassifier(M.LogisticRegression()).fit(X, y)
    est = M.LogisticRegression().fit(X, y)
    with pytest.raises(ValueError, match="method must be 'sigmoid'"):
        M.CalibratedClassifier(est, method="isotonic").fit(X, y)
    with pytest.raises(ValueError, match="exactly the estimator's classes_"):
        M.CalibratedClassifier(est).fit(X, np.where(y == 3, 4, y))
