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

In memory (not Dask, not row-sharded JAX) ``PCA.fit`` picks the solver by
shape, as scikit-learn's ``svd_solver="auto"`` does for tall data: when
:math:`d \le 1000` and :math:`n \ge 10 d` it takes the eigendecomposition of
the :math:`d \times d` covariance :math:`X_c^\top X_c` (one matrix product,
:math:`n d^2` flops, instead of a QR of the :math:`n \times d` data);
with more than 500 rows or columns and an integer ``n_components`` below
:math:`0.8 \min(n, d)`, a randomized SVD (:func:`_pca_randomized`, fixed
seed, scikit-learn's oversampling and iteration counts); otherwise the thin
SVD above.  The covariance route squares the condition
number: eigenvalues below about :math:`10^{-16}\lambda_1` (float64) are
rounding noise (set to 0 where negative), as in scikit-learn.

Signs are normalised as current scikit-learn does (``svd_flip`` with
``u_based_decision=False``): the largest-magnitude entry of each component is
positive, so results are comparable across backends and LAPACKs.
"""

from __future__ import annotations

from typing import NamedTuple

from .._xp import array_namespace, device_of
from ._base import Estimator, NotFittedError, _is_dask, check_X, compiled, rng_for
from ._solvers import thin_svd
from ._stats import dask_moments, from_memory_like, moments, row_blocks

__all__ = ["PCA", "PCAResult", "pca_fit"]


def _flip_signs(U, Vt, *, xp):
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
    _, Vt = _flip_signs(U, Vt, xp=xp)
    return PCAResult(mean, Vt, S * S / (n - 1), S)


def _use_covariance(n, d):
    """scikit-learn's "auto" rule for its ``covariance_eigh`` solver: few features, many more samples."""
    return d <= 1000 and n >= 10 * d


def _pca_covariance(X):
    r"""All principal components from the eigendecomposition of :math:`X_c^\top X_c`.

    .. math::
        X_c^\top X_c = V \operatorname{diag}(\mu) V^\top,\qquad
        \sigma_i = \sqrt{\max(\mu_i, 0)},\qquad \lambda_i = \sigma_i^2/(n-1)
    """
    xp = array_namespace(X)
    n, d = X.shape
    mean = xp.mean(X, axis=0)
    # X_c^T X_c summed over row blocks of about 4 MiB (at most 32): each centred block is a
    # cache-sized temporary instead of a centred copy of X, and centring keeps data far from
    # the origin exact (X^T X - n m m^T would cancel)
    step = max(-(-n // 32), 2**19 // d, 1)
    C = None
    for start in range(0, n, step):
        B = X[start:min(start + step, n), :] - mean
        C = B.T @ B if C is None else C + B.T @ B
    mu, V = xp.linalg.eigh(C)  # ascending
    mu = xp.flip(mu, axis=0)
    Vt = xp.flip(V, axis=1).T
    mu = xp.where(mu > 0, mu, xp.zeros_like(mu))  # rounding makes null directions slightly negative
    _, Vt = _flip_signs(Vt.T, Vt, xp=xp)
    return PCAResult(mean, Vt, mu / (n - 1), xp.sqrt(mu))


def _use_randomized(n, d, k):
    """scikit-learn's "auto" rule for its ``randomized`` solver: a large matrix, few components kept."""
    return isinstance(k, int) and not isinstance(k, bool) and max(n, d) > 500 and 1 <= k < 0.8 * min(n, d)


#: oversampling of the randomized range finder (scikit-learn's default)
_OVERSAMPLES = 10


def _pca_randomized(X, omega, *, n_iter):
    r"""The leading principal components by a randomized SVD (Halko, Martinsson & Tropp, 2011).

    With :math:`X_c = X - \bar x` and a Gaussian test matrix :math:`\Omega`
    (d, k + p): ``n_iter`` power iterations :math:`Q \leftarrow
    \operatorname{qr}(X_c^\top \operatorname{qr}(X_c Q))`, then
    :math:`Q = \operatorname{qr}(X_c Q)` spans the leading left singular
    subspace, and the thin SVD of the small :math:`Q^\top X_c = \hat U \Sigma V^\top`
    gives :math:`\Sigma` and :math:`V`.  Also returns the total variance
    :math:`\sum_j \operatorname{var}(X_{:,j})`, for the explained-variance ratios.
    """
    xp = array_namespace(X)
    n = X.shape[0]
    mean = xp.mean(X, axis=0)
    Xc = X - mean
    Q = omega
    for _ in range(n_iter):  # orthonormalised each time (scikit-learn uses LU; QR is as stable)
        Q, _ = xp.linalg.qr(Xc @ Q)
        Q, _ = xp.linalg.qr(Xc.T @ Q)
    Q, _ = xp.linalg.qr(Xc @ Q)
    U, S, Vt = thin_svd(Q.T @ Xc, xp=xp)
    _, Vt = _flip_signs(U, Vt, xp=xp)
    total = xp.sum(Xc * Xc) / (n - 1)
    return PCAResult(mean, Vt, S * S / (n - 1), S), total


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
    The solver follows the shape, as scikit-learn's ``svd_solver="auto"``
    does for tall data: in memory with :math:`d \le 1000` and
    :math:`n \ge 10 d`, the eigendecomposition of the covariance; with more
    than 500 rows or columns and an integer ``n_components`` below
    :math:`0.8 \min(n, d)`, a randomized SVD (deterministic: a fixed seed);
    otherwise the thin SVD of the centred data (through its QR factor).

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
        elif _use_covariance(n, d) and row_blocks(X) == 1:  # in memory, tall: covariance eigh
            res = compiled(_pca_covariance, xp)(X)
        elif _use_randomized(n, d, self.n_components) and row_blocks(X) == 1:
            return self._fit_randomized(X, xp)
        else:  # QR of the data (per shard on row-sharded JAX), SVD of its small factor
            res = compiled(_pca_core, xp)(X, blocks=row_blocks(X))
        r = min(n, d)
        ratio = res.explained_variance / xp.sum(res.explained_variance)
        k = self._n_keep(ratio, r)
        return self._set_fitted(X, res, ratio, k, r, None, xp)

    def _fit_randomized(self, X, xp):
        """In memory, a large matrix and few components: randomized SVD, as scikit-learn's "auto"."""
        n, d = X.shape
        k = self.n_components
        m = min(k + _OVERSAMPLES, min(n, d))
        # the test matrix: drawn on the host from a fixed seed (the fit is deterministic), put beside X
        omega = rng_for(X, 0).normal((d, m), dtype=X.dtype)
        n_iter = 7 if k < 0.1 * min(n, d) else 4  # scikit-learn's choice
        res, total = compiled(_pca_randomized, xp)(X, omega, n_iter=n_iter)
        ratio = res.explained_variance / total
        r = min(n, d)
        rest = (total - xp.sum(res.explained_variance[:k])) / (r - k)  # mean of the discarded eigenvalues
        return self._set_fitted(X, res, ratio, k, r, rest, xp)

    def _set_fitted(self, X, res, ratio, k, r, noise, xp):
        n, d = X.shape
        self.mean_ = res.mean
        self.components_ = res.components[:k, :]
        self.explained_variance_ = res.explained_variance[:k]
        self.explained_variance_ratio_ = ratio[:k]
        self.singular_values_ = res.singular_values[:k]
        rest = res.explained_variance[k:]
        zero = xp.zeros((), dtype=res.mean.dtype, device=device_of(res.mean))
        self.noise_variance_ = noise if noise is not None else xp.mean(rest) if k < r else zero
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

    def get_covariance(self):
        r"""Covariance of the data under the fitted probabilistic PCA model, shape (n_features, n_features).

        .. math:: \Sigma = V_k^\top \operatorname{diag}(\max(\lambda_i - \sigma^2, 0)) V_k + \sigma^2 I

        with :math:`\sigma^2` = ``noise_variance_`` (Tipping & Bishop's model,
        as ``sklearn.decomposition.PCA.get_covariance``; with all components
        kept it is the sample covariance).  With ``whiten=True`` the rows of
        :math:`V_k` are first scaled by :math:`\sqrt{\lambda_i}`, exactly as
        scikit-learn does (its covariance then differs from the unwhitened one).
        """
        self._check_fitted()
        xp = array_namespace(self.components_)
        V, lam, s2 = self.components_, self.explained_variance_, self.noise_variance_
        if self.whiten:
            V = V * xp.sqrt(lam)[:, None]
        diff = xp.where(lam > s2, lam - s2, xp.zeros_like(lam))
        d = V.shape[1]
        eye = xp.eye(d, dtype=V.dtype, device=device_of(V))
        return (V.T * diff[None, :]) @ V + s2 * eye

    def get_precision(self):
        """Inverse of :meth:`get_covariance` (by a linear solve), shape (n_features, n_features)."""
        cov = self.get_covariance()
        xp = array_namespace(cov)
        return xp.linalg.solve(cov, xp.eye(cov.shape[0], dtype=cov.dtype, device=device_of(cov)))

    def score_samples(self, X):
        r"""Log-likelihood of each row of ``X`` under the probabilistic PCA model, shape (n_samples,).

        .. math:: \log p(x) = \log\mathcal N(x;\ \bar x,\ \Sigma)

        with :math:`\Sigma` from :meth:`get_covariance` (by its Cholesky
        factor, :func:`portable_ml.probability.mvn_logpdf`), as
        ``sklearn.decomposition.PCA.score_samples``.  A singular
        :math:`\Sigma` (all components kept of rank-deficient data) raises.
        """
        from ..probability import mvn_logpdf

        X, xp = self._check_X(X)
        return mvn_logpdf(X, self.mean_, self.get_covariance())

    def score(self, X, y=None):
        """Average log-likelihood of the rows of ``X`` (0-d array), as ``sklearn.decomposition.PCA.score``."""
        X, xp = self._check_X(X)
        return xp.mean(self.score_samples(X))

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
