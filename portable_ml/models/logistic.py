r"""Logistic regression (binary) and softmax regression (multinomial): L2, L1, elastic-net or no penalty.

The L2 case is described here; the non-smooth penalties (``penalty="l1"`` /
``"elasticnet"``, fitted by proximal gradient) in :class:`LogisticRegression`.

Objective, with the intercept not penalised:

.. math::
    J(w, b) = \frac1n\sum_{i=1}^n \ell(x_i^\top w + b,\ y_i) + \frac\alpha2\|w\|^2

with :math:`\ell(s, y) = y\log(1+e^{-s}) + (1-y)\log(1+e^{s})` (binary) or
:math:`\ell(s, y) = \log\sum_c e^{s_c} - \sum_c y_c s_c` (multinomial, one-hot
:math:`y`).  It equals scikit-learn's ``LogisticRegression`` objective divided
by :math:`Cn`, so the minimisers agree at :math:`C = 1/(n\alpha)`.

Parameters are one array ``theta``: shape ``(d + 1,)`` (binary) or
``(d + 1, k)`` (multinomial), the last row the intercept (absent with
``fit_intercept=False``).  Gradient:

.. math::
    \nabla_w J = X^\top (\hat p - y)/n + \alpha w,\qquad \nabla_b J = \overline{\hat p - y}

with :math:`\hat p = \sigma(s)` or :math:`\operatorname{softmax}(s)`.

Solvers (each one step is a public pure function, jit-able):

* ``"newton"`` (default): Newton's method with the exact Hessian
  :math:`\tilde X^\top \operatorname{diag}(\hat p(1-\hat p)) \tilde X/n + \alpha I_w`
  (binary; the multinomial Hessian has :math:`(d+1)k` rows, see
  :func:`softmax_newton_step`), solved with ``linalg.solve``, damped by a
  vectorised Armijo backtracking line search.  Quadratic convergence; cost
  :math:`O(n p^2 + p^3)` per step for :math:`p` parameters.
* ``"lbfgs"``: L-BFGS (memory 10) with the same line search.
* ``"gd"``: gradient descent with the fixed step :math:`1/L`,
  :math:`L = \lambda_{\max}(\tilde X^\top\tilde X)/(4n) + \alpha` (binary;
  :math:`/(2n)` multinomial).  For completeness; slow on ill-conditioned data.

All stop when :math:`\|\nabla J\|_\infty \le` ``tol`` (read on the host once
per iteration; scikit-learn's lbfgs uses the same test on the same scaled
objective).
"""

from __future__ import annotations

from typing import NamedTuple

from .._numerics import logsumexp, sigmoid, softplus
from .._validate import check_int
from .._xp import array_namespace, check_positive, device_of
from ._base import (
    ClassifierMixin,
    Estimator,
    _is_dask,
    check_X_y,
    compiled,
    computed,
    encode_labels,
    is_true,
    settle,
    softmax_rows,
    warn_not_converged,
)
from ._solvers import (
    LbfgsMemory,
    armijo_step,
    gram_top_eigenvalue,
    lbfgs_direction,
    lbfgs_init,
    lbfgs_update,
    soft_threshold,
    solve,
    vdot,
)

__all__ = [
    "LogisticRegression",
    "SoftmaxRegression",
    "logistic_objective",
    "logistic_grad",
    "logistic_newton_step",
    "logistic_gd_step",
    "softmax_objective",
    "softmax_grad",
    "softmax_newton_step",
    "softmax_gd_step",
    "LbfgsState",
    "lbfgs_init_state",
    "lbfgs_step",
]


# ------------------------------------------------------------------ shared pieces
# ``kind`` is "binary" (theta (p,), y (n,) in [0, 1]) or "multinomial"
# (theta (p, k), Y (n, k) one-hot); it is a static Python string.
def _scores(theta, X, fit_intercept):
    d = X.shape[1]
    s = X @ theta[:d, ...]
    return s + theta[d, ...] if fit_intercept else s


def _sample_losses(S, Y, kind, xp):
    """Per-sample loss over the sample axis 0 (extra trailing axes of S are candidates)."""
    if kind == "binary":
        return Y * softplus(-S, xp=xp) + (1.0 - Y) * softplus(S, xp=xp)
    return logsumexp(S, axis=-1, xp=xp) - xp.sum(Y * S, axis=-1)


def _probs(S, kind, xp):
    return sigmoid(S, xp=xp) if kind == "binary" else softmax_rows(S, xp)


def _penalty_sq(theta, d, xp):
    w = theta[:d, ...]
    return xp.sum(w * w)


def _objective(theta, X, Y, alpha, kind, fit_intercept, xp):
    S = _scores(theta, X, fit_intercept)
    return xp.mean(_sample_losses(S, Y, kind, xp)) + 0.5 * alpha * _penalty_sq(theta, X.shape[1], xp)


def _grad_from_residual(theta, X, R, alpha, fit_intercept, xp):
    n, d = X.shape
    gw = X.T @ R / n + alpha * theta[:d, ...]
    if not fit_intercept:
        return gw
    return xp.concat([gw, xp.sum(R, axis=0, keepdims=True) / n], axis=0)


def _loss_grad(theta, X, Y, alpha, kind, fit_intercept, xp):
    S = _scores(theta, X, fit_intercept)
    f = xp.mean(_sample_losses(S, Y, kind, xp)) + 0.5 * alpha * _penalty_sq(theta, X.shape[1], xp)
    g = _grad_from_residual(theta, X, _probs(S, kind, xp) - Y, alpha, fit_intercept, xp)
    return f, g, S


