r"""Linear regression: ordinary least squares, ridge, lasso and elastic net.

All four fit an intercept (unless ``fit_intercept=False``) by centring ``X``
and ``y`` first, as scikit-learn does, so the intercept is never penalised:

.. math:: b = \bar y - \bar x^\top w.

The numeric cores are public pure functions (``lstsq_solve``,
``normal_equations_solve``, ``ridge_solve``, ``least_squares_gd_step``,
``elastic_net_step``, ``elastic_net_duality_gap``); they accept a 1-D target
``y`` of shape ``(n,)`` or a 2-D ``(n, t)`` one and run under ``jax.jit``.
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

from .._validate import check_bool, check_int, check_real
from .._xp import array_namespace, check_positive, device_of
from ._base import (
    Estimator,
    RegressorMixin,
    _is_dask,
    check_sample_weight,
    check_X_y,
    compiled,
    computed,
    is_true,
    warn_not_converged,
)
from ._solvers import gram_top_eigenvalue, soft_threshold, solve, thin_svd
from ._stats import dask_moments, from_memory_like, moments, row_blocks

__all__ = [
    "LinearRegression",
    "Ridge",
    "Lasso",
    "ElasticNet",
    "lstsq_solve",
    "normal_equations_solve",
    "ridge_solve",
    "least_squares_gd_step",
    "FistaState",
    "elastic_net_step",
    "elastic_net_duality_gap",
]


# ------------------------------------------------------------------ pure cores
def _as_2d(y, *, xp):
    return (y[:, None], True) if y.ndim == 1 else (y, False)


def _back(w, squeeze, *, xp):
    return w[:, 0] if squeeze else w


def lstsq_solve(X, y):
    r"""Minimum-norm least-squares solution :math:`w = \arg\min \|y - Xw\|^2` via the thin SVD.

    .. math:: X = U \Sigma V^\top,\qquad w = V \Sigma^{+} U^\top y

    Singular values below :math:`\epsilon \max(n, d)\, \sigma_{\max}` are
    treated as zero (NumPy's ``lstsq`` default ``rcond``), so rank-deficient
    ``X`` gives the minimum-norm solution, as ``numpy.linalg.lstsq`` does.

    Parameters
    ----------
    X : array of shape (n_samples, n_features)
    y : array of shape (n_samples,) or (n_samples, n_targets)

    Returns
    -------
    w : array of shape (n_features,) or (n_features, n_targets)
    """
    xp = array_namespace(X, y)
    Y, squeeze = _as_2d(y, xp=xp)
    return _back(_min_norm_solve(X, Y, max(X.shape), xp=xp), squeeze, xp=xp)


def _min_norm_solve(A, B, size, *, xp):
    r"""Minimum-norm least squares :math:`A^+ B` by the thin SVD.

    Singular values below :math:`\epsilon\,\mathrm{size}\,\sigma_{\max}` count as zero.
    """
    U, S, Vt = thin_svd(A, xp=xp)
    cutoff = xp.finfo(A.dtype).eps * size * xp.max(S)
    keep = S > cutoff
    inv = xp.where(keep, 1.0 / xp.where(keep, S, xp.ones_like(S)), xp.zeros_like(S))
    return Vt.T @ (inv[:, None] * (U.T @ B))


def normal_equations_solve(X, y):
    r"""Least squares through the normal equations :math:`X^\top X\, w = X^\top y`.

    Faster than :func:`lstsq_solve` for tall ``X`` and decomposes into the
    reductions :math:`G = X^\top X`, :math:`X^\top y` (chunk-friendly), at the
    price of squaring the condition number.  The small :math:`d \times d`
    system is solved through the eigen-decomposition of the symmetric
    :math:`G = V \Lambda V^\top` (an SVD, portable to every backend):

    .. math:: w = V \Lambda^{+} V^\top X^\top y = G^{+} X^\top y

    with eigenvalues below :math:`\epsilon \max(n, d)\, \lambda_{\max}` taken
    as zero, so collinear (rank-deficient) ``X`` gives the minimum-norm
    solution -- the same on every backend -- instead of a ``LinAlgError``
    (NumPy) or NaN (JAX).  :math:`G^{+} X^\top = X^{+}`, so this is the
    solution :func:`lstsq_solve` gives, up to the squared conditioning.
    """
    xp = array_namespace(X, y)
    Y, squeeze = _as_2d(y, xp=xp)
    return _back(_psd_pinv_solve(X.T @ X, X.T @ Y, max(X.shape), xp=xp), squeeze, xp=xp)


def _pinv_from_gram(G, C, *, m):
    xp = array_namespace(G, C)
    return _psd_pinv_solve(G, C, m, xp=xp)


def _psd_pinv_solve(G, C, m, *, xp):
    """:math:`G^{+} C` for a symmetric PSD ``G`` by its SVD; eigenvalues below ``eps * m * max`` count as 0."""
    if hasattr(G, "rechunk"):  # Dask: a small system in one chunk
        G, C = G.rechunk(G.shape), C.rechunk(C.shape)
    U, S, Vt = thin_svd(G, xp=xp)
    cutoff = xp.finfo(G.dtype).eps * m * xp.max(S)
    keep = S > cutoff
    inv = xp.where(keep, 1.0 / xp.where(keep, S, xp.ones_like(S)), xp.zeros_like(S))
    return Vt.T @ (inv[:, None] * (U.T @ C))


def ridge_solve(X, y, alpha):
    r"""Ridge solution :math:`(X^\top X + \alpha I)\, w = X^\top y`.

    Minimises :math:`\|y - Xw\|^2 + \alpha\|w\|^2`, scikit-learn's ``Ridge``
    objective (pass centred data to leave the intercept unpenalised).
    """
    xp = array_namespace(X, y)
    Y, squeeze = _as_2d(y, xp=xp)
    d = X.shape[1]
    A = X.T @ X + alpha * xp.eye(d, dtype=X.dtype, device=device_of(X))
    return _back(solve(A, X.T @ Y, xp=xp), squeeze, xp=xp)


def least_squares_gd_step(w, gram, xty, lipschitz):
    r"""One gradient-descent step on :math:`\tfrac{1}{2n}\|y - Xw\|^2` in Gram form.

    .. math::
        \nabla = G w - c,\quad G = X^\top X / n,\ c = X^\top y / n,\qquad
        w \leftarrow w - \nabla / L

    with :math:`L = \lambda_{\max}(G)` (so the step is :math:`1/L`).
    """
    return w - (gram @ w - xty) / lipschitz


class FistaState(NamedTuple):
    """State of FISTA: iterate ``w``, extrapolated point ``z`` and momentum ``t`` (one per target)."""

    w: object
    z: object
    t: object


def elastic_net_step(state, gram, xty, lipschitz, *, alpha, l1_ratio, positive=False):
    r"""One FISTA step (with adaptive restart) on scikit-learn's elastic-net objective.

    .. math::
        F(w) = \frac{1}{2n}\|y - Xw\|^2 + \alpha\rho\|w\|_1 + \frac{\alpha(1-\rho)}{2}\|w\|^2

    in Gram form (:math:`G = X^\top X/n`, :math:`c = X^\top y/n`), with
    :math:`L = \lambda_{\max}(G) + \alpha(1-\rho)` the Lipschitz constant of
    the smooth part:

    .. math::
        w^+ &= S_{\alpha\rho/L}\bigl(z - (Gz - c + \alpha(1-\rho) z)/L\bigr),\qquad
        S_\tau(v) = \operatorname{sign}(v)\max(|v| - \tau, 0) \\
        t^+ &= \tfrac12\bigl(1 + \sqrt{1 + 4t^2}\bigr),\qquad
        z^+ = w^+ + \tfrac{t - 1}{t^+}(w^+ - w)

    Momentum restarts (:math:`t^+ = 1`, :math:`z^+ = w^+`) whenever
    :math:`(z - w^+)^\top(w^+ - w) > 0` (O'Donoghue & Candès' gradient
    scheme), which makes the method converge linearly on strongly convex
    problems.  ``state.w``/``state.z`` have shape ``(n_features, n_targets)``
    and ``state.t`` shape ``(n_targets,)``; targets are independent.

    ``positive=True`` adds the constraint :math:`w \ge 0`: the proximal map is
    then :math:`\max(v - \tau, 0)` (scikit-learn's ``positive=True``).
    """
    xp = array_namespace(state.w, gram, xty)
    w, z, t = state
    l1, l2 = alpha * l1_ratio, alpha * (1.0 - l1_ratio)
    grad = gram @ z - xty + l2 * z
    v = z - grad / lipschitz
    if positive:
        w_new = xp.maximum(v - l1 / lipschitz, xp.zeros_like(v))
    else:
        w_new = soft_threshold(v, l1 / lipschitz, xp=xp)
    restart = xp.sum((z - w_new) * (w_new - w), axis=0) > 0
    t_new = 0.5 * (1.0 + xp.sqrt(1.0 + 4.0 * t * t))
    z_new = w_new + ((t - 1.0) / t_new) * (w_new - w)
    z_new = xp.where(restart, w_new, z_new)
    t_new = xp.where(restart, xp.ones_like(t_new), t_new)
    return FistaState(w_new, z_new, t_new)


def elastic_net_duality_gap(w, gram, xty, yy, *, alpha, l1_ratio, positive=False):
    r"""Duality gap of the elastic-net objective (scikit-learn's, divided by ``n``), per target.

    With :math:`r = y - Xw` and the dual point :math:`\theta = \kappa r`,
    :math:`\kappa = \min\bigl(1, \alpha\rho / \|X^\top r/n - \alpha(1-\rho)w\|_\infty\bigr)`:

    .. math::
        \text{gap} = \frac{1 + \kappa^2}{2}\Bigl(\frac{\|r\|^2}{n} + \alpha(1-\rho)\|w\|^2\Bigr)
        + \alpha\rho\|w\|_1 - \kappa\,\frac{r^\top y}{n}

    evaluated from :math:`G = X^\top X/n`, :math:`c = X^\top y/n` and
    :math:`yy = y^\top y / n` (shape ``(n_targets,)``).  It bounds the
    sub-optimality :math:`F(w) - F^\star` from above; it is the quantity
    scikit-learn's coordinate descent tests against ``tol * ||y||^2``.
    With ``positive=True`` (constraint :math:`w \ge 0`) the dual norm is
    :math:`\max_j (X^\top r/n - \alpha(1-\rho)w)_j` instead of the largest
    absolute value, as in scikit-learn.
    """
    xp = array_namespace(w, gram, xty, yy)
    l1, l2 = alpha * l1_ratio, alpha * (1.0 - l1_ratio)
    Gw = gram @ w
    rr = yy - 2.0 * xp.sum(w * xty, axis=0) + xp.sum(w * Gw, axis=0)
    ry = yy - xp.sum(w * xty, axis=0)
    corr = xty - Gw - l2 * w
    dual = xp.max(corr if positive else xp.abs(corr), axis=0)
    safe = xp.where(dual > 0, dual, xp.ones_like(dual))
    kappa = xp.where(dual > l1, l1 / safe, xp.ones_like(dual))
    w_l1 = xp.sum(xp.abs(w), axis=0)
    w_l2 = xp.sum(w * w, axis=0)
    return 0.5 * (1.0 + kappa**2) * (rr + l2 * w_l2) + l1 * w_l1 - kappa * ry


# ------------------------------------------------------------------ sufficient statistics
def _linear_moments(X, Y, *, fit_intercept, blocks):
    """Means of ``[X, Y]`` and the factor ``R`` of its (centred) scatter, ``blocks`` row blocks (see ``_stats``)."""
    xp = array_namespace(X, Y)
    m = moments(xp.concat([X, Y], axis=1), center=fit_intercept, blocks=blocks, xp=xp)
    return m.mean[0, ...], m.factor


def _solve_from_factor(R, alpha, *, d, n, solver):
    r"""Coefficients (d, t) from the factor ``R`` of :math:`[X_c, Y_c]`: :math:`X_c = QR_{:, :d}`,
    :math:`Y_c = QR_{:, d:}`, so :math:`\|X_c w - Y_c\| = \|R_{:, :d} w - R_{:, d:}\|`."""
    xp = array_namespace(R)
    A, B = R[:, :d], R[:, d:]
    if solver == "lstsq":
        return _min_norm_solve(A, B, max(n, d), xp=xp)
    if solver == "normal":  # G may be singular (collinear X): its pseudo-inverse, the same on every backend
        return _psd_pinv_solve(A.T @ A, A.T @ B, max(n, d), xp=xp)
    # ridge, alpha > 0: through the SVD A = U S V^T, w = V diag(s / (s^2 + alpha)) U^T B, the solution of
    # the augmented least squares [A; sqrt(alpha) I] w = [B; 0] without squaring A's condition number
    U, S, Vt = thin_svd(A, xp=xp)
    return Vt.T @ ((S / (S * S + alpha))[:, None] * (U.T @ B))


# ------------------------------------------------------------------ in-memory Gram route
def _gram_statistics(X, Y, sw, *, fit_intercept):
    r"""One pass over in-memory data: the centred Gram matrices and the means.

    Returns ``(G, C, yy, x_mean, y_mean, finite)`` with :math:`G = X_c^\top X_c`
    (d, d), :math:`C = X_c^\top Y_c` (d, t), :math:`yy = \|Y_{c,:t}\|^2` (t,),
    where :math:`X_c, Y_c` are centred on the (weighted) means -- rows times
    :math:`\sqrt{s_i}` with weights -- or left as they are without intercept.
    ``finite`` (0-d bool) is false when ``X`` or ``Y`` holds a NaN or an
    infinity: such an entry reaches the diagonal of :math:`G` or :math:`yy`,
    so the data need no separate finiteness pass (a false ``finite`` on finite
    data means an overflow of the squares).
    """
    xp = array_namespace(X, Y)
    if sw is not None:
        Xc, Yc, x_mean, y_mean = _weighted_centring(X, Y, sw, fit_intercept, xp=xp)
    elif fit_intercept:
        x_mean, y_mean = xp.mean(X, axis=0), xp.mean(Y, axis=0)
        Xc, Yc = X - x_mean, Y - y_mean
    else:
        x_mean = xp.zeros((X.shape[1],), dtype=X.dtype, device=device_of(X))
        y_mean = xp.zeros((Y.shape[1],), dtype=X.dtype, device=device_of(X))
        Xc, Yc = X, Y
    G = Xc.T @ Xc  # symmetric product: one SYRK on NumPy
    C = Xc.T @ Yc
    yy = xp.sum(Yc * Yc, axis=0)
    finite = xp.isfinite(xp.sum(xp.linalg.diagonal(G))) & xp.all(xp.isfinite(yy)) & xp.all(xp.isfinite(C))
    return G, C, yy, x_mean, y_mean, finite


# The Cholesky route is taken when d * kappa_est <= eps^(-1/2), kappa_est = (max_i L_ii / min_i L_ii)^2
# from the Cholesky factor of the equilibrated matrix: a lower bound of its condition number, found
# within a factor of about d of it on graded and gapped spectra (tests/test_models_linear.py), hence the
# factor d.  Its relative error, about kappa * eps, then stays near sqrt(eps) (1.5e-8 in float64).
def _cholesky_solve(G, C, alpha, *, with_alpha):
    r"""``(W, ok)``: :math:`W = (G + \alpha I)^{-1} C` through the equilibrated Cholesky factor.

    With :math:`D = \operatorname{diag}(G + \alpha I)^{-1/2}` the system
    :math:`A = D(G + \alpha I)D` (unit diagonal) is factored,
    :math:`A = LL^\top`, and solved, :math:`W = D A^{-1} D C`.  ``ok`` (0-d
    bool) says whether the result can be trusted: :math:`A` positive definite
    (no zero column of ``X`` without penalty; NaN from the factor on JAX,
    which does not raise), finite :math:`W`, and the estimate
    :math:`\kappa = (\max_i L_{ii}/\min_i L_{ii})^2` of its condition number
    with :math:`d\,\kappa \le \varepsilon^{-1/2}`.  Traceable; the caller
    decides on the host what to do when ``ok`` is false.
    """
    xp = array_namespace(G, C)
    d = G.shape[0]
    eye = xp.eye(d, dtype=G.dtype, device=device_of(G))
    A = G + alpha * eye if with_alpha else G
    diag = xp.linalg.diagonal(A)
    pos = diag > 0
    scale = 1.0 / xp.sqrt(xp.where(pos, diag, xp.ones_like(diag)))
    A = scale[:, None] * A * scale[None, :]
    L = xp.linalg.cholesky((A + A.T) * 0.5)
    ld = xp.abs(xp.linalg.diagonal(L))
    kappa = (xp.max(ld) / xp.min(ld)) ** 2
    W = scale[:, None] * solve(A, scale[:, None] * C, xp=xp)
    limit = float(xp.finfo(G.dtype).eps) ** -0.5 / d
    ok = xp.all(pos) & (kappa <= limit) & xp.all(xp.isfinite(W))
    return W, ok


def _try_cholesky(G, C, alpha, *, xp):
    """:func:`_cholesky_solve` compiled, ``None`` where it fails or is not trusted (read on the host)."""
    try:
        W, ok = compiled(_cholesky_solve, xp)(G, C, alpha, with_alpha=alpha != 0)
    except Exception:  # NumPy and PyTorch raise when the matrix is not positive definite
        return None
    return W if is_true(ok) else None


# ------------------------------------------------------------------ private fused iterations
def _gram(Xc, Yc):
    n = Xc.shape[0]
    return Xc.T @ Xc / n, Xc.T @ Yc / n


def _gd_iteration(w, gram, xty, lipschitz):
    xp = array_namespace(w, gram)
    grad_max = xp.max(xp.abs(gram @ w - xty))
    return least_squares_gd_step(w, gram, xty, lipschitz), grad_max


def _enet_iteration(state, gram, xty, lipschitz, yy, *, alpha, l1_ratio, positive=False):
    xp = array_namespace(state.w, gram)
    new = elastic_net_step(state, gram, xty, lipschitz, alpha=alpha, l1_ratio=l1_ratio, positive=positive)
    gap = elastic_net_duality_gap(new.w, gram, xty, yy, alpha=alpha, l1_ratio=l1_ratio, positive=positive)
    # largest coefficient change and largest coefficient, per target (scikit-learn's first test)
    dw = xp.max(xp.abs(new.w - state.w), axis=0)
    return new, gap, dw, xp.max(xp.abs(new.w), axis=0)


# FISTA tests at tol / 100: an iterate of a given duality gap lies farther from the
# solution than a coordinate-descent sweep of the same gap; at tol=1e-4 the coefficients
# then lie at least as close to the exact solution as scikit-learn's (measured: 1e-7 to
# 1e-5 against its 1e-6 to 1e-3, for about twice the iterations)
_FISTA_TOL_FACTOR = 1e-2

# Gram matrices up to this size get their exact top eigenvalue (eigvalsh, O(d^3)),
# larger ones the power-iteration estimate
_EXACT_EIGENVALUE_MAX_D = 2048


def _lipschitz(gram, *, xp):
    r""":math:`\lambda_{\max}(G)` for the step :math:`1/L`: exact where affordable.

    The exact value (times :math:`1 + 16\varepsilon`, so that rounding never
    makes the step too long) lets FISTA land on the solution of a problem
    with one feature in one step, as coordinate descent does; an upper
    estimate (power iteration, times 1.02) would stop short by its 2 %.
    """
    d = gram.shape[0]
    linalg = getattr(xp, "linalg", None)
    if d <= _EXACT_EIGENVALUE_MAX_D and hasattr(linalg, "eigvalsh"):
        try:
            top = xp.max(linalg.eigvalsh(gram))
        except Exception:  # a backend or device without eigvalsh for this dtype
            return gram_top_eigenvalue(gram, xp=xp)
        return top * (1.0 + 16.0 * float(xp.finfo(gram.dtype).eps))
    return gram_top_eigenvalue(gram, xp=xp)


# ------------------------------------------------------------------ sample weights
def _normalised_weights(sw, *, xp):
    r"""Weights rescaled to sum to ``n`` (scikit-learn's elastic net): :math:`\tilde s = n s / \sum s`."""
    return None if sw is None else sw * (sw.shape[0] / xp.sum(sw))


def _weighted_centring(X, Y, sw, fit_intercept, *, xp):
    r"""``(Xc, Yc, x_mean, y_mean)``: rows :math:`\sqrt{s_i}(x_i - \bar x_s)` with the weighted
    means :math:`\bar x_s = \sum_i s_i x_i / \sum_i s_i` (zero without intercept), so that
    :math:`X_c^\top X_c = \sum_i s_i (x_i - \bar x_s)(x_i - \bar x_s)^\top`."""
    root = xp.sqrt(sw)[:, None]
    if fit_intercept:
        total = xp.sum(sw)
        x_mean, y_mean = (sw @ X) / total, (sw @ Y) / total
        return root * (X - x_mean), root * (Y - y_mean), x_mean, y_mean
    zx = xp.zeros((X.shape[1],), dtype=X.dtype, device=device_of(X))
    zy = xp.zeros((Y.shape[1],), dtype=X.dtype, device=device_of(X))
    return root * X, root * Y, zx, zy


# ------------------------------------------------------------------ estimators
class _LinearModel(RegressorMixin, Estimator):
    """Shared fit preamble (centring) and ``predict``."""

    def _prepare(self, X, y, sample_weight=None):
        X, y, xp = check_X_y(X, y, multi_output=True)
        Y, squeeze = _as_2d(y, xp=xp)
        sw = _normalised_weights(check_sample_weight(sample_weight, X), xp=xp)
        if sw is not None:
            self.n_features_in_ = int(X.shape[1])
            Xc, Yc, x_mean, y_mean = _weighted_centring(X, Y, sw, bool(self.fit_intercept), xp=xp)
            return Xc, Yc, x_mean, y_mean, squeeze, xp
        if self.fit_intercept:
            x_mean, y_mean = xp.mean(X, axis=0), xp.mean(Y, axis=0)
            Xc, Yc = X - x_mean, Y - y_mean
        else:
            x_mean = xp.zeros((X.shape[1],), dtype=X.dtype, device=device_of(X))
            y_mean = xp.zeros((Y.shape[1],), dtype=X.dtype, device=device_of(X))
            Xc, Yc = X, Y
        self.n_features_in_ = int(X.shape[1])
        return Xc, Yc, x_mean, y_mean, squeeze, xp

    def _statistics(self, X, y, sample_weight=None, normalise=False):
        r"""One pass over the data: ``(R, x_mean, y_mean, n, squeeze, back)``.

        ``R`` (in memory: on Dask the chunks' library) is the factor with
        :math:`R^\top R = [X_c, Y_c]^\top [X_c, Y_c]` (see ``_stats``); every
        closed-form solve and the Gram matrices follow from it.  On Dask the
        chunks are read once, finiteness checked in the same pass; ``back``
        moves the small fitted arrays onto ``X``'s backend (identity elsewhere).
        """
        X, y, xp = check_X_y(X, y, multi_output=True, check_finite=True)
        Y, squeeze = _as_2d(y, xp=xp)
        n, d = X.shape
        fi = bool(self.fit_intercept)
        sw = check_sample_weight(sample_weight, X)
        if sw is not None:
            # rows scaled by sqrt(s) around the weighted means: the factor of the weighted scatter
            # (on Dask one small pass for the weighted means, then the factor pass)
            if normalise:
                sw = _normalised_weights(sw, xp=xp)
            Xc, Yc, x_mean, y_mean = _weighted_centring(X, Y, sw, fi, xp=xp)
            if _is_dask(X):
                x_mean, y_mean = (a.compute() for a in (x_mean, y_mean))
                _, mom, finite_x, finite_y = dask_moments(Xc, Yc, center=False)
                if not finite_x:
                    raise ValueError("X contains NaN or infinity; remove or impute them before fitting")
                if not finite_y:
                    raise ValueError("y contains NaN or infinity")
                R = mom.factor
            else:
                R = compiled(_linear_moments, xp)(Xc, Yc, fit_intercept=False, blocks=row_blocks(X))[1]
            mean = array_namespace(R).concat([x_mean, y_mean])
        elif _is_dask(X):
            _, mom, finite_x, finite_y = dask_moments(X, Y, center=fi)
            if not finite_x:
                raise ValueError("X contains NaN or infinity; remove or impute them before fitting")
            if not finite_y:
                raise ValueError("y contains NaN or infinity")
            mean, R = mom.mean[0, ...], mom.factor
        else:
            mean, R = compiled(_linear_moments, xp)(X, Y, fit_intercept=fi, blocks=row_blocks(X))
        xp = array_namespace(R)
        if not fi:
            mean = xp.zeros_like(mean)
        self.n_features_in_ = int(d)
        return R, mean[:d], mean[d:], int(n), squeeze, lambda t: from_memory_like(t, X)

    def _gram_route(self, X, y, sample_weight=None, normalise=False, sharded=False):
        """In-memory data (not Dask; JAX sharded by rows only if ``sharded``):
        ``(G, C, yy, x_mean, y_mean, n, squeeze)`` from :func:`_gram_statistics` (one pass, which
        also checks finiteness), else ``None``.

        Also ``None`` for finite data whose squares overflow: the factor route
        (:meth:`_statistics`) then handles them.  Non-finite data raise here.
        """
        X, y, xp = check_X_y(X, y, multi_output=True, check_finite=False)
        if _is_dask(X) or _is_dask(y) or (not sharded and row_blocks(X) > 1):
            return None
        Y, squeeze = _as_2d(y, xp=xp)
        sw = check_sample_weight(sample_weight, X)
        if normalise:
            sw = _normalised_weights(sw, xp=xp)
        with warnings.catch_warnings():  # NaN, infinity or overflow: reported below, not as NumPy warnings
            warnings.simplefilter("ignore", RuntimeWarning)
            G, C, yy, x_mean, y_mean, finite = compiled(_gram_statistics, xp)(
                X, Y, sw, fit_intercept=bool(self.fit_intercept))
        if not is_true(finite):
            check_X_y(X, y, multi_output=True)  # raises, naming the input with a NaN or infinity
            return None
        self.n_features_in_ = int(X.shape[1])
        return G, C, yy, x_mean, y_mean, int(X.shape[0]), squeeze

    def _set_coef(self, W, x_mean, y_mean, squeeze):
        """``W`` of shape (n_features, n_targets) → ``coef_`` (n_features,) or (n_targets, n_features)."""
        intercept = y_mean - x_mean @ W
        self.coef_ = W[:, 0] if squeeze else W.T
        self.intercept_ = intercept[0] if squeeze else intercept

    def predict(self, X):
        """Predictions :math:`X w + b`, shape (n_samples,) or (n_samples, n_targets)."""
        X, xp = self._check_X(X)
        return X @ self.coef_.T + self.intercept_ if self.coef_.ndim == 2 else X @ self.coef_ + self.intercept_


class LinearRegression(_LinearModel):
    r"""Ordinary least squares, :math:`\min_{w,b} \|y - Xw - b\|^2`.

    Parameters
    ----------
    fit_intercept : bool, default True
        Centre ``X`` and ``y`` and recover :math:`b = \bar y - \bar x^\top w`.
    solver : {"lstsq", "normal", "gd"}, default "lstsq"
        ``"lstsq"``: thin SVD, minimum-norm solution (:func:`lstsq_solve`), as
        ``sklearn.linear_model.LinearRegression``.  ``"normal"``: the normal
        equations (:func:`normal_equations_solve`); needs full column rank.
        ``"gd"``: gradient descent with step :math:`1/L` on the Gram form
        (:func:`least_squares_gd_step`), :math:`L` from power iteration.
    max_iter : int, default 1000
        ``"gd"`` only: iteration cap.
    tol : float, default 1e-6
        ``"gd"`` only: stop when :math:`\|X^\top(Xw - y)/n\|_\infty \le
        \mathrm{tol}\cdot\|X^\top y/n\|_\infty` (checked on the host once per
        iteration).

    Attributes
    ----------
    coef_ : array of shape (n_features,) or (n_targets, n_features)
    intercept_ : 0-d array or array of shape (n_targets,)
    n_iter_ : int or None
        Iterations run by ``"gd"`` (``None`` for the direct solvers).
    n_features_in_ : int

    Notes
    -----
    Every solver starts from one pass of sufficient statistics (``_stats``):
    the means and the triangular factor :math:`R` of the centred
    :math:`[X, y]` (:math:`[X_c, y_c] = QR`, per row block, merged by Chan's
    update), so :math:`\|X_c w - y_c\| = \|R_{:, :d}\, w - R_{:, d:}\|`:
    ``"lstsq"`` is the SVD solution of that small system (the singular values
    of :math:`X_c` are those of :math:`R_{:, :d}`), ``"normal"``/``"gd"`` use
    :math:`X_c^\top X_c = R_{:, :d}^\top R_{:, :d}`.  On Dask that pass is one
    task per chunk and the fitted arrays are small and computed; on JAX arrays
    sharded by rows each shard is factored on its device.
    """

    def __init__(self, *, fit_intercept=True, solver="lstsq", max_iter=1000, tol=1e-6):
        self.fit_intercept = fit_intercept
        self.solver = solver
        self.max_iter = max_iter
        self.tol = tol

    def fit(self, X, y, sample_weight=None):
        """Fit on ``X`` (n_samples, n_features) and ``y`` (n_samples,) or (n_samples, n_targets).

        ``sample_weight`` (n_samples,), optional: non-negative weights :math:`s_i`
        of the squared residuals, :math:`\\sum_i s_i (y_i - x_i^\\top w - b)^2` (the
        intercept from the weighted means), as in scikit-learn.
        """
        if self.solver not in ("lstsq", "normal", "gd"):
            raise ValueError(f"solver must be 'lstsq', 'normal' or 'gd'; got solver={self.solver!r}")
        if self.solver == "gd":
            check_int(self.max_iter, "max_iter", low=1)
            check_positive(self.tol, "tol", strict=False)
        self.n_iter_ = None
        stats = self._gram_route(X, y, sample_weight)
        if stats is not None:
            G, C, _, x_mean, y_mean, n, squeeze = stats
            xp = array_namespace(G)
            if self.solver == "gd":
                W = self._fit_gd(G / n, C / n, xp)
            elif self.solver == "normal":
                W = compiled(_pinv_from_gram, xp)(G, C, m=max(n, self.n_features_in_))
            else:  # lstsq: the Cholesky solve where X is well conditioned, else the factor route below
                W = _try_cholesky(G, C, 0.0, xp=xp)
            if W is not None:
                self._set_coef(W, x_mean, y_mean, squeeze)
                return self
        R, x_mean, y_mean, n, squeeze, back = self._statistics(X, y, sample_weight)
        xp = array_namespace(R)
        d = self.n_features_in_
        if self.solver == "gd":
            W = self._fit_gd(R[:, :d].T @ R[:, :d] / n, R[:, :d].T @ R[:, d:] / n, xp)
        else:
            W = compiled(_solve_from_factor, xp)(R, 0.0, d=d, n=n, solver=self.solver)
        self._set_coef(W, x_mean, y_mean, squeeze)
        self.coef_, self.intercept_ = back((self.coef_, self.intercept_))
        return self

    def _fit_gd(self, gram, xty, xp):
        L = gram_top_eigenvalue(gram, xp=xp)
        stop = self.tol * xp.max(xp.abs(xty))
        step = compiled(_gd_iteration, xp)
        W = xp.zeros_like(xty)
        for it in range(1, self.max_iter + 1):
            W, grad_max = step(W, gram, xty, L)
            if is_true(grad_max <= stop):
                break
        else:
            warn_not_converged("LinearRegression(solver='gd')", self.max_iter, "gradient above tol")
        self.n_iter_ = it
        return W


class Ridge(_LinearModel):
    r"""Ridge regression, :math:`\min_{w,b} \|y - Xw - b\|^2 + \alpha\|w\|^2`, in closed form.

    Solves :math:`(X_c^\top X_c + \alpha I) w = X_c^\top y_c` on centred data
    (:func:`ridge_solve`), so the intercept is not penalised; equals
    ``sklearn.linear_model.Ridge(alpha)``.

    Parameters
    ----------
    alpha : float, default 1.0
        Penalty strength, :math:`\alpha \ge 0`.  ``alpha=0`` is ordinary
        least squares, solved by :func:`lstsq_solve` (the minimum-norm
        solution when ``X`` is rank-deficient, e.g. a constant column; this
        is also what scikit-learn falls back to).
    fit_intercept : bool, default True

    Attributes
    ----------
    coef_ : array of shape (n_features,) or (n_targets, n_features)
    intercept_ : 0-d array or array of shape (n_targets,)
    n_features_in_ : int
    """

    def __init__(self, *, alpha=1.0, fit_intercept=True):
        self.alpha = alpha
        self.fit_intercept = fit_intercept

    def fit(self, X, y, sample_weight=None):
        """Fit on ``X`` (n_samples, n_features) and ``y`` (n_samples,) or (n_samples, n_targets).

        ``sample_weight`` (n_samples,), optional: non-negative weights :math:`s_i`
        of the squared residuals (the penalty unscaled), :math:`\\sum_i s_i (y_i - x_i^\\top w - b)^2` (the
        intercept from the weighted means), as in scikit-learn.
        """
        alpha = check_real(self.alpha, "alpha", low=0.0)
        stats = self._gram_route(X, y, sample_weight)
        if stats is not None:
            G, C, _, x_mean, y_mean, n, squeeze = stats
            W = _try_cholesky(G, C, float(alpha), xp=array_namespace(G))
            if W is not None:
                self._set_coef(W, x_mean, y_mean, squeeze)
                return self
        R, x_mean, y_mean, n, squeeze, back = self._statistics(X, y, sample_weight)
        # alpha = 0 is plain least squares: the minimum-norm solution, also for rank-deficient X
        W = compiled(_solve_from_factor, array_namespace(R))(R, alpha, d=self.n_features_in_, n=n,
                                                             solver="lstsq" if alpha == 0 else "ridge")
        self._set_coef(W, x_mean, y_mean, squeeze)
        self.coef_, self.intercept_ = back((self.coef_, self.intercept_))
        return self


class ElasticNet(_LinearModel):
    r"""Linear regression with combined L1 and L2 penalties (scikit-learn's objective).

    .. math::
        \min_{w,b}\ \frac{1}{2n}\|y - Xw - b\|^2 + \alpha\rho\|w\|_1
        + \frac{\alpha(1-\rho)}{2}\|w\|^2,\qquad \rho = \texttt{l1\_ratio}

    Solver: FISTA with adaptive restart on the Gram form (one
    :math:`d\times d` matrix-vector product per iteration after forming
    :math:`X^\top X/n` once; see :func:`elastic_net_step`), step
    :math:`1/L`, :math:`L = \lambda_{\max}(X^\top X/n) + \alpha(1-\rho)`.  Every target is solved
    independently (2-D ``y``).

    Convergence test (scikit-learn's two): stop when the largest coefficient
    change of the iteration is at most :math:`t\cdot\max_j|w_j|`
    and the duality gap (:func:`elastic_net_duality_gap`) is at most
    :math:`t\cdot \|y_c\|^2/n`, :math:`t = \mathrm{tol}/100` (but not
    below :math:`\min(\mathrm{tol}, 16\varepsilon)`), for every
    target, checked on the host once per iteration: the tighter :math:`t`
    makes up for FISTA's slower approach than coordinate descent's, so the
    coefficients are at least as close to the solution as scikit-learn's.
    The step uses the exact :math:`\lambda_{\max}` up to 2048 features
    (power iteration beyond), so with one feature the first step is the
    solution, as in coordinate descent.

    Parameters
    ----------
    alpha : float, default 1.0
    l1_ratio : float in [0, 1], default 0.5
    fit_intercept : bool, default True
    max_iter : int, default 1000
    tol : float, default 1e-4
    positive : bool, default False
        Constrain the coefficients to :math:`w \ge 0` (scikit-learn's
        ``positive``; the proximal map becomes :math:`\max(v - \tau, 0)`).
    warm_start : bool, default False
        Start FISTA from the previous fit's ``coef_`` (when its shape
        matches), e.g. along a path of decreasing ``alpha``.

    Attributes
    ----------
    coef_ : array of shape (n_features,) or (n_targets, n_features)
    intercept_ : 0-d array or array of shape (n_targets,)
    dual_gap_ : array of shape () or (n_targets,)
        Final duality gap (of the objective above, i.e. divided by ``n``).
    n_iter_ : int
    n_features_in_ : int
    """

    def __init__(self, *, alpha=1.0, l1_ratio=0.5, fit_intercept=True, max_iter=1000, tol=1e-4, positive=False,
                 warm_start=False):
        self.alpha = alpha
        self.l1_ratio = l1_ratio
        self.fit_intercept = fit_intercept
        self.max_iter = max_iter
        self.tol = tol
        self.positive = positive
        self.warm_start = warm_start

    def _warm_start_coef(self, xty, xp):
        """The starting coefficients (n_features, n_targets): zeros, or with ``warm_start`` the
        previous fit's ``coef_`` when its shape matches."""
        zeros = xp.zeros_like(xty)
        prev = getattr(self, "coef_", None) if self.warm_start else None
        if prev is None:
            return zeros
        if _is_dask(prev):
            prev = prev.compute()
        W = xp.asarray(prev, dtype=xty.dtype, device=device_of(xty))
        W = W[:, None] if W.ndim == 1 else W.T
        return W if tuple(W.shape) == tuple(xty.shape) else zeros

    def _l1_ratio(self):
        if not 0.0 <= self.l1_ratio <= 1.0:
            raise ValueError(f"l1_ratio must lie in [0, 1]; got l1_ratio={self.l1_ratio!r}")
        return float(self.l1_ratio)

    def fit(self, X, y, sample_weight=None):
        """Fit on ``X`` (n_samples, n_features) and ``y`` (n_samples,) or (n_samples, n_targets).

        ``sample_weight`` (n_samples,), optional: non-negative weights, rescaled
        to sum to ``n_samples`` as scikit-learn does, so the data term is
        :math:`\\frac{1}{2\\sum_i s_i}\\sum_i s_i (y_i - x_i^\\top w - b)^2`.
        """
        l1_ratio = self._l1_ratio()
        check_positive(self.alpha, "alpha", strict=False)
        check_int(self.max_iter, "max_iter", low=1)
        check_positive(self.tol, "tol", strict=False)
        check_bool(self.positive, "positive")
        check_bool(self.warm_start, "warm_start")
        alpha = float(self.alpha)
        if _is_dask(X):
            # one pass of sufficient statistics (the factor R of [X_c, Y_c], see _stats):
            # G = R_x^T R_x / n, c = R_x^T R_y / n, yy = ||R_y||^2 / n, in memory; the
            # iterations work on them, and the fitted arrays come back as small Dask arrays
            R, x_mean, y_mean, n, squeeze, back = self._statistics(X, y, sample_weight, normalise=True)
            xp = array_namespace(R)
            d = self.n_features_in_
            A, B = R[:, :d], R[:, d:]
            gram, xty, yy = A.T @ A / n, A.T @ B / n, xp.sum(B * B, axis=0) / n
        else:
            # one pass in memory (JAX sharded by rows: per-shard products, summed); the
            # iterations work on the d x d arrays
            stats = self._gram_route(X, y, sample_weight, normalise=True, sharded=True)
            if stats is None:  # finite data whose squares overflow: as before, on the centred data
                Xc, Yc, x_mean, y_mean, squeeze, xp = self._prepare(X, y, sample_weight)
                n = Xc.shape[0]
                (gram, xty), yy = _gram(Xc, Yc), xp.sum(Yc * Yc, axis=0) / n
            else:
                G, C, yy, x_mean, y_mean, n, squeeze = stats
                gram, xty, yy = G / n, C / n, yy / n
            back = lambda t: t  # noqa: E731
            xp = array_namespace(gram)
        L = _lipschitz(gram, xp=xp) + alpha * (1.0 - l1_ratio)
        L = xp.where(L > 0, L, xp.ones_like(L))  # X == 0: any step works
        # never tighter than rounding allows (16 ulp), nor than the user's tol asks
        tol = max(self.tol * _FISTA_TOL_FACTOR, min(self.tol, 16.0 * float(xp.finfo(gram.dtype).eps)))
        stop = tol * yy
        W = self._warm_start_coef(xty, xp)
        state = FistaState(W, W, xp.ones_like(yy))
        step = compiled(_enet_iteration, xp)
        for it in range(1, self.max_iter + 1):
            state, gap, dw, w_max = step(state, gram, xty, L, yy, alpha=alpha, l1_ratio=l1_ratio,
                                         positive=bool(self.positive))
            if is_true(xp.all((gap <= stop) & (dw <= tol * w_max))):
                break
        else:
            warn_not_converged(type(self).__name__, self.max_iter, "duality gap above tol")
        self.n_iter_ = it
        W, gap = state.w, gap
        self.dual_gap_ = gap[0] if squeeze else gap
        self._set_coef(W, x_mean, y_mean, squeeze)
        self.coef_, self.intercept_, self.dual_gap_ = back((self.coef_, self.intercept_, self.dual_gap_))
        return self


class Lasso(ElasticNet):
    r"""Linear regression with an L1 penalty (scikit-learn's objective).

    .. math:: \min_{w,b}\ \frac{1}{2n}\|y - Xw - b\|^2 + \alpha\|w\|_1

    :class:`ElasticNet` with ``l1_ratio=1``: FISTA with adaptive restart and
    scikit-learn's duality-gap convergence test; see there.

    Parameters
    ----------
    alpha : float, default 1.0
    fit_intercept : bool, default True
    max_iter : int, default 1000
    tol : float, default 1e-4
    positive : bool, default False
        Constrain the coefficients to :math:`w \ge 0`.
    warm_start : bool, default False
        Start from the previous fit's ``coef_`` (when its shape matches).
    """

    def __init__(self, *, alpha=1.0, fit_intercept=True, max_iter=1000, tol=1e-4, positive=False, warm_start=False):
        self.alpha = alpha
        self.fit_intercept = fit_intercept
        self.max_iter = max_iter
        self.tol = tol
        self.positive = positive
        self.warm_start = warm_start

    def _l1_ratio(self):
        return 1.0
