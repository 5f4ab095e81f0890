r"""Principal component analysis by the thin SVD of the centred data.

.. math::
    X - \bar x = U\Sigma V^\top,\qquad
    \text{components} = V^\top_{[:k]},\qquad
    \text{explained variance} = \sigma_i^2/(n-1)

The SVD is taken of the small factor :math:`R` of the centred data
(:math:`X - \bar x = QR`, which has the same singular values and right
singular vectors), computed in one pass of per-block statistics
(``models._stats``): on Dask one task per chunk, on row-sharded JAX arrays
one factor per shard, merged without moving the samples.

Signs are normalised as current scikit-learn does (``svd_flip`` with
``u_based_decision=False``): the largest-magnitude entry of each component is
positive, so results are comparable across backends and LAPACKs.
"""

from __future__ import annotations

from typing import NamedTuple

from .._xp import array_namespace, device_of
from ._base import Estimator, NotFittedError, _is_dask, check_X, compiled
from ._solvers import thin_svd
from ._stats import dask_moments, from_memory_like, moments, row_blocks

__all__ = ["PCA", "PCAResult", "pca_fit"]


def _flip_signs(U, Vt, xp):
    """Make the largest-|.| entry of every row of ``Vt`` positive (and flip ``U``'s columns alike)."""
    d = Vt.shape[1]
    idx = xp.argmax(xp.abs(Vt), axis=1)
    at_max = idx[:, None] == xp.arange(d, device=device_of(Vt))[None, :]
    picked = xp.sum(xp.where(at_max, Vt, xp.zeros_like(Vt)), axis=1)
    signs = xp.where(picked < 0, -xp.ones_like(picked), xp.ones_like(picked))
    return U * signs[None, :], Vt * signs[:, None]


class PCAResult(NamedTuple):
    """``mean`` (d,), ``components`` (r, d), ``explained_variance`` (r,), ``singular_values`` (r,), r = min(n, d)."""

    mean: object
    components: object
    explained_variance: object
    singular_values: object


def pca_fit(X):
    r"""All principal components of ``X`` (n_samples, n_features), sign-normalised.

    .. math::
        X - \bar x = U\Sigma V^\top,\qquad \lambda_i = \sigma_i^2/(n-1)

    Returns a :class:`PCAResult` with :math:`r = \min(n, d)` components,
    in decreasing order of explained variance.
    """
    return _pca_core(X, blocks=row_blocks(X))


def _pca_core(X, *, blocks):
    xp = array_namespace(X)
    m = moments(X, blocks=blocks, xp=xp)
    return _pca_from_factor(m.mean[0, ...], m.factor, n=X.shape[0])


def _pca_from_factor(mean, R, *, n):
    r"""PCA from the mean and the factor :math:`R` (:math:`R^\top R = X_c^\top X_c`)."""
    xp = array_namespace(mean, R)
    r = min(n, R.shape[1])
    U, S, Vt = thin_svd(R, xp=xp)
    U, S, Vt = U[:, :r], S[:r], Vt[:r, :]
    _, Vt = _flip_signs(U, Vt, xp)
    return PCAResult(mean, Vt, S * S / (n - 1), S)