def _line_search(theta, direction, X, Y, alpha, S, f0, g, kind, fit_intercept, xp):
    """Step size along ``direction`` by vectorised Armijo backtracking (one extra X-product)."""
    d = X.shape[1]
    dS = _scores(direction, X, fit_intercept)
    w, dw = theta[:d, ...], direction[:d, ...]
    ww, wdw, dwdw = xp.sum(w * w), xp.sum(w * dw), xp.sum(dw * dw)

    def losses_at(ts):
        if kind == "binary":  # candidates on a trailing axis: (n, K)
            St = S[:, None] + dS[:, None] * ts[None, :]
            data = xp.mean(_sample_losses(St, Y[:, None], kind, xp), axis=0)
        else:  # (K, n, k)
            St = S[None, ...] + ts[:, None, None] * dS[None, ...]
            data = xp.mean(_sample_losses(St, Y[None, ...], kind, xp), axis=-1)
        return data + 0.5 * alpha * (ww + 2.0 * ts * wdw + ts * ts * dwdw)

    return armijo_step(losses_at, f0, vdot(g, direction, xp=xp), dtype=theta.dtype,
                       device=device_of(theta), xp=xp)


def _augment(X, xp):
    return xp.concat([X, xp.ones((X.shape[0], 1), dtype=X.dtype, device=device_of(X))], axis=1)


def _penalty_diag(d, p, dtype, device, xp):
    """1 for the weights, 0 for the intercept row."""
    return xp.astype(xp.arange(p, device=device) < d, dtype)


def _hessian(X, S, alpha, kind, fit_intercept, xp):
    return _hessian_finish(_hessian_sum(X, S, kind, fit_intercept, xp), X.shape[0], X.shape[1], alpha, kind,
                           fit_intercept, xp)


def _hessian_sum(X, S, kind, fit_intercept, xp):
    """The data part of the Hessian, summed (not averaged) over the samples: additive over row blocks."""
    n, d = X.shape
    Xa = _augment(X, xp) if fit_intercept else X
    p = Xa.shape[1]
    if kind == "binary":
        h = sigmoid(S, xp=xp) * sigmoid(-S, xp=xp)
        return Xa.T @ (h[:, None] * Xa)
    dev = device_of(X)
    P = softmax_rows(S, xp)
    k = P.shape[1]
    eye_k = xp.eye(k, dtype=X.dtype, device=dev)
    Z = xp.reshape(Xa[:, :, None] * P[:, None, :], (n, p * k))  # Z[i, (j, c)] = x_ij p_ic
    M = xp.reshape(Xa.T @ Z, (p, p, k))  # M[l, j, c] = sum_i x_il x_ij p_ic
    T1 = xp.permute_dims(M, (1, 2, 0))[:, :, :, None] * eye_k[None, :, None, :]  # [j, c, l, e]
    return xp.reshape(T1, (p * k, p * k)) - Z.T @ Z


def _hessian_finish(Hsum, n, d, alpha, kind, fit_intercept, xp):
    """Hessian from its data sum over ``n`` samples: average, add the penalty (and, multinomial, fix the null space)."""
    dev = device_of(Hsum)
    dtype = Hsum.dtype
    p = d + int(bool(fit_intercept))
    pen = _penalty_diag(d, p, dtype, dev, xp)
    if kind == "binary":
        return Hsum / n + alpha * (pen[:, None] * xp.eye(p, dtype=dtype, device=dev))
    k = Hsum.shape[0] // p
    eye_pk = xp.eye(p * k, dtype=dtype, device=dev)
    pen_k = xp.reshape(pen[:, None] * xp.ones((1, k), dtype=dtype, device=dev), (p * k,))
    H = Hsum / n + alpha * (pen_k[:, None] * eye_pk)
    # The loss is unchanged when every class's score moves by the same amount,
    # so H is singular along Theta = v 1_k^T for the unpenalised rows v (the
    # intercept; all rows if alpha == 0).  The gradient is orthogonal to those
    # directions, so adding c * (1 1^T / k) on them changes nothing but
    # invertibility: the solve then returns the pseudo-inverse direction, which
    # keeps sum(intercept) = 0 (scikit-learn's symmetric solution).
    # The term is added on every row, each scaled by that row's own mean
    # diagonal entry, so that a penalty negligible against the loss's
    # curvature (X * 1e30) does not leave H numerically singular and features
    # of very different scales do not swamp one another (a zero row falls
    # back to the overall mean).  The directions v 1_k^T are invariant
    # subspaces of H, so on a penalised row :func:`_newton` then replaces the
    # direction's component along them by the exact one, -mean(theta_row).
    diag = xp.mean(xp.reshape(xp.sum(H * eye_pk, axis=0), (p, k)), axis=1)
    scale = xp.where(diag > 0, diag, xp.mean(diag))
    null = (scale[:, None] * xp.eye(p, dtype=dtype, device=dev))[:, None, :, None] \
        * (xp.ones((k, k), dtype=dtype, device=dev) / k)[None, :, None, :]
    return H + xp.reshape(null, (p * k, p * k))


def _newton(theta, X, Y, alpha, kind, fit_intercept, xp):
    """(theta_new, max |grad(theta)|)."""
    f, g, S = _loss_grad(theta, X, Y, alpha, kind, fit_intercept, xp)
    H = _hessian(X, S, alpha, kind, fit_intercept, xp)
    direction = -xp.reshape(solve(H, xp.reshape(g, (-1, 1)), xp=xp), theta.shape)
    if kind != "binary":
        # Exact Newton component along v 1_k^T on the penalised rows (see _hessian):
        # there H = alpha I and g = alpha * mean(theta_row) (the loss is flat), so
        # the step is -mean(theta_row) -- taken from theta, not from g / alpha,
        # whose rounding would be amplified when alpha is tiny against the loss.
        dev = device_of(X)
        on = _penalty_diag(X.shape[1], theta.shape[0], X.dtype, dev, xp) * xp.astype(
            xp.asarray(alpha > 0, device=dev), X.dtype)
        fix = xp.mean(direction, axis=1, keepdims=True) + xp.mean(theta, axis=1, keepdims=True)
        direction = direction - on[:, None] * fix
    t = _line_search(theta, direction, X, Y, alpha, S, f, g, kind, fit_intercept, xp)
    return theta + t * direction, xp.max(xp.abs(g))


