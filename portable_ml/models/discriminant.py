r"""Linear discriminant analysis: Gaussian classes with one shared covariance.

Class :math:`c` has density :math:`\mathcal N(\mu_c, \Sigma)` and prior
:math:`\pi_c`; the posterior is a softmax of the linear scores

.. math::
    \delta_c(x) = x^\top \Sigma^{-1}(\mu_c - \bar x)
        - \tfrac12(\mu_c - \bar x)^\top\Sigma^{-1}(\mu_c - \bar x) + \log\pi_c
        - \bar x^\top\Sigma^{-1}(\mu_c - \bar x)

(:math:`\bar x = \sum_c \pi_c\mu_c`; the terms in :math:`\bar x` are shared by
all classes and only centre the scores), with the pooled within-class
covariance :math:`\Sigma = \sum_i (x_i - \mu_{y_i})(x_i - \mu_{y_i})^\top/n` (the maximum-likelihood
estimate, as scikit-learn >= 1.6 uses in every solver).

:math:`\Sigma^{-1}` is never formed: like scikit-learn's default ``"svd"``
solver, the within-class residuals are scaled per feature and factored by an
SVD, directions with singular value below ``tol`` are dropped (a mask, not a
data-dependent shape), then the class means are projected onto the span of
their (whitened) differences.  ``coef_``, ``intercept_``, ``predict`` and
``predict_proba`` therefore equal scikit-learn's, also for singular
:math:`\Sigma` (constant or collinear features).
"""

from __future__ import annotations

import math
from typing import NamedTuple

from .._xp import array_namespace, check_positive, device_of
from ._base import ClassifierMixin, Estimator, _is_dask, check_X_y, compiled, encode_labels, softmax_rows
from ._solvers import thin_svd
from ._stats import dask_moments, from_memory_like, moments, row_blocks

__all__ = ["LinearDiscriminantAnalysis", "LDAResult", "lda_fit"]


class LDAResult(NamedTuple):
    """``means`` (k, d), ``xbar`` (d,), per-class ``coef`` (k, d) and ``intercept`` (k,)."""

    means: object
    xbar: object
    coef: object
    intercept: object


def _inv_masked(S, keep, xp):
    return xp.where(keep, 1.0 / xp.where(keep, S, xp.ones_like(S)), xp.zeros_like(S))


def lda_fit(X, Y, priors, *, tol=1e-4):
    r"""Per-class linear discriminant functions from data and one-hot labels.

    Parameters
    ----------
    X : array of shape (n_samples, n_features)
    Y : array of shape (n_samples, n_classes)
        One-hot class indicators (every class present).
    priors : array of shape (n_classes,)
    tol : float
        Singular values of the scaled within-class residuals below ``tol``
        are treated as zero (scikit-learn's ``tol``).

    Returns
    -------
    LDAResult
        Scores are :math:`\delta(x) = x\,\text{coef}^\top + \text{intercept}`.

    Notes
    -----
    With :math:`X_w = (X - Y M)/s/\sqrt{n}` (:math:`s` the per-feature
    standard deviation of the residuals, 1 where it is 0) and
    :math:`X_w = U\Sigma V^\top`, the whitening map is
    :math:`T = \operatorname{diag}(1/s)\, V \Sigma^{+}`.  The whitened,
    prior-weighted mean offsets :math:`B = \sqrt{n\pi_c/(k-1)}\,(\mu_c - \bar x)T`
    are factored again (:math:`B = U_2\Sigma_2V_2^\top`) and only directions
    with :math:`\sigma_2 > \mathrm{tol}\cdot\sigma_{2,\max}` are kept
    (projector :math:`P`).  Then :math:`\text{coef}_c = (\mu_c - \bar x)TPT^\top`
    and :math:`\text{intercept}_c = -\tfrac12\|(\mu_c - \bar x)TP\|^2 + \log\pi_c
    - \bar x^\top\text{coef}_c`.
    """
    return _lda_core(X, Y, priors, tol=tol, blocks=row_blocks(X))


def _lda_core(X, Y, priors, *, tol, blocks):
    xp = array_namespace(X, Y, priors)
    m = moments(X, Y, blocks=blocks, xp=xp)
    return _lda_from_moments(m.mean, m.factor, priors, n=X.shape[0], tol=tol)


def _lda_from_moments(means, R, priors, *, n, tol):
    r"""LDA from the class means (k, d) and the factor :math:`R` of the pooled within-class
    scatter (:math:`R^\top R = \sum_i (x_i - \mu_{y_i})(x_i - \mu_{y_i})^\top`): the residual
    matrix :math:`E = QR` has the singular values and right singular vectors of :math:`R`."""
    xp = array_namespace(means, R, priors)
    k = means.shape[0]
    xbar = priors @ means
    std = xp.sqrt(xp.sum(R * R, axis=0) / n)
    std = xp.where(std == 0, xp.ones_like(std), std)
    _, S, Vt = thin_svd(R / std / math.sqrt(n), xp=xp)
    T = (Vt.T / std[:, None]) * _inv_masked(S, S > tol, xp)[None, :]  # (d, r)
    Mw = (means - xbar) @ T  # (k, r) whitened mean offsets
    fac = 1.0 / (k - 1)
    B = xp.sqrt(n * priors * fac)[:, None] * Mw
    _, S2, V2t = thin_svd(B, xp=xp)
    keep2 = xp.astype(S2 > tol * xp.max(S2), R.dtype)
    P = (V2t.T * keep2[None, :]) @ V2t  # projector onto the kept between-class directions
    coef_w = Mw @ P
    coef = coef_w @ T.T
    intercept = -0.5 * xp.sum(coef_w * coef_w, axis=1) + xp.log(priors) - coef @ xbar
    return LDAResult(means, xbar, coef, intercept)


