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

from .._validate import check_choice, check_real
from .._xp import array_namespace, check_positive, device_of, value_check
from ._base import (
    ClassifierMixin,
    Estimator,
    _is_dask,
    check_X_y,
    compiled,
    computed,
    encode_labels,
    softmax_rows,
)
from ._solvers import thin_svd
from ._stats import dask_moments, from_memory_like, moments, row_blocks

__all__ = ["LinearDiscriminantAnalysis", "LDAResult", "lda_fit"]


class LDAResult(NamedTuple):
    """``means`` (k, d), ``xbar`` (d,), per-class ``coef`` (k, d) and ``intercept`` (k,)."""

    means: object
    xbar: object
    coef: object
    intercept: object


def _inv_masked(S, keep, *, xp):
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
    T = (Vt.T / std[:, None]) * _inv_masked(S, S > tol, xp=xp)[None, :]  # (d, r)
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


# ------------------------------------------------------------------ lsqr and eigen solvers, shrinkage
def _ledoit_wolf(Z, n, *, xp):
    r"""Ledoit–Wolf shrunk covariance of the centred rows ``Z`` (zero rows ignored; ``n`` real rows).

    As ``sklearn.covariance.ledoit_wolf``: with :math:`S = Z^\top Z/n`,
    :math:`\mu = \operatorname{tr}S/d`,
    :math:`\delta = \|S - \mu I\|_F^2/d` and
    :math:`\beta = \min\big(\delta,\ (\sum_{ij}(Z^{\circ2\top}Z^{\circ2})_{ij}/n - \|S\|_F^2)/(d\,n)\big)`,
    the shrinkage is :math:`\alpha = \beta/\delta` (0 where :math:`\beta = 0`, and for one feature)
    and the estimate :math:`(1 - \alpha)S + \alpha\mu I`.
    """
    d = Z.shape[1]
    S = xp.matrix_transpose(Z) @ Z / n
    if d == 1:
        return S
    Z2 = Z * Z
    tr = xp.sum(Z2, axis=0) / n
    mu = xp.sum(tr) / d
    beta_ = xp.sum(xp.matrix_transpose(Z2) @ Z2)
    delta_ = xp.sum(S * S)
    beta = (beta_ / n - delta_) / (d * n)
    delta = (delta_ - 2.0 * mu * xp.sum(tr) + d * mu * mu) / d
    beta = xp.minimum(beta, delta)
    alpha = xp.where(beta == 0, xp.zeros_like(beta), beta / xp.where(delta == 0, xp.ones_like(delta), delta))
    return _shrunk(S, alpha, xp=xp)


def _shrunk(S, alpha, *, xp):
    r""":math:`(1 - \alpha) S + \alpha\,(\operatorname{tr}S/d)\,I` (``sklearn.covariance.shrunk_covariance``)."""
    d = S.shape[0]
    eye = xp.eye(d, dtype=S.dtype, device=device_of(S))
    mu = xp.sum(xp.linalg.diagonal(S)) / d
    return (1.0 - alpha) * S + (alpha * mu) * eye


def _covariance(R, n, shrinkage, *, xp):
    """Covariance of the centred rows ``R`` (zero rows ignored; ``n`` real rows), shrunk as scikit-learn's
    LDA ``_cov``: ``None`` empirical, a float the fixed shrinkage, ``"auto"`` Ledoit–Wolf of the
    standardised features, scaled back."""
    if shrinkage is None:
        return xp.matrix_transpose(R) @ R / n
    if shrinkage == "auto":
        scale = xp.sqrt(xp.sum(R * R, axis=0) / n)
        scale = xp.where(scale == 0, xp.ones_like(scale), scale)
        return scale[:, None] * _ledoit_wolf(R / scale, n, xp=xp) * scale[None, :]
    return _shrunk(xp.matrix_transpose(R) @ R / n, shrinkage, xp=xp)


def _lda_covariances(X, Y, priors, *, shrinkage):
    r"""Class means (k, d), the within-class covariance :math:`S_w = \sum_c \pi_c \Sigma_c` and the
    total covariance :math:`S_t` (each :math:`\Sigma_c`, and :math:`S_t`, shrunk as ``shrinkage``).

    Class rows are picked by multiplying with the one-hot column (no boolean
    indexing): rows of other classes become zero rows, which add nothing.
    A Python loop over the ``k`` classes, each a pass over ``X``.
    """
    xp = array_namespace(X, Y, priors)
    counts = xp.sum(Y, axis=0)
    means = (xp.matrix_transpose(Y) @ X) / counts[:, None]
    Sw = None
    for c in range(Y.shape[1]):
        R = (X - means[c, :]) * Y[:, c:c + 1]
        part = priors[c] * _covariance(R, counts[c], shrinkage, xp=xp)
        Sw = part if Sw is None else Sw + part
    St = _covariance(X - xp.mean(X, axis=0), X.shape[0], shrinkage, xp=xp)
    return means, Sw, St