def _gd(theta, X, Y, alpha, lipschitz, kind, fit_intercept, xp):
    f, g, S = _loss_grad(theta, X, Y, alpha, kind, fit_intercept, xp)
    return theta - g / lipschitz, xp.max(xp.abs(g))


# ------------------------------------------------------------------ public pure cores
def logistic_objective(theta, X, y, alpha, *, fit_intercept=True):
    r"""Binary L2-penalised logistic objective :math:`J(\theta)` (0-d array).

    .. math::
        J = \frac1n\sum_i \bigl[y_i\,\operatorname{softplus}(-s_i) + (1-y_i)\operatorname{softplus}(s_i)\bigr]
        + \frac\alpha2\|w\|^2,\qquad s = Xw + b

    written with the stable softplus, so it is exact for :math:`|s|` up to
    the float range.

    Parameters
    ----------
    theta : array of shape (n_features + 1,) (or (n_features,) without intercept)
        Weights, then the intercept.
    X : array of shape (n_samples, n_features)
    y : array of shape (n_samples,)
        Targets in [0, 1] (0/1 labels).
    alpha : float
        L2 strength (the intercept is not penalised).
    """
    xp = array_namespace(theta, X, y)
    return _objective(theta, X, y, alpha, "binary", fit_intercept, xp)


def logistic_grad(theta, X, y, alpha, *, fit_intercept=True):
    r"""Gradient of :func:`logistic_objective`.

    .. math:: \nabla_w J = X^\top(\sigma(s) - y)/n + \alpha w,\qquad \nabla_b J = \overline{\sigma(s) - y}
    """
    xp = array_namespace(theta, X, y)
    return _loss_grad(theta, X, y, alpha, "binary", fit_intercept, xp)[1]


def logistic_newton_step(theta, X, y, alpha, *, fit_intercept=True):
    r"""One damped Newton step on :func:`logistic_objective`.

    .. math::
        H = \tilde X^\top \operatorname{diag}\bigl(\sigma(s)\sigma(-s)\bigr)\tilde X / n
            + \alpha\,\operatorname{diag}(1,\dots,1,0),\qquad
        \theta \leftarrow \theta - t\, H^{-1}\nabla J

    with :math:`\tilde X = [X, 1]` and :math:`t` the largest of
    :math:`1, \tfrac12, \dots` meeting the Armijo condition (all candidates
    evaluated at once).
    """
    xp = array_namespace(theta, X, y)
    return _newton(theta, X, y, alpha, "binary", fit_intercept, xp)[0]


def logistic_gd_step(theta, X, y, alpha, lipschitz, *, fit_intercept=True):
    r"""One gradient-descent step :math:`\theta \leftarrow \theta - \nabla J(\theta)/L`."""
    xp = array_namespace(theta, X, y)
    return _gd(theta, X, y, alpha, lipschitz, "binary", fit_intercept, xp)[0]


def softmax_objective(theta, X, Y, alpha, *, fit_intercept=True):
    r"""Multinomial L2-penalised objective (0-d array).

    .. math::
        J = \frac1n\sum_i \Bigl[\log\sum_c e^{s_{ic}} - \sum_c Y_{ic} s_{ic}\Bigr] + \frac\alpha2\|W\|_F^2,
        \qquad S = XW + b

    Parameters
    ----------
    theta : array of shape (n_features + 1, n_classes)
        Weights ``W``, then the intercept row.
    X : array of shape (n_samples, n_features)
    Y : array of shape (n_samples, n_classes)
        One-hot targets (or rows of class probabilities).
    alpha : float
    """
    xp = array_namespace(theta, X, Y)
    return _objective(theta, X, Y, alpha, "multinomial", fit_intercept, xp)


def softmax_grad(theta, X, Y, alpha, *, fit_intercept=True):
    r"""Gradient of :func:`softmax_objective`.

    .. math::
        \nabla_W J = X^\top(\operatorname{softmax}(S) - Y)/n + \alpha W,\qquad
        \nabla_b J = \overline{\operatorname{softmax}(S) - Y}
    """
    xp = array_namespace(theta, X, Y)
    return _loss_grad(theta, X, Y, alpha, "multinomial", fit_intercept, xp)[1]


def softmax_newton_step(theta, X, Y, alpha, *, fit_intercept=True):
    r"""One damped Newton step on :func:`softmax_objective` with the full Hessian.

    With :math:`P = \operatorname{softmax}(S)` and :math:`\tilde X = [X, 1]`,
    in the row-major order of ``theta`` (index :math:`(j, c)`):

    .. math::
        H_{(j,c),(l,e)} = \frac1n\sum_i \tilde x_{ij}\tilde x_{il}\,
            P_{ic}(\delta_{ce} - P_{ie}) + \alpha\,\delta_{jl}\delta_{ce}[j < d]

    a :math:`(d+1)k` square matrix built from one :math:`n\times(d+1)k`
    product: fine for a few hundred parameters; use ``solver="lbfgs"`` beyond.
    :math:`H` is singular along a common shift of every class's intercept (the
    loss does not see it); that direction is regularised without changing
    the step, which keeps :math:`\sum_c b_c = 0` as scikit-learn does.
    """
    xp = array_namespace(theta, X, Y)
    return _newton(theta, X, Y, alpha, "multinomial", fit_intercept, xp)[0]


def softmax_gd_step(theta, X, Y, alpha, lipschitz, *, fit_intercept=True):
    r"""One gradient-descent step :math:`\theta \leftarrow \theta - \nabla J(\theta)/L` on :func:`softmax_objective`."""
    xp = array_namespace(theta, X, Y)
    return _gd(theta, X, Y, alpha, lipschitz, "multinomial", fit_intercept, xp)[0]


class LbfgsState(NamedTuple):
    """L-BFGS state: parameters, objective and gradient there, and the curvature memory."""

    theta: object
    loss: object
    grad: object
    memory: LbfgsMemory


