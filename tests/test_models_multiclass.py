"""OneVsRestClassifier against scikit-learn's OneVsRestClassifier over the same binary model."""

import numpy as np
import pytest

from portable_ml import models as M
from portable_ml.backend import backend_of
from portable_ml.testing import assert_close, dtype_name

from .helpers import optional_module, place_all
from .test_models_common import torch_single_thread  # noqa: F401

make_classification = optional_module("sklearn.datasets").deferred("make_classification")
SkLogistic = optional_module("sklearn.linear_model").deferred("LogisticRegression")
SkOvR = optional_module("sklearn.multiclass").deferred("OneVsRestClassifier")


@pytest.mark.parametrize("k", [2, 4])
def test_one_vs_rest_matches_sklearn(backend, float_dtype, k):
    name = dtype_name(float_dtype)
    X, y = make_classification(240, 5, n_informative=4, n_redundant=0, n_classes=k, random_state=k)
    y = np.array([1, 3, 6, 9])[y]
    alpha = 0.05
    ref = SkOvR(SkLogistic(C=1.0 / (240 * alpha), solver="newton-cholesky", tol=1e-14)).fit(X, y)
    Xb, yb = place_all(backend, X, y, dtype=name)
    m = M.OneVsRestClassifier(M.LogisticRegression(alpha=alpha, tol=1e-10 if name == "float64" else 1e-5))
    m.fit(Xb, yb)
    tol = dict(rtol=1e-8, atol=1e-9) if name == "float64" else dict(rtol=2e-4, atol=2e-5)
    assert backend_of(m.classes_) == backend.name and len(m.estimators_) == (1 if k == 2 else k)
    assert_close(m.classes_, ref.classes_)
    assert_close(m.decision_function(Xb), ref.decision_function(X), **{**tol, "atol": 10 * tol["atol"]})
    assert_close(m.predict_proba(Xb), ref.predict_proba(X), **tol)
    assert (backend.to_numpy(m.predict(Xb)) != ref.predict(X)).sum() <= 1


def test_errors():
    X, y = make_classification(60, 3, n_informative=2, n_redundant=0, random_state=0)
    with pytest.raises(M.NotFittedError):
        M.OneVsRestClassifier(M.LogisticRegression()).predict(X)
    with pytest.raises(TypeError, match="estimator must be an estimator"):
        M.OneVsRestClassifier(object()).fit(X, y)