def _moments_of(X, Y, *, blocks):
    xp = array_namespace(X, Y)
    return moments(X, Y, blocks=blocks, xp=xp)


class LinearDiscriminantAnalysis(ClassifierMixin, Estimator):
    r"""Linear discriminant analysis classifier (shared-covariance Gaussian classes).

    Predictions and probabilities equal scikit-learn's
    ``LinearDiscriminantAnalysis()`` (default ``solver="svd"``); see
    :func:`lda_fit` for the computation.

    Parameters
    ----------
    priors : array of shape (n_classes,), optional
        Class priors; by default the class frequencies.
    tol : float, default 1e-4
        Rank threshold on singular values (as scikit-learn's ``tol``).

    Attributes
    ----------
    classes_ : array of shape (n_classes,)
    means_ : array of shape (n_classes, n_features)
    priors_ : array of shape (n_classes,)
    xbar_ : array of shape (n_features,)
        Prior-weighted overall mean.
    coef_ : array of shape (n_features,) for 2 classes as (1, n_features), else (n_classes, n_features)
    intercept_ : array of shape (1,) or (n_classes,)
    n_features_in_ : int
    """

    def __init__(self, *, priors=None, tol=1e-4):
        self.priors = priors
        self.tol = tol

    def fit(self, X, y):
        """Fit on ``X`` (n_samples, n_features) and class labels ``y`` (n_samples,)."""
        check_positive(self.tol, "tol", strict=False)
        X, y, xp = check_X_y(X, y, y_numeric=False, check_finite=True)
        n = int(X.shape[0])
        if _is_dask(X):  # classes, class means and scatter factor in one pass over the chunks
            classes, mom, finite, _ = dask_moments(X, labels=y)
            if not finite:
                raise ValueError("X contains NaN or infinity; remove or impute them before fitting")
            xp = array_namespace(mom.mean)
            k = int(classes.shape[0])
            if k < 2:
                raise ValueError(f"y must contain at least 2 classes; got {k} class")
        else:
            classes, Y = encode_labels(y, xp, X.dtype)
            k = int(Y.shape[1])
            mom = compiled(_moments_of, xp)(X, Y, blocks=row_blocks(X))
        dev = device_of(mom.mean)
        if self.priors is None:
            priors = mom.count / n
        else:
            priors = xp.asarray(self.priors, dtype=mom.mean.dtype, device=dev)
            if priors.shape != (k,):
                raise ValueError(f"priors must have shape (n_classes,) = ({k},); got {tuple(priors.shape)}")
            if not bool(xp.all(priors > 0)):
                raise ValueError("priors must be positive")
            priors = priors / xp.sum(priors)
        res = compiled(_lda_from_moments, xp)(mom.mean, mom.factor, priors, n=n, tol=float(self.tol))
        if k == 2:
            coef, intercept = res.coef[1:2, :] - res.coef[0:1, :], res.intercept[1:2] - res.intercept[0:1]
        else:
            coef, intercept = res.coef, res.intercept
        (self.classes_, self.priors_, self.means_, self.xbar_, self._coef_all, self._intercept_all, self.coef_,
         self.intercept_) = from_memory_like((classes, priors, res.means, res.xbar, res.coef, res.intercept, coef,
                                              intercept), X)
        self.n_features_in_ = int(X.shape[1])
        return self

    def decision_function(self, X):
        """Linear scores: (n_samples,) for two classes (positive favours ``classes_[1]``),
        else (n_samples, n_classes)."""
        X, xp = self._check_X(X)
        S = X @ self.coef_.T + self.intercept_
        return S[:, 0] if self.coef_.shape[0] == 1 and self.classes_.shape[0] == 2 else S

    def _scores(self, X):
        X, xp = self._check_X(X)
        return X @ self._coef_all.T + self._intercept_all, xp

    def predict_proba(self, X):
        """Posterior class probabilities, shape (n_samples, n_classes) (softmax of the class scores)."""
        S, xp = self._scores(X)
        return softmax_rows(S, xp)

    def predict_log_proba(self, X):
        from .._numerics import logsumexp

        S, xp = self._scores(X)
        return S - logsumexp(S, axis=1, keepdims=True, xp=xp)

    def predict(self, X):
        """Class of highest posterior for each row of ``X``."""
        S, xp = self._scores(X)
        return xp.take(self.classes_, xp.argmax(S, axis=1), axis=0)