def lbfgs_init_state(theta, X, Y, alpha, *, multinomial=False, fit_intercept=True, memory=10):
    """Initial :class:`LbfgsState` at ``theta`` (empty memory of ``memory`` pairs)."""
    xp = array_namespace(theta, X, Y)
    kind = "multinomial" if multinomial else "binary"
    f, g, _ = _loss_grad(theta, X, Y, alpha, kind, fit_intercept, xp)
    return LbfgsState(theta, f, g, lbfgs_init(theta, memory, xp=xp))


def lbfgs_step(state, X, Y, alpha, *, multinomial=False, fit_intercept=True):
    r"""One L-BFGS step on :func:`logistic_objective` (or :func:`softmax_objective` if ``multinomial``).

    Direction :math:`d = -H_k\nabla J` from the two-loop recursion (falling
    back to :math:`-\nabla J` if that is not a descent direction), step from
    the vectorised Armijo search, then the pair
    :math:`(s, y) = (\theta^+ - \theta, \nabla J^+ - \nabla J)` enters the
    memory (dropped if :math:`s^\top y \le 0`).
    """
    xp = array_namespace(state.theta, X, Y)
    kind = "multinomial" if multinomial else "binary"
    theta, f, g, mem = state
    direction = lbfgs_direction(g, mem, xp=xp)
    descent = vdot(g, direction, xp=xp) < 0
    direction = xp.where(descent, direction, -g)
    S = _scores(theta, X, fit_intercept)
    t = _line_search(theta, direction, X, Y, alpha, S, f, g, kind, fit_intercept, xp)
    theta_new = theta + t * direction
    f_new, g_new, _ = _loss_grad(theta_new, X, Y, alpha, kind, fit_intercept, xp)
    return LbfgsState(theta_new, f_new, g_new, lbfgs_update(mem, theta_new - theta, g_new - g, xp=xp))


# ------------------------------------------------------------------ private fused iterations
def _newton_iteration(theta, X, Y, alpha, *, kind, fit_intercept):
    return _newton(theta, X, Y, alpha, kind, fit_intercept, array_namespace(theta, X, Y))


def _gd_iteration(theta, X, Y, alpha, lipschitz, *, kind, fit_intercept):
    return _gd(theta, X, Y, alpha, lipschitz, kind, fit_intercept, array_namespace(theta, X, Y))


def _prox_iteration(state, X, Y, l1, l2, lipschitz, *, kind, fit_intercept):
    """One FISTA step (adaptive restart) on the l1/elastic-net objective; also max|gradient mapping| at ``z``.

    The smooth part is the data loss plus ``l2/2 ||w||^2``; the prox soft-thresholds the weight rows
    by ``l1/L`` and leaves the intercept row alone.
    """
    xp = array_namespace(state.w, X, Y)
    w, z, t = state
    d = X.shape[1]
    _, g, _ = _loss_grad(z, X, Y, l2, kind, fit_intercept, xp)
    v = z - g / lipschitz
    on = _penalty_diag(d, z.shape[0], z.dtype, device_of(z), xp)
    on = on if z.ndim == 1 else on[:, None]
    w_new = on * soft_threshold(v, l1 / lipschitz, xp=xp) + (1.0 - on) * v
    gmap = xp.max(xp.abs(z - w_new)) * lipschitz
    restart = xp.sum((z - w_new) * (w_new - w)) > 0
    t_new = 0.5 * (1.0 + xp.sqrt(1.0 + 4.0 * t * t))
    z_new = xp.where(restart, w_new, w_new + ((t - 1.0) / t_new) * (w_new - w))
    t_new = xp.where(restart, xp.ones_like(t_new), t_new)
    return _ProxState(w_new, z_new, t_new), gmap


class _ProxState(NamedTuple):
    w: object
    z: object
    t: object


def _lbfgs_iteration(state, X, Y, alpha, *, kind, fit_intercept):
    xp = array_namespace(state.theta, X, Y)
    gmax = xp.max(xp.abs(state.grad))
    return lbfgs_step(state, X, Y, alpha, multinomial=kind == "multinomial", fit_intercept=fit_intercept), gmax


def _design_gram(X, fit_intercept):
    xp = array_namespace(X)
    Xa = _augment(X, xp) if fit_intercept else X
    return Xa.T @ Xa / X.shape[0]


# ------------------------------------------------------------------ Dask: one task per chunk and pass
_LINE_TS = [0.5**i for i in range(30)]  # armijo_step's candidate steps, in its order


def _labels_chunk(x, labels, gram=False, fit_intercept=True):
    """The chunk's distinct labels and whether it is finite (and, if ``gram``, its design Gram sum)."""
    xp = array_namespace(labels)
    out = xp.sort(xp.unique_values(labels)), bool(array_namespace(x).all(array_namespace(x).isfinite(x)))
    if not gram:
        return out
    xa = _augment(x, array_namespace(x)) if fit_intercept else x
    return (*out, xa.T @ xa)


def _newton_chunk(x, labels, classes, theta, direction, kind, fit_intercept, hessian=True):
    """Sums over one chunk: line-search losses along ``direction`` (if given), then loss, gradient
    and (if ``hessian``) Hessian data sums at ``theta + direction`` (the full step; at ``theta``
    without a direction)."""
    xp = array_namespace(x)
    Y = xp.astype(labels[:, None] == classes[None, :], x.dtype)
    T = Y[:, 1] if kind == "binary" else Y
    line = None
    if direction is not None:
        S, dS = _scores(theta, x, fit_intercept), _scores(direction, x, fit_intercept)
        ts = xp.asarray(_LINE_TS, dtype=x.dtype)
        if kind == "binary":
            line = xp.sum(_sample_losses(S[:, None] + dS[:, None] * ts[None, :], T[:, None], kind, xp), axis=0)
        else:
            line = xp.sum(_sample_losses(S[None, ...] + ts[:, None, None] * dS[None, ...], T[None, ...], kind, xp),
                          axis=-1)
        theta = theta + direction
    S = _scores(theta, x, fit_intercept)
    R = _probs(S, kind, xp) - T
    g = x.T @ R
    if fit_intercept:
        g = xp.concat([g, xp.sum(R, axis=0, keepdims=True)], axis=0)
    return line, xp.sum(_sample_losses(S, T, kind, xp)), g, \
        _hessian_sum(x, S, kind, fit_intercept, xp) if hessian else None


