r"""One-vs-rest multiclass classification from any binary classifier.

For classes :math:`c_1 < \dots < c_k`, ``OneVsRestClassifier`` fits one copy
of the estimator per class on the labels :math:`[y_i = c_j]` and predicts the
class of the largest score.  Probabilities are each binary model's
:math:`P(y = c_j \mid x)`, normalised over the classes:

.. math:: P(c_j \mid x) = \frac{p_j(x)}{\sum_l p_l(x)}

as scikit-learn's ``OneVsRestClassifier`` does (with two classes a single
model is fitted, on the positive class, as there).
"""

from __future__ import annotations

from .._xp import array_namespace
from ._base import ClassifierMixin, Estimator, NotFittedError, check_X_y, encode_labels

__all__ = ["OneVsRestClassifier"]


class OneVsRestClassifier(ClassifierMixin, Estimator):
    """One binary classifier per class (the class against the rest).

    Parameters
    ----------
    estimator : classifier
        An unfitted binary classifier of this library (copied by
        ``type(estimator)(**estimator.get_params())`` for every class).

    Attributes
    ----------
    estimators_ : list of fitted estimators
        One per class (one only for two classes).
    classes_ : array of shape (n_classes,)
    n_features_in_ : int
    """

    def __init__(self, estimator):
        self.estimator = estimator

    def fit(self, X, y, **fit_params):
        """Fit one copy of ``estimator`` per class on ``X`` and the labels ``y == class``.

        Extra keyword arguments (e.g. ``sample_weight``) go to every ``fit``.
        """
        if not hasattr(self.estimator, "get_params") or not hasattr(self.estimator, "fit"):
            raise TypeError(f"estimator must be an estimator with fit and get_params; got {self.estimator!r}")
        X, y, xp = check_X_y(X, y, y_numeric=False, check_finite=True)
        classes, Y = encode_labels(y, xp, X.dtype)
        k = int(classes.shape[0])
        cols = [1] if k == 2 else list(range(k))
        self.estimators_ = [
            type(self.estimator)(**self.estimator.get_params()).fit(X, xp.astype(Y[:, j], xp.int32), **fit_params)
            for j in cols
        ]
        self.classes_ = classes
        self.n_features_in_ = int(X.shape[1])
        return self

    def _check(self):
        if getattr(self, "estimators_", None) is None:
            raise NotFittedError("OneVsRestClassifier is not fitted yet; call fit first")

    def decision_function(self, X):
        """Scores of every class, shape (n_samples, n_classes) ((n_samples,) for two classes)."""
        self._check()
        S = [e.decision_function(X) for e in self.estimators_]
        return S[0] if len(S) == 1 else array_namespace(S[0]).stack(S, axis=1)

    def predict_proba(self, X):
        """Each class's binary probability, normalised over the classes; shape (n_samples, n_classes)."""
        self._check()
        P = [e.predict_proba(X)[:, 1] for e in self.estimators_]
        xp = array_namespace(P[0])
        if len(P) == 1:
            return xp.stack([1.0 - P[0], P[0]], axis=1)
        P = xp.stack(P, axis=1)
        return P / xp.sum(P, axis=1, keepdims=True)

    def predict(self, X):
        """The class of the largest score."""
        self._check()
        S = self.decision_function(X)
        xp = array_namespace(S)
        idx = xp.astype(S > 0, xp.int32) if S.ndim == 1 else xp.argmax(S, axis=1)
        return xp.take(self.classes_, idx, axis=0)
