r"""Probability calibration of a fitted classifier: Platt's sigmoid.

For decision values :math:`f_i` of a fitted classifier (its
``decision_function``, else its ``predict_proba`` of the class) and labels
:math:`y_i \in \{0, 1\}` (one class against the rest), Platt scaling fits

.. math::
    P(y = 1 \mid f) = \frac{1}{1 + e^{A f + B}}

by minimising the (sample-weighted) log loss against Platt's smoothed targets

.. math::
    t_i = \frac{N_+ + 1}{N_+ + 2}\ (y_i = 1),\qquad t_i = \frac{1}{N_- + 2}\ (y_i = 0)

(:math:`N_\pm` the (weighted) numbers of positive and negative samples), as
scikit-learn's ``CalibratedClassifierCV(method="sigmoid")`` does.  The
two-parameter problem is an unpenalised binary logistic regression on the
single feature :math:`f` with :math:`(w, b) = (-A, -B)`, solved to
:math:`\|\nabla\|_\infty \le` ``tol`` by the damped Newton iteration of
:mod:`portable_ml.models.logistic` (:func:`~portable_ml.models.logistic_newton_step`).

With two classes only the positive class is calibrated and
:math:`P(\text{neg}) = 1 - P(\text{pos})`; with more, every class is
calibrated against the rest and the rows are normalised to sum to 1 (uniform
where every calibrated probability is 0), again as scikit-learn.
"""

from __future__ import annotations

from .._numerics import sigmoid
from .._validate import check_int
from .._xp import array_namespace, check_positive, device_of
from ._base import (
    ClassifierMixin,
    Estimator,
    NotFittedError,
    check_sample_weight,
    check_X_y,
    compiled,
    computed,
    encode_labels,
    is_true,
    warn_not_converged,
)
from .logistic import _newton_iteration

__all__ = ["CalibratedClassifier"]


def _platt_targets(Y, sw, *, xp):
    """Platt's smoothed targets for every column of the one-hot ``Y`` (n, k)."""
    W = Y if sw is None else Y * sw[:, None]
    total = xp.sum(xp.ones_like(Y[:, 0]) if sw is None else sw)
    pos = xp.sum(W, axis=0)
    neg = total - pos
    return xp.where(Y > 0, (pos + 1.0) / (pos + 2.0), 1.0 / (neg + 2.0))


class CalibratedClassifier(ClassifierMixin, Estimator):
    r"""Platt-scaled probabilities of an already fitted classifier.

    Parameters
    ----------
    estimator : fitted classifier
        Any fitted classifier of this library (or one with ``classes_`` and
        ``decision_function`` or ``predict_proba`` on the same arrays); it is
        not refitted (scikit-learn's ``CalibratedClassifierCV`` with a
        ``FrozenEstimator``).
    method : {"sigmoid"}, default "sigmoid"
        Platt scaling (see the module notes).
    max_iter : int, default 100
        Newton iterations per calibrated class.
    tol : float, default 1e-10
        Stop when the gradient of the mean log loss is at most ``tol``.

    Attributes
    ----------
    classes_ : array of shape (n_classes,)
    a_, b_ : arrays of shape (n_calibrated,)
        Platt's :math:`A` and :math:`B` per calibrated class (one for two
        classes, the positive one).
    n_iter_ : int
        Most Newton iterations taken by a class.
    n_features_in_ : int
    """

    def __init__(self, estimator, *, method="sigmoid", max_iter=100, tol=1e-10):
        self.estimator = estimator
        self.method = method
        self.max_iter = max_iter
        self.tol = tol

    def _decision(self, X):
        est = self.estimator
        if hasattr(est, "decision_function"):
            F = est.decision_function(X)
        else:
            F = est.predict_proba(X)
            if F.shape[1] == 2:
                F = F[:, 1]
        xp = array_namespace(F)
        return F[:, None] if F.ndim == 1 else F, xp

    def fit(self, X, y, sample_weight=None):
        """Fit the sigmoid(s) on held-out ``X`` (n_samples, n_features) and labels ``y`` (n_samples,)."""
        if self.method != "sigmoid":
            raise ValueError(f"method must be 'sigmoid'; got method={self.method!r}")
        check_int(self.max_iter, "max_iter", low=1)
        check_positive(self.tol, "tol", strict=False)
        if getattr(self.estimator, "classes_", None) is None:
            raise NotFittedError("CalibratedClassifier needs a fitted estimator (it is not refitted); "
                                 f"fit {type(self.estimator).__name__} first")
        X, y, xp = check_X_y(X, y, y_numeric=False, check_finite=True)
        classes, Y = encode_labels(y, xp, X.dtype)
        k = int(classes.shape[0])
        if k != int(self.estimator.classes_.shape[0]) or not is_true(xp.all(classes == self.estimator.classes_)):
            raise ValueError("y must hold exactly the estimator's classes_")
        sw = check_sample_weight(sample_weight, X)
        F, _ = self._decision(X)
        T = _platt_targets(Y, sw, xp=xp)
        if k == 2:
            T = T[:, 1:]
        # the n decision values of each class are the whole data of a two-parameter fit: on Dask
        # they are computed once and the Newton iterations run in memory
        (F, T, sw), back = computed((F, T, sw))
        mem = array_namespace(F)
        step = compiled(_newton_iteration, mem)
        A, B, iters = [], [], 0
        for c in range(F.shape[1]):
            f, t = F[:, c:c + 1], T[:, c]
            theta = mem.zeros((2,), dtype=F.dtype, device=device_of(F))
            for it in range(1, self.max_iter + 1):
                theta, gmax = step(theta, f, t, 0.0, sw, kind="binary", fit_intercept=True)
                if is_true(gmax <= self.tol):
                    break
            else:
                warn_not_converged("CalibratedClassifier", self.max_iter, "gradient above tol")
            iters = max(iters, it)
            A.append(-theta[0])
            B.append(-theta[1])
        self.a_, self.b_ = back((mem.stack(A), mem.stack(B)))
        self.classes_ = classes
        self.n_iter_ = iters
        self.n_features_in_ = int(X.shape[1])
        return self

    def predict_proba(self, X):
        """Calibrated class probabilities, shape (n_samples, n_classes)."""
        self._check_fitted("a_")
        F, xp = self._decision(X)
        P = sigmoid(-(F * self.a_ + self.b_), xp=xp)
        if self.classes_.shape[0] == 2:
            return xp.concat([1.0 - P, P], axis=1)
        total = xp.sum(P, axis=1, keepdims=True)
        k = P.shape[1]
        return xp.where(total > 0, P / xp.where(total > 0, total, xp.ones_like(total)), xp.ones_like(P) / k)

    def predict_log_proba(self, X):
        """Logarithm of :meth:`predict_proba`."""
        P = self.predict_proba(X)
        return array_namespace(P).log(P)

    def predict(self, X):
        """The class of highest calibrated probability."""
        P = self.predict_proba(X)
        xp = array_namespace(P)
        return xp.take(self.classes_, xp.argmax(P, axis=1), axis=0)