class _DaskPasses:
    """The chunks of Dask ``X`` and labels ``y`` as delayed blocks, and one-pass reductions over them.

    Every pass is one ``dask.compute`` of one task per chunk (deterministic keys); nothing is
    persisted; the results are small sums, combined in memory."""

    def __init__(self, X, y):
        X = X.rechunk({1: -1})
        self.xs = list(X.to_delayed(optimize_graph=False)[:, 0])
        self.ys = list(y.rechunk({0: X.chunks[0]}).to_delayed(optimize_graph=False))

    def labels(self, gram=False, fit_intercept=True):
        """``(classes, finite, gram_sum)`` in one pass (``gram_sum`` of the design ``[X, 1]`` if asked)."""
        import dask

        task = dask.delayed(_labels_chunk, pure=True)
        found = dask.compute(*[task(a, b, gram, fit_intercept) for a, b in zip(self.xs, self.ys)])
        mem = array_namespace(found[0][0])
        classes = mem.sort(mem.unique_values(mem.concat([f[0] for f in found])))
        return classes, all(f[1] for f in found), (sum(f[2] for f in found) if gram else None)

    def run(self, classes, theta, direction, kind, fit_intercept, hessian):
        """One pass: line-search data losses along ``direction`` (summed), then the loss, gradient
        (and Hessian) data sums at ``theta + direction``."""
        import dask

        task = dask.delayed(_newton_chunk, pure=True)
        parts = dask.compute(*[task(a, b, classes, theta, direction, kind, fit_intercept, hessian)
                               for a, b in zip(self.xs, self.ys)])
        line = None if direction is None else sum(q[0] for q in parts)
        hsum = sum(q[3] for q in parts) if hessian else None
        return line, sum(q[1] for q in parts), sum(q[2] for q in parts), hsum


def _bad_classes(classes, kind, finite):
    return not finite or classes.shape[0] < 2 or (kind == "binary" and classes.shape[0] != 2)


def _dask_first_order(X, y, alpha, kind, fit_intercept, max_iter, tol, solver):
    r"""L-BFGS or gradient descent on Dask ``X`` and labels ``y``: one pass over X per iteration.

    Each pass is one task per chunk returning small sums (``_DaskPasses``); the
    :math:`p`-sized algebra runs in memory, with the in-memory solvers' own
    pieces, so the iterates are theirs.

    * ``"gd"``: one pass for the classes, finiteness and the design Gram
      matrix (for the step :math:`1/L`); then one pass per iteration, the
      loss and gradient at the current point, and the step
      :math:`	heta - 
abla J / L`.
    * ``"lbfgs"``: one pass for the classes, one for the loss and gradient at
      the start; then each iteration is one pass: the chunks return the 30
      line-search losses along the two-loop direction *and* the loss and
      gradient at the full step, which L-BFGS accepts near the optimum; a
      shorter step costs one more pass.

    Returns ``(classes, theta, iterations, finite)`` (in memory).
    """
    passes = _DaskPasses(X, y)
    classes, finite, gram = passes.labels(gram=solver == "gd", fit_intercept=fit_intercept)
    if _bad_classes(classes, kind, finite):
        return classes, None, 0, finite
    mem = array_namespace(classes if gram is None else gram)
    n, d = X.shape
    p = d + int(fit_intercept)
    dtype = X.dtype
    theta = mem.zeros((p,) if kind == "binary" else (p, int(classes.shape[0])), dtype=dtype)
    pen = _penalty_diag(d, p, dtype, device_of(theta), mem)
    pen = pen if kind == "binary" else pen[:, None]

    def loss_grad(loss, gsum, theta):
        w = theta[:d, ...]
        return loss / n + 0.5 * alpha * mem.sum(w * w), gsum / n + alpha * pen * theta

    if solver == "gd":
        lam = gram_top_eigenvalue(gram / n, xp=mem)
        L = lam / (4.0 if kind == "binary" else 2.0) + alpha
    else:
        _, loss, gsum, _ = passes.run(classes, theta, None, kind, fit_intercept, False)
        f, g = loss_grad(loss, gsum, theta)
        memory = lbfgs_init(theta, 10, xp=mem)
    for it in range(1, max_iter + 1):
        if solver == "gd":
            _, loss, gsum, _ = passes.run(classes, theta, None, kind, fit_intercept, False)
            g = loss_grad(loss, gsum, theta)[1]
            gmax = float(mem.max(mem.abs(g)))
            theta = theta - g / L
        else:
            gmax = float(mem.max(mem.abs(g)))
            direction = lbfgs_direction(g, memory, xp=mem)
            if not float(vdot(g, direction, xp=mem)) < 0:
                direction = -g
            line, loss1, gsum1, _ = passes.run(classes, theta, direction, kind, fit_intercept, False)
            w, dw = theta[:d, ...], direction[:d, ...]
            ww, wdw, dwdw = mem.sum(w * w), mem.sum(w * dw), mem.sum(dw * dw)
            t = armijo_step(lambda ts: line / n + 0.5 * alpha * (ww + 2.0 * ts * wdw + ts * ts * dwdw), f,
                            vdot(g, direction, xp=mem), dtype=dtype, device=device_of(theta), xp=mem)
            new = theta + t * direction
            if float(t) != 1.0:
                _, loss1, gsum1, _ = passes.run(classes, new, None, kind, fit_intercept, False)
            f_new, g_new = loss_grad(loss1, gsum1, new)
            memory = lbfgs_update(memory, new - theta, g_new - g, xp=mem)
            theta, f, g = new, f_new, g_new
        if gmax <= tol:  # as in memory: the step at the converged point is kept
            break
    else:
        warn_not_converged("LogisticRegression" if kind == "binary" else "SoftmaxRegression", max_iter,
                           "gradient above tol")
    return classes, theta, it, finite


