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
from ._stats import class_moments, dask_class_variances, from_memory_like, merge_class_moments

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


def _as_labels(classes, y, X):
    """``classes`` (array-like) as an array of ``y``'s backend (in memory on Dask)."""
    from ._base import _as_array

    if _is_dask(y):
        import numpy as np

        return np.asarray(classes)
    return _as_array(classes, like=y)


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

    def _prior(self, count, k, dtype, xp):
        if self.priors is None:
            return count / xp.sum(count)
        prior = xp.asarray(self.priors, dtype=dtype, device=device_of(count))
        if prior.shape != (k,):
            raise ValueError(f"priors must have shape (n_classes,) = ({k},); got {tuple(prior.shape)}")
        if not bool(xp.all(prior >= 0)) or not bool(xp.abs(xp.sum(prior) - 1.0) < 1e-6):
            raise ValueError("priors must be non-negative and sum to 1")
        return prior

    def _store(self, classes, res, X, xp):
        prior = self._prior(res.class_count, int(res.theta.shape[0]), X.dtype, xp)
        (self.classes_, self.theta_, self.var_, self.class_count_, self.epsilon_, self._centre,
         self.class_prior_) = from_memory_like((classes, res.theta, res.var, res.class_count, res.epsilon,
                                                res.centre, prior), X)
        self.n_features_in_ = int(X.shape[1])

    def partial_fit(self, X, y, classes=None, sample_weight=None):
        r"""Update the fit with one more batch ``X`` (n, d), labels ``y`` (n,).

        ``classes`` (all labels that will ever occur) is required on the first
        call, as in scikit-learn; later batches may lack classes.  The batch's
        per-class (weighted) counts, means and sums of squared deviations
        (:func:`~portable_ml.models._stats.class_moments`) merge with the
        current ones by Chan, Golub and LeVeque's update
        (:func:`~portable_ml.models._stats.merge_class_moments`, the formula
        that also merges Dask's chunks), so any split of the data into batches
        gives the one-shot fit's means and variances up to rounding.
        ``epsilon_`` is recomputed from each batch's largest unweighted feature
        variance, as scikit-learn does; unlike scikit-learn, the previous
        ``epsilon_`` (not the new one) is removed from ``var_`` before the
        merge, so the stored variances stay exact (scikit-learn's differ by
        the change of :math:`\epsilon`, a ``var_smoothing``-sized amount).
        On Dask the batch is read in one pass.
        """
        check_positive(self.var_smoothing, "var_smoothing", strict=False)
        X, y, xp = check_X_y(X, y, y_numeric=False, check_finite=True)
        sw = check_sample_weight(sample_weight, X)
        first = getattr(self, "classes_", None) is None
        if first:
            if classes is None:
                raise ValueError("classes must be given on the first call to partial_fit "
                                 "(all the labels y will ever hold)")
        else:
            if X.shape[1] != self.n_features_in_:
                raise ValueError(f"X has {X.shape[1]} features; the model was fitted with {self.n_features_in_}")
        if _is_dask(X):
            out = dask_class_variances(X, y, sw)
            found, count, mean, m2, finite = out[:5]
            if not finite:
                raise ValueError("X contains NaN or infinity; remove or impute them before fitting")
            mem = array_namespace(mean)
            if sw is None:
                n_all, _, total_m2 = merge_class_moments(count[:, None], mean[:, None, :], m2[:, None, :], xp=mem)
            else:
                n_all, _, total_m2 = out[5]
            eps = float(self.var_smoothing) * mem.max(total_m2[0, :] / n_all[0])
        else:
            mem = xp
        known = self._memory(self.classes_, mem) if not first else \
            mem.sort(mem.unique_values(mem.asarray(self._memory(_as_labels(classes, y, X), mem))))
        if known.shape[0] < 1:
            raise ValueError("classes must hold at least one label")
        if _is_dask(X):
            P = mem.astype(found[:, None] == known[None, :], mean.dtype)  # (k_batch, k)
            if not bool(mem.all(mem.sum(P, axis=1) == 1)):
                raise ValueError("y holds labels that are not in classes (given on the first call)")
            b_count, b_mean, b_m2 = count @ P, P.T @ mean, P.T @ m2
        else:
            Y = mem.astype(y[:, None] == known[None, :], X.dtype)
            if not bool(mem.all(mem.sum(Y, axis=1) == 1)):
                raise ValueError("y holds labels that are not in classes (given on the first call)")
            b_count, b_mean, b_m2 = class_moments(X, Y, sw, xp=mem)
            eps = float(self.var_smoothing) * mem.max(mem.var(X, axis=0))
        if first:
            stacks = (b_count[None, :], b_mean[None, ...], b_m2[None, ...])
        else:
            count0, theta0, var0, eps0 = (self._memory(a, mem) for a in (self.class_count_, self.theta_, self.var_,
                                                                          self.epsilon_))
            m2_0 = (var0 - eps0) * count0[:, None]
            stacks = (mem.stack([count0, b_count]), mem.stack([theta0, b_mean]), mem.stack([m2_0, b_m2]))
        n, theta, m2 = merge_class_moments(*stacks, xp=mem)
        var = m2 / mem.where(n > 0, n, mem.ones_like(n))[:, None] + eps
        centre = mem.sum(n[:, None] * theta, axis=0) / mem.sum(n)
        self._store(known, GaussianNBResult(theta, var, n, eps, centre), X, mem)
        return self

    @staticmethod
    def _memory(a, mem):
        """A fitted array in memory (a Dask one computed)."""
        return a.compute() if _is_dask(a) else a

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
