r"""Gaussian naive Bayes: independent Gaussian features within each class.

.. math::
    \log p(x, c) = \log\pi_c - \frac12\sum_j \log(2\pi\sigma^2_{cj})
                 - \frac12\sum_j \frac{(x_j - \theta_{cj})^2}{\sigma^2_{cj}},\qquad
    p(c\mid x) = \operatorname{softmax}_c \log p(x, c)

with :math:`\theta_{cj}`, :math:`\sigma^2_{cj}` the per-class mean and
(biased) variance of feature :math:`j`, plus :math:`\epsilon =`
``var_smoothing`` :math:`\cdot \max_j \operatorname{var}(x_j)`, as in
scikit-learn.  The quadratic form is evaluated for all samples and classes by
three matrix products on data centred at the overall mean (which keeps the
cancellation of the expanded square small), not by an (n, k, d) broadcast.
"""

from __future__ import annotations

import math
from typing import NamedTuple

from .._numerics import logsumexp
from .._validate import check_array
from .._xp import array_namespace, check_positive, device_of, value_check
from ._base import (ClassifierMixin, Estimator, _is_dask, check_sample_weight, check_X_y, compiled, computed,
                    encode_labels)
from ._stats import dask_class_variances, from_memory_like

__all__ = ["GaussianNB", "GaussianNBResult", "gaussian_nb_fit", "gaussian_nb_joint_log_likelihood"]


class GaussianNBResult(NamedTuple):
    """``theta`` and ``var`` (k, d), ``class_count`` (k,), ``epsilon`` (0-d), ``centre`` (d,)."""

    theta: object
    var: object
    class_count: object
    epsilon: object
    centre: object


def gaussian_nb_fit(X, Y, sample_weight=None, *, var_smoothing=1e-9):
    r"""Class means and variances from ``X`` (n, d) and one-hot ``Y`` (n, k).

    Sample weights :math:`s_i` (``sample_weight``, shape (n,)) replace
    :math:`Y_{ic}` by :math:`s_i Y_{ic}` in the sums (then :math:`n_c` is the
    class's weight sum); :math:`\epsilon` stays the unweighted variance, as
    in scikit-learn.

    .. math::
        \theta_c = \frac{\sum_i Y_{ic}x_i}{n_c},\qquad
        \sigma^2_c = \frac{\sum_i Y_{ic}(x_i - \theta_c)^2}{n_c} + \epsilon,\qquad
        \epsilon = \texttt{var\_smoothing}\cdot\max_j \operatorname{var}(x_j)

    (two-pass variances).  Every class must be present.
    """
    xp = array_namespace(X, Y) if sample_weight is None else array_namespace(X, Y, sample_weight)
    if sample_weight is None:
        W = Y
    else:  # the means and variances do not depend on the weights' scale: 1 for the largest, no underflow
        big = xp.max(sample_weight)
        W = Y * (sample_weight / xp.where(big > 0, big, xp.ones_like(big)))[:, None]
    mass = xp.sum(W, axis=0)
    theta = (W.T @ X) / mass[:, None]
    R = X - Y @ theta
    eps = var_smoothing * xp.max(xp.var(X, axis=0))
    var = (W.T @ (R * R)) / mass[:, None] + eps
    counts = mass if sample_weight is None else Y.T @ sample_weight
    return GaussianNBResult(theta, var, counts, eps, xp.mean(X, axis=0))


def _dask_fit(X, y, var_smoothing):
    """``(classes, GaussianNBResult)`` in memory from one pass over Dask ``X`` (see :func:`gaussian_nb_fit`)."""
    classes, count, mean, m2, finite = dask_class_variances(X, y)
    if not finite:
        raise ValueError("X contains NaN or infinity; remove or impute them before fitting")
    xp = array_namespace(mean)
    n = xp.sum(count)
    centre = xp.sum(count[:, None] * mean, axis=0) / n
    total_m2 = xp.sum(m2, axis=0) + xp.sum(count[:, None] * (mean - centre) ** 2, axis=0)
    eps = var_smoothing * xp.max(total_m2 / n)
    return classes, GaussianNBResult(mean, m2 / count[:, None] + eps, count, eps, centre)


def gaussian_nb_joint_log_likelihood(X, theta, var, log_prior, centre=None):
    r""":math:`\log p(x_i, c)` for every sample and class, shape (n_samples, n_classes).

    .. math::
        \sum_j \frac{(x_j - \theta_{cj})^2}{\sigma^2_{cj}}
        = (x'^{\,2})\,(1/\sigma^2_c) - 2\,x'\,(\theta'_c/\sigma^2_c) + \sum_j \theta'^{\,2}_{cj}/\sigma^2_{cj}

    with :math:`x' = x - m`, :math:`\theta' = \theta - m` for a centre
    :math:`m` (``centre``, e.g. the training mean; 0 if omitted).
    """
    xp = array_namespace(X, theta, var, log_prior, *(() if centre is None else (check_array(centre, "centre"),)))
    k, d = tuple(theta.shape) if theta.ndim == 2 else (None, None)
    for name, a, want in (("X", X, (X.shape[0], d) if X.ndim == 2 else None), ("theta", theta, (k, d)),
                          ("var", var, (k, d)), ("log_prior", log_prior, (k,)),
                          ("centre", centre, (d,))):
        if a is not None and (want is None or None in want or tuple(a.shape) != want):
            raise ValueError(f"gaussian_nb_joint_log_likelihood: {name} must have shape "
                             f"{'(n_samples, n_features)' if name == 'X' else want} with theta (n_classes, "
                             f"n_features); got {name}.shape={tuple(a.shape)}, theta.shape={tuple(theta.shape)}")
    value_check(xp.all(var > 0), "gaussian_nb_joint_log_likelihood: var must be positive (variances)")
    if centre is not None:
        X, theta = X - centre, theta - centre
    inv = 1.0 / var
    quad = (X * X) @ inv.T - 2.0 * (X @ (theta * inv).T) + xp.sum(theta * theta * inv, axis=1)[None, :]
    norm = -0.5 * xp.sum(xp.log(2.0 * math.pi * var), axis=1)
    return log_prior[None, :] + norm[None, :] - 0.5 * quad