def _dask_newton(X, y, alpha, kind, fit_intercept, max_iter, tol):
    r"""Damped Newton on Dask ``X`` and labels ``y``, as ``_newton`` in memory, pass by pass.

    One pass finds the classes (and checks finiteness); one gives loss,
    gradient and Hessian at the start.  Then each iteration is one pass: the
    chunks return the 30 line-search losses along the Newton direction *and*
    the loss, gradient and Hessian sums at the full step, which is the
    accepted step near the optimum; a shorter step costs one more pass.
    Every pass is one ``dask.compute`` of one task per chunk (deterministic
    keys), nothing persisted; the :math:`p	imes p` algebra runs in memory.
    Returns ``(classes, theta, iterations, finite)`` (in memory).
    """
    passes = _DaskPasses(X, y)
    classes, finite, _ = passes.labels()
    mem = array_namespace(classes)
    if _bad_classes(classes, kind, finite):
        return classes, None, 0, finite
    n, d = X.shape
    p = d + int(fit_intercept)
    dtype = X.dtype
    theta = mem.zeros((p,) if kind == "binary" else (p, int(classes.shape[0])), dtype=dtype)

    def run(theta, direction):
        return passes.run(classes, theta, direction, kind, fit_intercept, True)

    pen = _penalty_diag(d, p, dtype, device_of(theta), mem)
    pen = pen if kind == "binary" else pen[:, None]
    _, loss, gsum, hsum = run(theta, None)
    for it in range(1, max_iter + 1):
        w = theta[:d, ...]
        f = loss / n + 0.5 * alpha * mem.sum(w * w)
        g = gsum / n + alpha * pen * theta
        gmax = float(mem.max(mem.abs(g)))
        H = _hessian_finish(hsum, n, d, alpha, kind, fit_intercept, mem)
        direction = -mem.reshape(solve(H, mem.reshape(g, (-1, 1)), xp=mem), theta.shape)
        line, loss1, gsum1, hsum1 = run(theta, direction)
        dw = direction[:d, ...]
        ww, wdw, dwdw = mem.sum(w * w), mem.sum(w * dw), mem.sum(dw * dw)
        t = armijo_step(lambda ts: line / n + 0.5 * alpha * (ww + 2.0 * ts * wdw + ts * ts * dwdw), f,
                        vdot(g, direction, xp=mem), dtype=dtype, device=device_of(theta), xp=mem)
        if float(t) == 1.0:
            theta, loss, gsum, hsum = theta + direction, loss1, gsum1, hsum1
        else:
            theta = theta + t * direction
            _, loss, gsum, hsum = run(theta, None)
        if gmax <= tol:  # as in memory: the step at the converged point is kept
            break
    else:
        warn_not_converged("LogisticRegression" if kind == "binary" else "SoftmaxRegression", max_iter,
                           "gradient above tol")
    return classes, theta, it, finite


# ------------------------------------------------------------------ estimators
_SOLVERS = ("newton", "lbfgs", "gd")
_PENALTIES = ("l2", "l1", "elasticnet", None)