def _lda_lsqr(means, Sw, priors):
    r"""``solver="lsqr"``: :math:`\text{coef} = M S_w^{+}`, :math:`\text{intercept}_c
    = -\tfrac12 \mu_c^\top \text{coef}_c + \log\pi_c`.

    The pseudo-inverse gives the minimum-norm least-squares solution of
    :math:`S_w\,\text{coef}^\top = M^\top`, which is what scikit-learn's
    ``lstsq`` returns, also for a singular :math:`S_w` (both cut singular
    values below :math:`d\,\epsilon\,\sigma_{\max}`).
    """
    xp = array_namespace(means, Sw, priors)
    coef = means @ xp.linalg.pinv((Sw + xp.matrix_transpose(Sw)) * 0.5)
    intercept = -0.5 * xp.sum(means * coef, axis=1) + xp.log(priors)
    return coef, intercept


def _lda_eigen(means, Sw, St, priors):
    r"""``solver="eigen"``: the generalised eigenproblem :math:`S_b v = \lambda S_w v`,
    :math:`S_b = S_t - S_w`, by the Cholesky factor :math:`S_w = L L^\top` and the symmetric
    :math:`L^{-1} S_b L^{-\top} = U \Lambda U^\top`; eigenvectors :math:`V = L^{-\top} U`
    (:math:`V^\top S_w V = I`, as ``scipy.linalg.eigh``), in decreasing order of
    :math:`\lambda`.  ``coef`` :math:`= M V V^\top`; returns ``(coef, intercept, eigenvalues, V)``.
    """
    xp = array_namespace(means, Sw, St, priors)
    d = Sw.shape[0]
    Sb = St - Sw
    L = xp.linalg.cholesky((Sw + xp.matrix_transpose(Sw)) * 0.5)
    L_inv = xp.linalg.solve(L, xp.eye(d, dtype=Sw.dtype, device=device_of(Sw)))
    Mx = L_inv @ Sb @ xp.matrix_transpose(L_inv)
    evals, U = xp.linalg.eigh((Mx + xp.matrix_transpose(Mx)) * 0.5)  # ascending
    evals, U = xp.flip(evals, axis=0), xp.flip(U, axis=1)
    V = xp.matrix_transpose(L_inv) @ U
    coef = (means @ V) @ xp.matrix_transpose(V)
    intercept = -0.5 * xp.sum(means * coef, axis=1) + xp.log(priors)
    return coef, intercept, evals, V