class PCA(Estimator):
    r"""Principal component analysis (linear dimensionality reduction).

    Parameters
    ----------
    n_components : int, float or None, default None
        Components kept: an int in :math:`[1, \min(n, d)]`; ``None`` for all
        :math:`\min(n, d)`; a float in (0, 1) for the fewest components whose
        explained-variance ratios add up to more than it (eager: the count is
        read from the data).
    whiten : bool, default False
        Scale the projections to unit variance.

    Attributes
    ----------
    components_ : array of shape (n_components, n_features)
        Principal axes, sign-normalised (largest-magnitude entry positive).
    explained_variance_ : array of shape (n_components,)
        :math:`\sigma_i^2/(n-1)`.
    explained_variance_ratio_ : array of shape (n_components,)
        Fraction of the total variance :math:`\sum_i \sigma_i^2/(n-1)`.
    singular_values_ : array of shape (n_components,)
    mean_ : array of shape (n_features,)
    noise_variance_ : 0-d array
        Mean of the discarded eigenvalues (0 when all are kept).
    n_components_ : int
    n_samples_, n_features_in_ : int

    Notes
    -----
    On Dask ``fit`` reads every chunk of ``X`` once (one task per chunk
    returns that chunk's mean and QR factor; see ``models._stats``) and
    ends with small in-memory fitted arrays wrapped as one-chunk Dask
    arrays: using the model does not re-read the training data.
    """

    def __init__(self, *, n_components=None, whiten=False):
        self.n_components = n_components
        self.whiten = whiten

    def _n_keep(self, ratio, r):
        k = self.n_components
        if k is None:
            return r
        if isinstance(k, float) and not isinstance(k, bool) and 0.0 < k < 1.0:
            xp = array_namespace(ratio)
            reached = xp.astype(xp.cumulative_sum(ratio) <= k, xp.int32)
            return min(int(xp.sum(reached)) + 1, r)  # eager: the count is data-dependent
        if isinstance(k, int) and not isinstance(k, bool) and 1 <= k <= r:
            return k
        raise ValueError(f"n_components must be None, an int in [1, min(n_samples, n_features)] = [1, {r}] "
                         f"or a float in (0, 1); got n_components={k!r}")

    def fit(self, X, y=None):
        """Fit on ``X`` (n_samples, n_features); ``y`` is ignored."""
        X, xp = check_X(X)  # finite: checked here, or (Dask) in the one pass below
        n, d = X.shape
        if n < 2:
            raise ValueError(f"PCA needs at least 2 samples; got n_samples={n}")
        if _is_dask(X):  # one pass over the chunks, then the small SVD in memory
            _, mom, finite, _ = dask_moments(X)
            if not finite:
                raise ValueError("X contains NaN or infinity; remove or impute them before fitting")
            res = _pca_from_factor(mom.mean[0, ...], mom.factor, n=int(n))
            xp = array_namespace(res.mean)
        else:
            res = compiled(_pca_core, xp)(X, blocks=row_blocks(X))
        r = min(n, d)
        ratio = res.explained_variance / xp.sum(res.explained_variance)
        k = self._n_keep(ratio, r)
        self.mean_ = res.mean
        self.components_ = res.components[:k, :]
        self.explained_variance_ = res.explained_variance[:k]
        self.explained_variance_ratio_ = ratio[:k]
        self.singular_values_ = res.singular_values[:k]
        rest = res.explained_variance[k:]
        zero = xp.zeros((), dtype=res.mean.dtype, device=device_of(res.mean))
        self.noise_variance_ = xp.mean(rest) if k < r else zero
        for name in ("mean_", "components_", "explained_variance_", "explained_variance_ratio_",
                     "singular_values_", "noise_variance_"):
            setattr(self, name, from_memory_like(getattr(self, name), X))
        self.n_components_ = int(k)
        self.n_samples_ = int(n)
        self.n_features_in_ = int(d)
        return self

    def _check_fitted(self, attr="components_"):
        if not hasattr(self, attr):
            raise NotFittedError(f"this {type(self).__name__} instance is not fitted yet; call fit(X) first")

    def transform(self, X):
        r"""Projections :math:`(X - \bar x) V_k`, shape (n_samples, n_components) (divided by
        :math:`\sqrt{\lambda_i}` when ``whiten``)."""
        X, xp = self._check_X(X)
        Z = (X - self.mean_) @ self.components_.T
        return Z / xp.sqrt(self.explained_variance_) if self.whiten else Z

    def fit_transform(self, X, y=None):
        return self.fit(X).transform(X)

    def inverse_transform(self, Z):
        r"""Back to feature space: :math:`Z V_k^\top + \bar x` (undoing the whitening first)."""
        self._check_fitted()
        Z = self._check_input(Z, "Z")
        xp = array_namespace(Z, self.components_)
        if Z.ndim != 2 or Z.shape[1] != self.n_components_:
            raise ValueError(f"Z must have shape (n_samples, {self.n_components_}); got {tuple(Z.shape)}")
        if self.whiten:
            Z = Z * xp.sqrt(self.explained_variance_)
        return Z @ self.components_ + self.mean_