class _LogisticBase(ClassifierMixin, Estimator):
    _kind = "binary"

    def _check_params(self):
        if self.solver not in _SOLVERS:
            raise ValueError(f"solver must be one of {_SOLVERS}; got solver={self.solver!r}")
        check_positive(self.alpha, "alpha", strict=False)
        check_int(self.max_iter, "max_iter", low=1)
        check_positive(self.tol, "tol", strict=False)
        penalty = getattr(self, "penalty", "l2")
        if penalty not in _PENALTIES:
            raise ValueError(f"penalty must be one of {_PENALTIES}; got penalty={penalty!r}")
        if penalty == "elasticnet":
            l1_ratio = getattr(self, "l1_ratio", 0.5)
            if isinstance(l1_ratio, bool) or not isinstance(l1_ratio, (int, float)) or not 0.0 <= l1_ratio <= 1.0:
                raise ValueError(f"l1_ratio must be a number in [0, 1]; got l1_ratio={l1_ratio!r}")

    def _penalty_split(self):
        """(l1, l2) strengths: the penalty is ``l1 ||w||_1 + l2/2 ||w||^2``."""
        penalty, a = getattr(self, "penalty", "l2"), float(self.alpha)
        if penalty is None:
            return 0.0, 0.0
        if penalty == "l2":
            return 0.0, a
        if penalty == "l1":
            return a, 0.0
        r = float(self.l1_ratio)
        return a * r, a * (1.0 - r)

    def _targets(self, Y, xp):
        return Y

    def fit(self, X, y):
        """Fit on ``X`` (n_samples, n_features) and class labels ``y`` (n_samples,)."""
        self._check_params()
        X, y, xp = check_X_y(X, y, y_numeric=False, check_finite=True)  # Dask: checked in the first pass
        l1, l2 = self._penalty_split()
        if l1 > 0:
            return self._fit_prox(X, y)
        if _is_dask(X):
            return self._fit_dask_newton(X, y)
        classes, Y = encode_labels(y, xp, X.dtype)
        T = self._targets(Y, xp)
        n, d = X.shape
        p = d + int(bool(self.fit_intercept))
        shape = (p,) if self._kind == "binary" else (p, Y.shape[1])
        theta = xp.zeros(shape, dtype=X.dtype, device=device_of(X))
        alpha, kind, fi = l2, self._kind, bool(self.fit_intercept)
        if self.solver == "newton":
            step = compiled(_newton_iteration, xp)
            advance = lambda th: step(th, X, T, alpha, kind=kind, fit_intercept=fi)  # noqa: E731
        elif self.solver == "gd":
            gram, back = computed(_design_gram(X, fi))
            lam = back(gram_top_eigenvalue(gram, xp=array_namespace(gram)))
            L = lam / (4.0 if kind == "binary" else 2.0) + alpha
            step = compiled(_gd_iteration, xp)
            advance = lambda th: step(th, X, T, alpha, L, kind=kind, fit_intercept=fi)  # noqa: E731
        else:
            theta = lbfgs_init_state(theta, X, T, alpha, multinomial=kind == "multinomial", fit_intercept=fi)
            step = compiled(_lbfgs_iteration, xp)
            advance = lambda st: step(st, X, T, alpha, kind=kind, fit_intercept=fi)  # noqa: E731
        # each call returns the next iterate and max|grad| at the current one;
        # at convergence the extra step is kept (it only sharpens the solution)
        for it in range(1, self.max_iter + 1):
            theta, gmax = settle(advance(theta))
            if is_true(gmax <= self.tol):
                break
        else:
            warn_not_converged(type(self).__name__, self.max_iter, "gradient above tol")
        if self.solver == "lbfgs":
            theta = theta.theta
        self.n_iter_ = it
        self.classes_ = classes
        self.n_features_in_ = int(d)
        self._set_params_from(theta, d, xp)
        return self

    def _fit_prox(self, X, y):
        """l1 / elastic-net penalties: FISTA with adaptive restart and the fixed step 1/L.

        On Dask, ``X`` and ``y`` are computed into memory and the fitted arrays wrapped back.
        """
        (X, y), back = computed((X, y))
        xp = array_namespace(X)
        if not is_true(xp.all(xp.isfinite(X))):
            raise ValueError("X contains NaN or infinity; remove or impute them before fitting")
        l1, l2 = self._penalty_split()
        classes, Y = encode_labels(y, xp, X.dtype)
        T = self._targets(Y, xp)
        n, d = X.shape
        kind, fi = self._kind, bool(self.fit_intercept)
        p = d + int(fi)
        shape = (p,) if kind == "binary" else (p, Y.shape[1])
        dev = device_of(X)
        gram = _design_gram(X, fi)
        L = gram_top_eigenvalue(gram, xp=xp) / (4.0 if kind == "binary" else 2.0) + l2
        zero = xp.zeros(shape, dtype=X.dtype, device=dev)
        state = _ProxState(zero, zero, xp.ones((), dtype=X.dtype, device=dev))
        step = compiled(_prox_iteration, xp)
        for it in range(1, self.max_iter + 1):
            state, gmap = step(state, X, T, l1, l2, L, kind=kind, fit_intercept=fi)
            if is_true(gmap <= self.tol):
                break
        else:
            warn_not_converged(type(self).__name__, self.max_iter, "gradient mapping above tol")
        self.n_iter_ = it
        self.n_features_in_ = int(d)
        self._set_params_from(state.w, d, xp)
        self.classes_, self.coef_, self.intercept_ = back((classes, self.coef_, self.intercept_))
        return self

    def _fit_dask_newton(self, X, y):
        """Any solver on Dask: about one pass over the chunks per iteration (see :func:`_dask_newton`,
        :func:`_dask_first_order`); the fitted arrays are small and computed."""
        from ._stats import from_memory_like

        args = (X, y, self._penalty_split()[1], self._kind, bool(self.fit_intercept), self.max_iter, self.tol)
        if self.solver == "newton":
            classes, theta, it, finite = _dask_newton(*args)
        else:
            classes, theta, it, finite = _dask_first_order(*args, self.solver)
        if not finite:
            raise ValueError("X contains NaN or infinity; remove or impute them before fitting")
        k = int(classes.shape[0])
        if k < 2:
            raise ValueError(f"y must contain at least 2 classes; got {k} class")
        if self._kind == "binary" and k != 2:
            raise ValueError(f"LogisticRegression is binary; y has {k} classes "
                             "(use SoftmaxRegression for more than two)")
        d = int(X.shape[1])
        self.n_iter_ = it
        self.n_features_in_ = d
        self._set_params_from(theta, d, array_namespace(theta))
        self.classes_, self.coef_, self.intercept_ = from_memory_like((classes, self.coef_, self.intercept_), X)
        return self

    def decision_function(self, X):
        """Scores :math:`Xw + b`: shape (n_samples,) for binary, (n_samples, n_classes) for softmax."""
        X, xp = self._check_X(X)
        S = X @ self.coef_.T + self.intercept_
        return S[:, 0] if self._kind == "binary" else S

    def predict_log_proba(self, X):
        """Log class probabilities, shape (n_samples, n_classes), via the stable log-sigmoid / log-softmax."""
        S = self.decision_function(X)
        xp = array_namespace(S)
        if self._kind == "binary":
            S = xp.stack([-S, S], axis=1) / 2.0  # log-softmax of [0, s] equals that of [-s/2, s/2]
        return S - logsumexp(S, axis=-1, keepdims=True, xp=xp)

    def predict_proba(self, X):
        """Class probabilities, shape (n_samples, n_classes), columns in the order of ``classes_``."""
        S = self.decision_function(X)
        xp = array_namespace(S)
        if self._kind == "binary":
            return xp.stack([sigmoid(-S, xp=xp), sigmoid(S, xp=xp)], axis=1)
        return softmax_rows(S, xp)

    def predict(self, X):
        """Most probable class label of each row of ``X``."""
        S = self.decision_function(X)
        xp = array_namespace(S)
        idx = xp.astype(S > 0, xp.int32) if self._kind == "binary" else xp.argmax(S, axis=1)
        return xp.take(self.classes_, idx, axis=0)