class GaussianNB(ClassifierMixin, Estimator):
    r"""Gaussian naive Bayes classifier (scikit-learn's ``GaussianNB``).

    Parameters
    ----------
    priors : array of shape (n_classes,), optional
        Class priors; by default the class frequencies.
    var_smoothing : float, default 1e-9
        Fraction of the largest feature variance added to every variance.

    Attributes
    ----------
    classes_ : array of shape (n_classes,)
    theta_ : array of shape (n_classes, n_features)
        Per-class feature means.
    var_ : array of shape (n_classes, n_features)
        Per-class feature variances (plus ``epsilon_``).
    class_prior_ : array of shape (n_classes,)
    class_count_ : array of shape (n_classes,)
    epsilon_ : 0-d array
    n_features_in_ : int
    """

    def __init__(self, *, priors=None, var_smoothing=1e-9):
        self.priors = priors
        self.var_smoothing = var_smoothing

    def fit(self, X, y, sample_weight=None):
        """Fit on ``X`` (n_samples, n_features) and class labels ``y`` (n_samples,).

        ``sample_weight`` (n_samples,), optional: non-negative weights, as in
        scikit-learn (weighted class counts, means and variances; the priors
        are the weighted class frequencies).  On Dask a weighted fit runs in
        memory on the computed ``X``.
        """
        check_positive(self.var_smoothing, "var_smoothing", strict=False)
        X, y, xp = check_X_y(X, y, y_numeric=False, check_finite=True)
        sw = check_sample_weight(sample_weight, X)
        total = X.shape[0]
        if sw is not None:
            like = X
            (X, y, sw), _ = computed((X, y, sw))
            xp = array_namespace(X)
            if not bool(xp.all(xp.isfinite(X))):
                raise ValueError("X contains NaN or infinity; remove or impute them before fitting")
            classes, Y = encode_labels(y, xp, X.dtype, min_classes=1)
            res = compiled(gaussian_nb_fit, xp)(X, Y, sw, var_smoothing=float(self.var_smoothing))
            total = xp.sum(sw)
        elif _is_dask(X):  # classes and per-class moments in one pass over the chunks
            classes, res = _dask_fit(X, y, float(self.var_smoothing))
            xp = array_namespace(res.theta)
        else:
            classes, Y = encode_labels(y, xp, X.dtype, min_classes=1)
            res = compiled(gaussian_nb_fit, xp)(X, Y, var_smoothing=float(self.var_smoothing))
        k = res.theta.shape[0]
        if self.priors is None:
            prior = res.class_count / total
        else:
            prior = xp.asarray(self.priors, dtype=X.dtype, device=device_of(res.theta))
            if prior.shape != (k,):
                raise ValueError(f"priors must have shape (n_classes,) = ({k},); got {tuple(prior.shape)}")
            if not bool(xp.all(prior >= 0)) or not bool(xp.abs(xp.sum(prior) - 1.0) < 1e-6):
                raise ValueError("priors must be non-negative and sum to 1")
        (self.classes_, self.theta_, self.var_, self.class_count_, self.epsilon_, self._centre,
         self.class_prior_) = from_memory_like((classes, res.theta, res.var, res.class_count, res.epsilon,
                                                res.centre, prior), X if sw is None else like)
        self.n_features_in_ = int(X.shape[1])
        return self

    def _joint_log_likelihood(self, X):
        X, xp = self._check_X(X)
        return gaussian_nb_joint_log_likelihood(X, self.theta_, self.var_, xp.log(self.class_prior_),
                                                self._centre), xp

    def predict_log_proba(self, X):
        """Log posteriors, shape (n_samples, n_classes), normalised by log-sum-exp."""
        jll, xp = self._joint_log_likelihood(X)
        return jll - logsumexp(jll, axis=1, keepdims=True, xp=xp)

    def predict_proba(self, X):
        """Posterior class probabilities, shape (n_samples, n_classes)."""
        lp = self.predict_log_proba(X)
        return array_namespace(lp).exp(lp)

    def predict(self, X):
        """Class of highest posterior for each row of ``X``."""
        jll, xp = self._joint_log_likelihood(X)
        return xp.take(self.classes_, xp.argmax(jll, axis=1), axis=0)