class LinearDiscriminantAnalysis(ClassifierMixin, Estimator):
    r"""Linear discriminant analysis classifier (shared-covariance Gaussian classes).

    Predictions and probabilities equal scikit-learn's
    ``LinearDiscriminantAnalysis()`` (default ``solver="svd"``); see
    :func:`lda_fit` for the computation.

    Parameters
    ----------
    solver : {"svd", "lsqr", "eigen"}, default "svd"
        As scikit-learn's: ``"svd"`` factors the within-class residuals (no
        covariance formed; handles singular covariances, no shrinkage);
        ``"lsqr"`` solves :math:`S_w\,\text{coef}^\top = M^\top`;
        ``"eigen"`` solves the generalised eigenproblem of the between- and
        within-class covariances (and sets ``explained_variance_ratio_``).
        ``"eigen"`` needs a non-singular :math:`S_w` (use ``shrinkage`` for
        collinear features or few samples); ``"lsqr"`` takes the
        minimum-norm solution, as scikit-learn's least squares.
    shrinkage : None, "auto" or float in [0, 1], default None
        ``"lsqr"`` and ``"eigen"`` only: each class covariance (and the
        total covariance of ``"eigen"``) is shrunk towards
        :math:`(\operatorname{tr}\Sigma/d)\,I` by this fraction;
        ``"auto"`` picks it by the Ledoit–Wolf lemma on the standardised
        features, as scikit-learn does.
    priors : array of shape (n_classes,), optional
        Class priors; by default the class frequencies.
    tol : float, default 1e-4
        Rank threshold on singular values (as scikit-learn's ``tol``; ``"svd"`` only).

    Attributes
    ----------
    classes_ : array of shape (n_classes,)
    means_ : array of shape (n_classes, n_features)
    priors_ : array of shape (n_classes,)
    xbar_ : array of shape (n_features,)
        Prior-weighted overall mean.
    coef_ : array of shape (n_features,) for 2 classes as (1, n_features), else (n_classes, n_features)
    intercept_ : array of shape (1,) or (n_classes,)
    covariance_ : array of shape (n_features, n_features)
        ``"lsqr"`` and ``"eigen"``: the within-class covariance :math:`S_w = \sum_c \pi_c\Sigma_c`
        (shrunk as asked).
    explained_variance_ratio_ : array of shape (min(n_classes - 1, n_features),)
        ``"eigen"``: the leading generalised eigenvalues over their sum.
    scalings_ : array of shape (n_features, n_features)
        ``"eigen"``: the generalised eigenvectors, in decreasing order of eigenvalue.
    n_features_in_ : int
    """

    def __init__(self, *, solver="svd", shrinkage=None, priors=None, tol=1e-4):
        self.solver = solver
        self.shrinkage = shrinkage
        self.priors = priors
        self.tol = tol

    def _check_solver(self):
        check_choice(self.solver, "solver", ("svd", "lsqr", "eigen"))
        sh = self.shrinkage
        if sh is None:
            return None
        if self.solver == "svd":
            raise ValueError(f"shrinkage is not supported with solver='svd' (as in scikit-learn); got "
                             f"shrinkage={sh!r} -- use solver='lsqr' or 'eigen'")
        if isinstance(sh, str):
            check_choice(sh, "shrinkage", ("auto",))
            return sh
        return check_real(sh, "shrinkage", low=0.0, high=1.0)

    def fit(self, X, y):
        """Fit on ``X`` (n_samples, n_features) and class labels ``y`` (n_samples,)."""
        check_positive(self.tol, "tol", strict=False)
        shrinkage = self._check_solver()
        X, y, xp = check_X_y(X, y, y_numeric=False, check_finite=True)
        n = int(X.shape[0])
        if self.solver != "svd":
            return self._fit_covariance(X, y, xp, shrinkage)
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

    def _priors(self, counts, n, k, xp, dtype, dev):
        if self.priors is None:
            return counts / n
        priors = xp.asarray(self.priors, dtype=dtype, device=dev)
        if priors.shape != (k,):
            raise ValueError(f"priors must have shape (n_classes,) = ({k},); got {tuple(priors.shape)}")
        if not bool(xp.all(priors > 0)):
            raise ValueError("priors must be positive")
        return priors / xp.sum(priors)

    def _fit_covariance(self, X, y, xp, shrinkage):
        """``solver="lsqr"`` or ``"eigen"``: class and total covariances (one pass over ``X`` per class),
        then a (d, d) solve or generalised eigenproblem (in memory on Dask: the statistics are small)."""
        n = int(X.shape[0])
        classes, Y = encode_labels(y, xp, X.dtype)
        k = int(Y.shape[1])
        counts = xp.sum(Y, axis=0)
        priors = self._priors(counts, n, k, xp, X.dtype, device_of(X))
        means, Sw, St = compiled(_lda_covariances, xp)(X, Y, priors, shrinkage=shrinkage)
        (classes, priors, means, Sw, St), _ = computed((classes, priors, means, Sw, St))
        mem = array_namespace(means)
        singular = ("solver='eigen': the within-class covariance is singular (constant or collinear "
                    "features, or fewer samples than features); use shrinkage, or solver='svd' or 'lsqr'")
        if self.solver == "eigen":  # S_w must be positive definite (scipy.linalg.eigh raises too)
            w = mem.linalg.eigvalsh((Sw + mem.matrix_transpose(Sw)) * 0.5)
            value_check(w[0] > Sw.shape[0] * mem.finfo(Sw.dtype).eps * w[-1], singular)
        try:  # NumPy and torch raise on a failed factorisation; JAX and CuPy give NaN (checked below)
            if self.solver == "lsqr":
                coef_all, intercept_all = compiled(_lda_lsqr, mem)(means, Sw, priors)
                extra = {}
            else:
                coef_all, intercept_all, evals, V = compiled(_lda_eigen, mem)(means, Sw, St, priors)
                m = min(k - 1, int(X.shape[1]))
                extra = {"explained_variance_ratio_": (evals / mem.sum(evals))[:m], "scalings_": V}
        except (ValueError, RuntimeError) as exc:  # numpy.linalg.LinAlgError, torch's LinAlgError
            raise ValueError(f"{singular} ({exc})") from exc
        value_check(mem.all(mem.isfinite(coef_all)), singular)
        if k == 2:
            coef, intercept = coef_all[1:2, :] - coef_all[0:1, :], intercept_all[1:2] - intercept_all[0:1]
        else:
            coef, intercept = coef_all, intercept_all
        xbar = priors @ means
        names = ["classes_", "priors_", "means_", "xbar_", "_coef_all", "_intercept_all", "coef_", "intercept_",
                 "covariance_", *extra]
        values = from_memory_like((classes, priors, means, xbar, coef_all, intercept_all, coef, intercept, Sw,
                                   *extra.values()), X)
        for name, value in zip(names, values):
            setattr(self, name, value)
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