class LogisticRegression(_LogisticBase):
    r"""Binary logistic regression with an L2 penalty.

    Minimises :math:`\frac1n\sum_i \ell(x_i^\top w + b, y_i) + \frac\alpha2\|w\|^2`
    (intercept not penalised), which is scikit-learn's
    ``LogisticRegression(C=1/(n*alpha))``.  See the module docstring for the
    solvers and the convergence test.  Labels may be any two values; the
    larger one (in sorted order) is the positive class, as in scikit-learn.
    For more than two classes use :class:`SoftmaxRegression`.

    ``fit`` is eager: the classes are read from ``y`` and a convergence flag
    is read back once per iteration.  On JAX each iteration is one call of a
    jitted step.

    With ``penalty`` the objective is, in general,

    .. math::
        J(w, b) = \frac1n\sum_i \ell(x_i^\top w + b, y_i)
            + \alpha\Bigl(\rho\|w\|_1 + \frac{1-\rho}2\|w\|^2\Bigr)

    with :math:`\rho` = 1 for ``"l1"``, 0 for ``"l2"``, ``l1_ratio`` for
    ``"elasticnet"`` (and no penalty at all for ``None``, ``alpha`` then
    ignored).  scikit-learn minimises
    :math:`C\sum_i\ell + \rho\|w\|_1 + \frac{1-\rho}2\|w\|^2`, which is
    :math:`Cn\,J`: the minimisers agree at :math:`C = 1/(n\alpha)` (with
    ``solver="saga"`` or ``"liblinear"``; liblinear also penalises the
    intercept, saga does not -- compare with saga).  The non-smooth penalties
    (:math:`\rho > 0`) are fitted by proximal gradient (FISTA with adaptive
    restart, fixed step :math:`1/L`,
    :math:`L = \lambda_{\max}(\tilde X^\top\tilde X)/(4n) + \alpha(1-\rho)`)
    whatever ``solver`` says; convergence is then
    :math:`L\|z - \operatorname{prox}(z - \nabla f(z)/L)\|_\infty \le` ``tol``
    (the gradient mapping), and being first-order they usually need a larger
    ``max_iter`` than the default.  On Dask they run in memory on the
    computed ``X``.

    Parameters
    ----------
    alpha : float, default 1.0
        Penalty strength, :math:`\alpha \ge 0`.
    solver : {"newton", "lbfgs", "gd"}, default "newton"
        Used for ``penalty="l2"`` and ``None`` (and elastic net with ``l1_ratio=0``).
    max_iter : int, default 100
    tol : float, default 1e-6
        Stop when :math:`\|\nabla J\|_\infty \le` ``tol`` (the gradient mapping for l1 penalties).
    fit_intercept : bool, default True
    penalty : {"l2", "l1", "elasticnet", None}, default "l2"
    l1_ratio : float in [0, 1], default 0.5
        :math:`\rho` of ``penalty="elasticnet"`` (ignored otherwise).

    Attributes
    ----------
    coef_ : array of shape (1, n_features)
    intercept_ : array of shape (1,)
    classes_ : array of shape (2,)
    n_iter_ : int
    n_features_in_ : int
    """

    _kind = "binary"

    def __init__(self, *, alpha=1.0, solver="newton", max_iter=100, tol=1e-6, fit_intercept=True,
                 penalty="l2", l1_ratio=0.5):
        self.penalty = penalty
        self.l1_ratio = l1_ratio
        self.alpha = alpha
        self.solver = solver
        self.max_iter = max_iter
        self.tol = tol
        self.fit_intercept = fit_intercept

    def _targets(self, Y, xp):
        if Y.shape[1] != 2:
            raise ValueError(f"LogisticRegression is binary; y has {Y.shape[1]} classes "
                             "(use SoftmaxRegression for more than two)")
        return Y[:, 1]

    def _set_params_from(self, theta, d, xp):
        self.coef_ = xp.reshape(theta[:d], (1, d))
        self.intercept_ = theta[d:] if self.fit_intercept else xp.zeros((1,), dtype=theta.dtype,
                                                                          device=device_of(theta))


class SoftmaxRegression(_LogisticBase):
    r"""Multinomial (softmax) logistic regression with an L2 penalty.

    Minimises :math:`\frac1n\sum_i \bigl[\log\sum_c e^{s_{ic}} - s_{i y_i}\bigr] + \frac\alpha2\|W\|_F^2`
    with :math:`S = XW + b` (intercepts not penalised), which is scikit-learn's
    multinomial ``LogisticRegression(C=1/(n*alpha))``.  As there, the
    intercepts are determined only up to a common shift and the symmetric
    solution :math:`\sum_c b_c = 0` is returned; the coefficient rows sum to
    zero at the optimum.

    ``solver="newton"`` (default) builds the full :math:`(d+1)k` Hessian
    (:func:`softmax_newton_step`): fast for small :math:`dk`; for hundreds of
    features times classes use ``"lbfgs"``.  Two classes are fitted with two
    coefficient rows (unlike scikit-learn's binary special case).

    ``penalty`` and ``l1_ratio`` act as in :class:`LogisticRegression` (the
    l1 term on every entry of :math:`W`), matching scikit-learn's multinomial
    saga fit at :math:`C = 1/(n\alpha)`.

    Parameters
    ----------
    alpha : float, default 1.0
    solver : {"newton", "lbfgs", "gd"}, default "newton"
    max_iter : int, default 100
    tol : float, default 1e-6
    fit_intercept : bool, default True
    penalty : {"l2", "l1", "elasticnet", None}, default "l2"
    l1_ratio : float in [0, 1], default 0.5

    Attributes
    ----------
    coef_ : array of shape (n_classes, n_features)
    intercept_ : array of shape (n_classes,)
    classes_ : array of shape (n_classes,)
    n_iter_ : int
    n_features_in_ : int
    """

    _kind = "multinomial"

    def __init__(self, *, alpha=1.0, solver="newton", max_iter=100, tol=1e-6, fit_intercept=True,
                 penalty="l2", l1_ratio=0.5):
        self.penalty = penalty
        self.l1_ratio = l1_ratio
        self.alpha = alpha
        self.solver = solver
        self.max_iter = max_iter
        self.tol = tol
        self.fit_intercept = fit_intercept

    def _set_params_from(self, theta, d, xp):
        self.coef_ = theta[:d, :].T
        self.intercept_ = theta[d, :] if self.fit_intercept else xp.zeros((theta.shape[1],), dtype=theta.dtype,
                                                                            device=device_of(theta))
