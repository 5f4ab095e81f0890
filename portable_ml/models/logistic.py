r"""Logistic regression (binary) and softmax regression (multinomial), L2-, L1- or elastic-net-penalised.

Objective, with the intercept not penalised (``penalty="l2"``, the default):

.. math::
    J(w, b) = \frac1n\sum_{i=1}^n \ell(x_i^\top w + b,\ y_i) + \frac\alpha2\|w\|^2

and in general, with :math:`\rho` = ``l1_ratio``,

.. math::
    J(w, b) = \frac1n\sum_{i=1}^n \ell(x_i^\top w + b,\ y_i)
        + \alpha\Bigl(\frac{1-\rho}2\|w\|^2 + \rho\|w\|_1\Bigr)

(:math:`\rho = 0` for ``"l2"``, :math:`\rho = 1` for ``"l1"``, :math:`\alpha = 0`
for ``penalty=None``); scikit-learn's ``C`` times the sum of losses plus the
same bracket, divided by :math:`Cn`, so again :math:`C = 1/(n\alpha)`.
With sample weights :math:`s_i` (``fit``'s ``sample_weight`` times
``class_weight`` of the sample's class) the data term is
:math:`\frac1n\sum_i s_i\,\ell_i` -- still divided by the number of samples
:math:`n`, not by :math:`\sum_i s_i`, so that :math:`C = 1/(n\alpha)` keeps
matching scikit-learn's weighted objective :math:`C\sum_i s_i\ell_i + \dots`.

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

* ``"auto"`` (default): ``"newton"`` for at most 32 parameters :math:`(d+1)k` and on Dask, else
  ``"lbfgs"`` (a Newton iteration costs :math:`O(np^2)`, an L-BFGS one two passes over X).
* ``"newton"``: Newton's method with the exact Hessian
  :math:`\tilde X^\top \operatorname{diag}(\hat p(1-\hat p)) \tilde X/n + \alpha I_w`
  (binary; the multinomial Hessian has :math:`(d+1)k` rows, see
  :func:`softmax_newton_step`), solved with ``linalg.solve``, damped by a
  vectorised Armijo backtracking line search.  Quadratic convergence; cost
  :math:`O(n p^2 + p^3)` per step for :math:`p` parameters.
* ``"lbfgs"``: L-BFGS (memory 10) with the same line search.
* ``"gd"``: gradient descent with the fixed step :math:`1/L`,
  :math:`L = \lambda_{\max}(\tilde X^\top\tilde X)/(4n) + \alpha` (binary;
  :math:`/(2n)` multinomial).  For completeness; slow on ill-conditioned data.
* ``"fista"``: accelerated proximal gradient (FISTA with gradient restart)
  with the step :math:`1/L`, :math:`L` as for ``"gd"`` with
  :math:`\alpha(1-\rho)`; the L1 part enters through soft-thresholding of the
  weights.  Used for ``"l1"`` and ``"elasticnet"`` (with :math:`\rho > 0`)
  whatever ``solver`` says, the others needing a smooth objective; linear
  convergence, so give it ``max_iter`` in the thousands.  On Dask one pass
  over the chunks per iteration.

All stop when :math:`\|\nabla J\|_\infty \le` ``tol`` (read on the host once
per iteration; scikit-learn's lbfgs uses the same test on the same scaled
objective); ``"fista"`` uses the gradient mapping
:math:`\|L(z - \theta^+)\|_\infty`, which is :math:`\|\nabla J\|_\infty` for a
smooth objective and zero exactly at a minimiser.
"""

from __future__ import annotations

from typing import NamedTuple

from .._numerics import logistic_numerator, logsumexp, sigmoid, softplus
from .._validate import check_bool, check_int
from .._xp import array_namespace, check_positive, device_of
from ._base import (
    ClassifierMixin,
    Estimator,
    _is_dask,
    check_core_args,
    check_sample_weight,
    check_X_y,
    class_weight_vector,
    combined_weights,
    compiled,
    computed,
    encode_labels,
    is_true,
    settle,
    softmax_rows,
    warn_not_converged,
)
from ._solvers import (
    _ARMIJO_C1,
    _N_STEPS,
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


def _sample_losses(S, Y, kind, *, xp):
    """Per-sample loss over the sample axis 0 (extra trailing axes of S are candidates)."""
    if kind == "binary":
        return Y * softplus(-S, xp=xp) + (1.0 - Y) * softplus(S, xp=xp)
    return logsumexp(S, axis=-1, xp=xp) - xp.sum(Y * S, axis=-1)


def _probs(S, kind, *, xp):
    return sigmoid(S, xp=xp) if kind == "binary" else softmax_rows(S, xp)


def _wmean(losses, sw, axis, *, xp):
    """Mean over the samples on ``axis`` (0 or -1); with weights ``sw`` (n,): :math:`\\sum_i s_i l_i / n`."""
    if sw is None:
        return xp.mean(losses, axis=axis)
    n = losses.shape[axis]
    if axis == 0 and losses.ndim == 2:
        return xp.sum(sw[:, None] * losses, axis=0) / n
    return xp.sum(sw * losses, axis=axis) / n


def _weigh_rows(R, sw):
    """Rows of ``R`` (n,) or (n, k) times the sample weights (unchanged without them)."""
    if sw is None:
        return R
    return R * sw if R.ndim == 1 else R * sw[:, None]


def _penalty_sq(theta, d, *, xp):
    w = theta[:d, ...]
    return xp.sum(w * w)


def _objective(theta, X, Y, alpha, kind, fit_intercept, sw=None, *, xp):
    S = _scores(theta, X, fit_intercept)
    return _wmean(_sample_losses(S, Y, kind, xp=xp), sw, 0, xp=xp) + 0.5 * alpha * _penalty_sq(theta, X.shape[1], xp=xp)


def _grad_from_residual(theta, X, R, alpha, fit_intercept, *, xp):
    n, d = X.shape
    gw = X.T @ R / n + alpha * theta[:d, ...]
    if not fit_intercept:
        return gw
    return xp.concat([gw, xp.sum(R, axis=0, keepdims=True) / n], axis=0)


def _loss_grad(theta, X, Y, alpha, kind, fit_intercept, sw=None, *, xp):
    S = _scores(theta, X, fit_intercept)
    f = _wmean(_sample_losses(S, Y, kind, xp=xp), sw, 0, xp=xp) + 0.5 * alpha * _penalty_sq(theta, X.shape[1], xp=xp)
    g = _grad_from_residual(theta, X, _weigh_rows(_probs(S, kind, xp=xp) - Y, sw), alpha, fit_intercept, xp=xp)
    return f, g, S


def _line_search(theta, direction, X, Y, alpha, S, f0, g, kind, fit_intercept, sw=None, *, xp):
    """Step size along ``direction`` by vectorised Armijo backtracking (one extra X-product)."""
    dS = _scores(direction, X, fit_intercept)
    return _line_search_scores(theta, direction, dS, Y, alpha, S, f0, g, X.shape[1], kind, sw, xp=xp)


def _line_search_scores(theta, direction, dS, Y, alpha, S, f0, g, d, kind, sw=None, *, xp):
    """:func:`_line_search` given the scores ``S`` at ``theta`` and ``dS`` of the direction: no X-product."""
    w, dw = theta[:d, ...], direction[:d, ...]
    ww, wdw, dwdw = xp.sum(w * w), xp.sum(w * dw), xp.sum(dw * dw)

    def losses_at(ts):
        if kind == "binary":  # candidates on a trailing axis: (n, K)
            St = S[:, None] + dS[:, None] * ts[None, :]
            data = _wmean(_sample_losses(St, Y[:, None], kind, xp=xp), sw, 0, xp=xp)
        else:  # (K, n, k)
            St = S[None, ...] + ts[:, None, None] * dS[None, ...]
            data = _wmean(_sample_losses(St, Y[None, ...], kind, xp=xp), sw, -1, xp=xp)
        return data + 0.5 * alpha * (ww + 2.0 * ts * wdw + ts * ts * dwdw)

    return armijo_step(losses_at, f0, vdot(g, direction, xp=xp), dtype=theta.dtype,
                       device=device_of(theta), xp=xp)


def _augment(X, *, xp):
    return xp.concat([X, xp.ones((X.shape[0], 1), dtype=X.dtype, device=device_of(X))], axis=1)


def _penalty_diag(d, p, dtype, device, *, xp):
    """1 for the weights, 0 for the intercept row."""
    return xp.astype(xp.arange(p, device=device) < d, dtype)


def _hessian(X, S, alpha, kind, fit_intercept, sw=None, *, xp):
    return _hessian_finish(_hessian_sum(X, S, kind, fit_intercept, sw, xp=xp), X.shape[0], X.shape[1], alpha, kind,
                           fit_intercept, xp=xp)


def _hessian_sum(X, S, kind, fit_intercept, sw=None, *, xp):
    """The data part of the Hessian, summed (not averaged) over the samples: additive over row blocks."""
    n, d = X.shape
    Xa = _augment(X, xp=xp) if fit_intercept else X
    p = Xa.shape[1]
    if kind == "binary":
        h = _weigh_rows(sigmoid(S, xp=xp) * sigmoid(-S, xp=xp), sw)
        return Xa.T @ (h[:, None] * Xa)
    dev = device_of(X)
    P = softmax_rows(S, xp)
    k = P.shape[1]
    eye_k = xp.eye(k, dtype=X.dtype, device=dev)
    Z = xp.reshape(Xa[:, :, None] * P[:, None, :], (n, p * k))  # Z[i, (j, c)] = x_ij p_ic
    Zw = _weigh_rows(Z, sw)
    M = xp.reshape(Xa.T @ Zw, (p, p, k))  # M[l, j, c] = sum_i s_i x_il x_ij p_ic
    T1 = xp.permute_dims(M, (1, 2, 0))[:, :, :, None] * eye_k[None, :, None, :]  # [j, c, l, e]
    return xp.reshape(T1, (p * k, p * k)) - Zw.T @ Z


def _hessian_finish(Hsum, n, d, alpha, kind, fit_intercept, *, xp):
    """Hessian from its data sum over ``n`` samples: average, add the penalty (and, multinomial, fix the null space)."""
    dev = device_of(Hsum)
    dtype = Hsum.dtype
    p = d + int(bool(fit_intercept))
    pen = _penalty_diag(d, p, dtype, dev, xp=xp)
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


def _newton(theta, X, Y, alpha, kind, fit_intercept, sw=None, *, xp):
    """(theta_new, max |grad(theta)|)."""
    f, g, S = _loss_grad(theta, X, Y, alpha, kind, fit_intercept, sw, xp=xp)
    H = _hessian(X, S, alpha, kind, fit_intercept, sw, xp=xp)
    direction = _newton_direction(theta, g, H, X, alpha, kind, xp=xp)
    t = _line_search(theta, direction, X, Y, alpha, S, f, g, kind, fit_intercept, sw, xp=xp)
    return theta + t * direction, xp.max(xp.abs(g))


def _newton_direction(theta, g, H, X, alpha, kind, *, xp):
    r""":math:`-H^{-1}\nabla J` (multinomial: with the exact component along the null directions)."""
    direction = -xp.reshape(solve(H, xp.reshape(g, (-1, 1)), xp=xp), theta.shape)
    if kind != "binary":
        # Exact Newton component along v 1_k^T on the penalised rows (see _hessian):
        # there H = alpha I and g = alpha * mean(theta_row) (the loss is flat), so
        # the step is -mean(theta_row) -- taken from theta, not from g / alpha,
        # whose rounding would be amplified when alpha is tiny against the loss.
        dev = device_of(X)
        on = _penalty_diag(X.shape[1], theta.shape[0], X.dtype, dev, xp=xp) * xp.astype(
            xp.asarray(alpha > 0, device=dev), X.dtype)
        fix = xp.mean(direction, axis=1, keepdims=True) + xp.mean(theta, axis=1, keepdims=True)
        direction = direction - on[:, None] * fix
    return direction


def _gd(theta, X, Y, alpha, lipschitz, kind, fit_intercept, sw=None, *, xp):
    f, g, S = _loss_grad(theta, X, Y, alpha, kind, fit_intercept, sw, xp=xp)
    return theta - g / lipschitz, xp.max(xp.abs(g))


class _FistaState(NamedTuple):
    """Proximal-gradient state: iterate ``theta``, extrapolated point ``z``, momentum ``t``."""

    theta: object
    z: object
    t: object


def _fista_init(theta, *, xp):
    return _FistaState(theta, theta, xp.ones((), dtype=theta.dtype, device=device_of(theta)))


def _fista_update(state, g, lipschitz, l1, d, *, xp):
    r"""One accelerated proximal-gradient step from the smooth gradient ``g`` at ``state.z``.

    .. math::
        \theta^+ = \operatorname{prox}_{\lambda_1\|w\|_1/L}\bigl(z - g/L\bigr),\qquad
        t^+ = \tfrac12\bigl(1 + \sqrt{1 + 4t^2}\bigr),\qquad
        z^+ = \theta^+ + \tfrac{t - 1}{t^+}(\theta^+ - \theta)

    (soft-thresholding on the weight rows only: the intercept is not
    penalised), with O'Donoghue and Candes's gradient restart: when
    :math:`(z - \theta^+)^\top(\theta^+ - \theta) > 0` the momentum is reset
    (:math:`t = 1`, :math:`z^+ = \theta^+`).  Returns the new state and
    :math:`\|L(z - \theta^+)\|_\infty`, the gradient mapping at :math:`z`
    (zero exactly at a minimiser).
    """
    theta, z, t = state
    dev = device_of(theta)
    step = z - g / lipschitz
    pen = _penalty_diag(d, theta.shape[0], theta.dtype, dev, xp=xp)
    pen = pen if theta.ndim == 1 else pen[:, None]
    shrunk = soft_threshold(step, l1 / lipschitz, xp=xp)
    new = pen * shrunk + (1.0 - pen) * step
    restart = vdot(z - new, new - theta, xp=xp) > 0
    t = xp.where(restart, xp.ones_like(t), t)
    t_new = 0.5 * (1.0 + xp.sqrt(1.0 + 4.0 * t * t))
    z_new = new + ((t - 1.0) / t_new) * (new - theta)
    return _FistaState(new, z_new, t_new), xp.max(xp.abs(z - new)) * lipschitz


def _fista(state, X, Y, alpha2, l1, lipschitz, kind, fit_intercept, sw=None, *, xp):
    g = _loss_grad(state.z, X, Y, alpha2, kind, fit_intercept, sw, xp=xp)[1]
    return _fista_update(state, g, lipschitz, l1, X.shape[1], xp=xp)


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
    xp, theta, X, y = check_core_args(theta, X, y, alpha, fit_intercept=fit_intercept)
    return _objective(theta, X, y, alpha, "binary", fit_intercept, xp=xp)


def logistic_grad(theta, X, y, alpha, *, fit_intercept=True):
    r"""Gradient of :func:`logistic_objective`.

    .. math:: \nabla_w J = X^\top(\sigma(s) - y)/n + \alpha w,\qquad \nabla_b J = \overline{\sigma(s) - y}
    """
    xp, theta, X, y = check_core_args(theta, X, y, alpha, fit_intercept=fit_intercept)
    return _loss_grad(theta, X, y, alpha, "binary", fit_intercept, xp=xp)[1]


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
    xp, theta, X, y = check_core_args(theta, X, y, alpha, fit_intercept=fit_intercept)
    return _newton(theta, X, y, alpha, "binary", fit_intercept, xp=xp)[0]


def logistic_gd_step(theta, X, y, alpha, lipschitz, *, fit_intercept=True):
    r"""One gradient-descent step :math:`\theta \leftarrow \theta - \nabla J(\theta)/L`."""
    xp, theta, X, y = check_core_args(theta, X, y, alpha, fit_intercept=fit_intercept, lipschitz=lipschitz)
    return _gd(theta, X, y, alpha, lipschitz, "binary", fit_intercept, xp=xp)[0]


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
    xp, theta, X, Y = check_core_args(theta, X, Y, alpha, fit_intercept=fit_intercept, multinomial=True)
    return _objective(theta, X, Y, alpha, "multinomial", fit_intercept, xp=xp)


def softmax_grad(theta, X, Y, alpha, *, fit_intercept=True):
    r"""Gradient of :func:`softmax_objective`.

    .. math::
        \nabla_W J = X^\top(\operatorname{softmax}(S) - Y)/n + \alpha W,\qquad
        \nabla_b J = \overline{\operatorname{softmax}(S) - Y}
    """
    xp, theta, X, Y = check_core_args(theta, X, Y, alpha, fit_intercept=fit_intercept, multinomial=True)
    return _loss_grad(theta, X, Y, alpha, "multinomial", fit_intercept, xp=xp)[1]


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
    xp, theta, X, Y = check_core_args(theta, X, Y, alpha, fit_intercept=fit_intercept, multinomial=True)
    return _newton(theta, X, Y, alpha, "multinomial", fit_intercept, xp=xp)[0]


def softmax_gd_step(theta, X, Y, alpha, lipschitz, *, fit_intercept=True):
    r"""One gradient-descent step :math:`\theta \leftarrow \theta - \nabla J(\theta)/L` on :func:`softmax_objective`."""
    xp, theta, X, Y = check_core_args(theta, X, Y, alpha, fit_intercept=fit_intercept, multinomial=True,
                                      lipschitz=lipschitz)
    return _gd(theta, X, Y, alpha, lipschitz, "multinomial", fit_intercept, xp=xp)[0]


class LbfgsState(NamedTuple):
    """L-BFGS state: parameters, objective and gradient there, and the curvature memory."""

    theta: object
    loss: object
    grad: object
    memory: LbfgsMemory


def lbfgs_init_state(theta, X, Y, alpha, *, multinomial=False, fit_intercept=True, memory=10):
    """Initial :class:`LbfgsState` at ``theta`` (empty memory of ``memory`` pairs)."""
    kind = "multinomial" if check_bool(multinomial, "multinomial") else "binary"
    memory = check_int(memory, "memory", low=1)
    xp, theta, X, Y = check_core_args(theta, X, Y, alpha, fit_intercept=fit_intercept,
                                      multinomial=kind == "multinomial")
    f, g, _ = _loss_grad(theta, X, Y, alpha, kind, fit_intercept, xp=xp)
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
    return _lbfgs_step(state, X, Y, alpha, "multinomial" if multinomial else "binary", fit_intercept, xp=xp)


def _lbfgs_step(state, X, Y, alpha, kind, fit_intercept, sw=None, *, xp):
    theta, f, g, mem = state
    direction = lbfgs_direction(g, mem, xp=xp)
    descent = vdot(g, direction, xp=xp) < 0
    direction = xp.where(descent, direction, -g)
    S = _scores(theta, X, fit_intercept)
    t = _line_search(theta, direction, X, Y, alpha, S, f, g, kind, fit_intercept, sw, xp=xp)
    theta_new = theta + t * direction
    f_new, g_new, _ = _loss_grad(theta_new, X, Y, alpha, kind, fit_intercept, sw, xp=xp)
    return LbfgsState(theta_new, f_new, g_new, lbfgs_update(mem, theta_new - theta, g_new - g, xp=xp))


# ------------------------------------------------------------------ private fused iterations
def _newton_iteration(theta, X, Y, alpha, sw, *, kind, fit_intercept):
    return _newton(theta, X, Y, alpha, kind, fit_intercept, sw, xp=array_namespace(theta, X, Y))


def _gd_iteration(theta, X, Y, alpha, lipschitz, sw, *, kind, fit_intercept):
    return _gd(theta, X, Y, alpha, lipschitz, kind, fit_intercept, sw, xp=array_namespace(theta, X, Y))


def _fista_iteration(state, X, Y, alpha2, l1, lipschitz, sw, *, kind, fit_intercept):
    return _fista(state, X, Y, alpha2, l1, lipschitz, kind, fit_intercept, sw, xp=array_namespace(state.theta, X, Y))


# ------------------------------------------------------------------ in-memory Newton and L-BFGS runs
# The estimators carry the scores S = X theta (+ b) from one iteration to the next and try the
# full step first, so an iteration reads X twice: X d for the direction d, and X^T (p - y) for the
# gradient at theta + d (plus, for Newton, the Hessian product).  The line search then costs O(n)
# (the losses at S + dS); only when the full step fails the Armijo test does the vectorised search
# over the candidate steps run, four at a time, from the same S and dS.  The iterates equal those of the public
# one-step functions: armijo_step picks t = 1 whenever t = 1 passes.
class _Run(NamedTuple):
    """State of an in-memory run: parameters, objective, gradient, scores there; L-BFGS memory (or None)."""

    theta: object
    loss: object
    grad: object
    scores: object
    memory: object


def _loss_residual(S, Y, kind, sw=None, *, xp):
    r"""Mean data loss and the (weighted) residual :math:`\hat p - y` at scores ``S``, one ``exp`` per entry.

    Binary, with :math:`e = e^{-|s|}`: :math:`\ell = (\max(s, 0) - ys) + \log(1 + e)` (exact for 0/1
    labels at any :math:`|s|`) and :math:`\sigma(s)` from the same :math:`e`.  Multinomial: the
    log-sum-exp and the softmax from the same shifted exponentials.
    """
    if kind == "binary":
        e = xp.exp(xp.minimum(S, -S))
        losses = (xp.maximum(S, xp.zeros_like(S)) - Y * S) + xp.log1p(e)
        P = logistic_numerator(S, e, xp=xp) / (1.0 + e)
    else:
        m = xp.max(S, axis=-1, keepdims=True)
        E = xp.exp(S - m)
        total = xp.sum(E, axis=-1, keepdims=True)
        losses = (m + xp.log(total))[:, 0] - xp.sum(Y * S, axis=-1)
        P = E / total
    return _wmean(losses, sw, 0, xp=xp), _weigh_rows(P - Y, sw)


def _at_scores(theta, S, X, Y, alpha, kind, fit_intercept, sw=None, *, xp):
    """Objective and gradient at ``theta`` whose scores are ``S`` (one X-product: the gradient's)."""
    data, R = _loss_residual(S, Y, kind, sw, xp=xp)
    f = data + 0.5 * alpha * _penalty_sq(theta, X.shape[1], xp=xp)
    return f, _grad_from_residual(theta, X, R, alpha, fit_intercept, xp=xp)


def _binary_hessian_sum(X, S, fit_intercept, sw=None, *, xp):
    r""":math:`\tilde X^\top \operatorname{diag}(h)\tilde X` by blocks, :math:`h = \sigma(s)\sigma(-s)`
    (weighted): :math:`(\sqrt h X)^\top(\sqrt h X)` (a symmetric product), :math:`X^\top h`, :math:`\sum h`
    -- no copy of ``X`` with a column of ones."""
    h = _weigh_rows(sigmoid(S, xp=xp) * sigmoid(-S, xp=xp), sw)
    Xh = xp.sqrt(h)[:, None] * X
    Hw = Xh.T @ Xh
    if not fit_intercept:
        return Hw
    hx = X.T @ h
    top = xp.concat([Hw, hx[:, None]], axis=1)
    bottom = xp.concat([hx, xp.reshape(xp.sum(h), (1,))])[None, :]
    return xp.concat([top, bottom], axis=0)


def _run_start(theta, X, Y, alpha, sw, *, kind, fit_intercept, memory):
    r"""The run at ``theta`` (``memory`` L-BFGS pairs; 0 for Newton) and :math:`\|\nabla J\|_\infty` there."""
    xp = array_namespace(theta, X, Y)
    S = _scores(theta, X, fit_intercept)
    f, g = _at_scores(theta, S, X, Y, alpha, kind, fit_intercept, sw, xp=xp)
    mem = lbfgs_init(theta, memory, xp=xp) if memory else None
    return _Run(theta, f, g, S, mem), xp.max(xp.abs(g))


def _run_move(run, direction, dS, t, X, Y, alpha, sw, kind, fit_intercept, *, xp):
    theta = run.theta + t * direction
    S = run.scores + t * dS
    f, g = _at_scores(theta, S, X, Y, alpha, kind, fit_intercept, sw, xp=xp)
    mem = None if run.memory is None else lbfgs_update(run.memory, theta - run.theta, g - run.grad, xp=xp)
    return _Run(theta, f, g, S, mem), xp.max(xp.abs(g))


def _run_trial(run, X, Y, alpha, sw, *, kind, fit_intercept):
    """The Newton (``run.memory is None``) or L-BFGS direction and the full step along it.

    Returns ``(run at theta + d, max |grad| there, Armijo holds at t = 1, d, X d)``.
    """
    xp = array_namespace(run.theta, X, Y)
    theta, f, g = run.theta, run.loss, run.grad
    if run.memory is None:
        if kind == "binary":
            H = _hessian_finish(_binary_hessian_sum(X, run.scores, fit_intercept, sw, xp=xp), X.shape[0], X.shape[1],
                                alpha, kind, fit_intercept, xp=xp)
        else:
            H = _hessian(X, run.scores, alpha, kind, fit_intercept, sw, xp=xp)
        direction = _newton_direction(theta, g, H, X, alpha, kind, xp=xp)
    else:
        direction = lbfgs_direction(g, run.memory, xp=xp)
        direction = xp.where(vdot(g, direction, xp=xp) < 0, direction, -g)
    dS = _scores(direction, X, fit_intercept)
    new, gmax = _run_move(run, direction, dS, 1.0, X, Y, alpha, sw, kind, fit_intercept, xp=xp)
    slack = 16 * xp.finfo(f.dtype).eps * xp.abs(f)
    ok = (new.loss <= f + _ARMIJO_C1 * vdot(g, direction, xp=xp) + slack) & xp.isfinite(new.loss)
    return new, gmax, ok, direction, dS


_GROUP = 4  # candidate steps tried per call when the full step fails: 2^-1..2^-4, then 2^-5..2^-8, ...


def _run_backtrack(run, direction, dS, X, Y, alpha, sw, *, kind, fit_intercept, first):
    r"""Armijo backtracking along ``direction`` (scores ``dS``) over the candidates
    :math:`2^{-\text{first}}, \dots, 2^{-(\text{first} + 3)}` (at most :math:`2^{-29}`, as
    :func:`armijo_step`): ``(run at the largest that passes, max |grad| there, found)``; when none
    passes the run is unchanged (``found`` false) and the caller tries the next group.  Costs
    :math:`O(4n)`, no X-product but the gradient's."""
    xp = array_namespace(run.theta, X, Y)
    d, f0 = X.shape[1], run.loss
    count = min(_GROUP, _N_STEPS - first)
    idx = xp.arange(count, device=device_of(run.theta))
    ts = 0.5 ** xp.astype(idx + first, run.theta.dtype)
    w, dw = run.theta[:d, ...], direction[:d, ...]
    ww, wdw, dwdw = xp.sum(w * w), xp.sum(w * dw), xp.sum(dw * dw)
    if kind == "binary":
        St = run.scores[:, None] + dS[:, None] * ts[None, :]
        data = _wmean(_fast_losses(St, Y[:, None], kind, xp=xp), sw, 0, xp=xp)
    else:
        St = run.scores[None, ...] + ts[:, None, None] * dS[None, ...]
        data = _wmean(_fast_losses(St, Y[None, ...], kind, xp=xp), sw, -1, xp=xp)
    f = data + 0.5 * alpha * (ww + 2.0 * ts * wdw + ts * ts * dwdw)
    slack = 16 * xp.finfo(f0.dtype).eps * xp.abs(f0)
    ok = (f <= f0 + _ARMIJO_C1 * ts * vdot(run.grad, direction, xp=xp) + slack) & xp.isfinite(f)
    best = xp.min(xp.where(ok, idx, xp.full_like(idx, count)))
    found = best < count
    t = xp.sum(xp.where(idx == best, ts, xp.zeros_like(ts)))  # 0 when none passes: the run stays
    new, gmax = _run_move(run, direction, dS, t, X, Y, alpha, sw, kind, fit_intercept, xp=xp)
    return new, gmax, found


def _fast_losses(S, Y, kind, *, xp):
    r"""Per-sample losses as :func:`_sample_losses` (sample axis 0; binary candidates on a trailing axis,
    multinomial classes on the last), with one ``exp`` and one ``log`` per entry (see :func:`_loss_residual`)."""
    if kind == "binary":
        return (xp.maximum(S, xp.zeros_like(S)) - Y * S) + xp.log1p(xp.exp(xp.minimum(S, -S)))
    m = xp.max(S, axis=-1, keepdims=True)
    return (m[..., 0] + xp.log(xp.sum(xp.exp(S - m), axis=-1))) - xp.sum(Y * S, axis=-1)


def _design_gram(X, fit_intercept, sw=None):
    xp = array_namespace(X)
    Xa = _augment(X, xp=xp) if fit_intercept else X
    return Xa.T @ _weigh_rows(Xa, sw) / X.shape[0]


# ------------------------------------------------------------------ Dask: one task per chunk and pass
_LINE_TS = [0.5**i for i in range(30)]  # armijo_step's candidate steps, in its order


def _chunk_weights(x, labels, w, classes, cw):
    """The chunk's per-sample weights (``None`` without sample or class weights)."""
    if cw is not None:
        xp = array_namespace(x)
        cwi = xp.astype(labels[:, None] == classes[None, :], x.dtype) @ cw
        return cwi if w is None else w * cwi
    return w


def _labels_chunk(x, labels, gram=False, fit_intercept=True, w=None):
    """The chunk's distinct labels, their counts, whether it is finite (and, if ``gram``, its
    design Gram sum, weighted by ``w``)."""
    xp = array_namespace(labels)
    found = xp.sort(xp.unique_values(labels))
    onehot = labels[:, None] == found[None, :]
    counts = xp.sum(xp.astype(onehot, xp.int64), axis=0) if w is None else w @ xp.astype(onehot, w.dtype)
    out = found, bool(array_namespace(x).all(array_namespace(x).isfinite(x))), counts
    if not gram:
        return out
    xa = _augment(x, xp=array_namespace(x)) if fit_intercept else x
    return (*out, xa.T @ _weigh_rows(xa, w))


def _newton_chunk(x, labels, classes, theta, direction, kind, fit_intercept, hessian=True, w=None, cw=None):
    """Sums over one chunk: line-search losses along ``direction`` (if given), then loss, gradient
    and (if ``hessian``) Hessian data sums at ``theta + direction`` (the full step; at ``theta``
    without a direction); every sample weighted by its sample weight ``w`` times its class's ``cw``."""
    xp = array_namespace(x)
    Y = xp.astype(labels[:, None] == classes[None, :], x.dtype)
    T = Y[:, 1] if kind == "binary" else Y
    w = _chunk_weights(x, labels, w, classes, cw)
    line = None
    if direction is not None:
        S, dS = _scores(theta, x, fit_intercept), _scores(direction, x, fit_intercept)
        ts = xp.asarray(_LINE_TS, dtype=x.dtype)
        if kind == "binary":
            L = _sample_losses(S[:, None] + dS[:, None] * ts[None, :], T[:, None], kind, xp=xp)
            line = xp.sum(L if w is None else w[:, None] * L, axis=0)
        else:
            L = _sample_losses(S[None, ...] + ts[:, None, None] * dS[None, ...], T[None, ...], kind, xp=xp)
            line = xp.sum(L if w is None else w * L, axis=-1)
        theta = theta + direction
    S = _scores(theta, x, fit_intercept)
    R = _weigh_rows(_probs(S, kind, xp=xp) - T, w)
    g = x.T @ R
    if fit_intercept:
        g = xp.concat([g, xp.sum(R, axis=0, keepdims=True)], axis=0)
    return line, xp.sum(_weigh_rows(_sample_losses(S, T, kind, xp=xp), w)), g, \
        _hessian_sum(x, S, kind, fit_intercept, w, xp=xp) if hessian else None


def _weighted_gram_chunk(x, labels, w, classes, cw, fit_intercept):
    xa = _augment(x, xp=array_namespace(x)) if fit_intercept else x
    return xa.T @ _weigh_rows(xa, _chunk_weights(x, labels, w, classes, cw))


def _dask_class_weights(passes, class_weight, classes, counts, dtype):
    """Class weights (k,) in memory from the (sample-weighted) class counts of the labels pass
    (see :func:`class_weight_vector`; ``"balanced"``: :math:`n/(k\\,n_c)`)."""
    mem = array_namespace(classes)
    k = int(classes.shape[0])
    if class_weight is None:
        return None
    if isinstance(class_weight, str) and class_weight == "balanced":
        counts = mem.astype(counts, dtype)
        return mem.sum(counts) / (k * counts)
    eye = mem.eye(k, dtype=dtype)
    return class_weight_vector(class_weight, classes, eye, dtype)


class _DaskPasses:
    """The chunks of Dask ``X`` and labels ``y`` as delayed blocks, and one-pass reductions over them.

    Every pass is one ``dask.compute`` of one task per chunk (deterministic keys); nothing is
    persisted; the results are small sums, combined in memory."""

    def __init__(self, X, y, sample_weight=None):
        X = X.rechunk({1: -1})
        self.xs = list(X.to_delayed(optimize_graph=False)[:, 0])
        self.ys = list(y.rechunk({0: X.chunks[0]}).to_delayed(optimize_graph=False))
        self.ws = [None] * len(self.xs) if sample_weight is None else \
            list(sample_weight.rechunk({0: X.chunks[0]}).to_delayed(optimize_graph=False))
        self.cw = None  # class weights (k,), in memory, once the classes are known

    def labels(self, gram=False, fit_intercept=True):
        """``(classes, finite, gram_sum, counts)`` in one pass (``gram_sum`` of the design ``[X, 1]``,
        weighted by the sample weights, if asked; ``counts`` the class counts)."""
        import dask

        task = dask.delayed(_labels_chunk, pure=True)
        found = dask.compute(*[task(a, b, gram, fit_intercept, w) for a, b, w in zip(self.xs, self.ys, self.ws)])
        mem = array_namespace(found[0][0])
        classes = mem.sort(mem.unique_values(mem.concat([f[0] for f in found])))
        counts = sum(mem.astype(f[0][:, None] == classes[None, :], f[2].dtype).T @ f[2] for f in found)
        return classes, all(f[1] for f in found), (sum(f[3] for f in found) if gram else None), counts

    def gram(self, classes, fit_intercept):
        """The weighted design Gram sum (sample times class weights) in one pass."""
        import dask

        task = dask.delayed(_weighted_gram_chunk, pure=True)
        return sum(dask.compute(*[task(a, b, w, classes, self.cw, fit_intercept)
                                  for a, b, w in zip(self.xs, self.ys, self.ws)]))

    def run(self, classes, theta, direction, kind, fit_intercept, hessian):
        """One pass: line-search data losses along ``direction`` (summed), then the loss, gradient
        (and Hessian) data sums at ``theta + direction``."""
        import dask

        task = dask.delayed(_newton_chunk, pure=True)
        parts = dask.compute(*[task(a, b, classes, theta, direction, kind, fit_intercept, hessian, w, self.cw)
                               for a, b, w in zip(self.xs, self.ys, self.ws)])
        line = None if direction is None else sum(q[0] for q in parts)
        hsum = sum(q[3] for q in parts) if hessian else None
        return line, sum(q[1] for q in parts), sum(q[2] for q in parts), hsum


def _bad_classes(classes, kind, finite):
    return not finite or classes.shape[0] < 2 or (kind == "binary" and classes.shape[0] != 2)


def _dask_first_order(X, y, alpha, kind, fit_intercept, max_iter, tol, solver, l1=0.0, sample_weight=None,
                      class_weight=None):
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
    * ``"fista"``: as ``"gd"``, the gradient taken at the extrapolated point
      and the step :func:`_fista_update` (``alpha`` is then the L2 part,
      ``l1`` the L1 strength).

    Returns ``(classes, theta, iterations, finite)`` (in memory).
    """
    passes = _DaskPasses(X, y, sample_weight)
    first_order = solver in ("gd", "fista")
    classes, finite, gram, counts = passes.labels(gram=first_order and class_weight is None,
                                                  fit_intercept=fit_intercept)
    if _bad_classes(classes, kind, finite):
        return classes, None, 0, finite
    passes.cw = _dask_class_weights(passes, class_weight, classes, counts, X.dtype)
    if first_order and class_weight is not None:
        gram = passes.gram(classes, fit_intercept)
    mem = array_namespace(classes if gram is None else gram)
    n, d = X.shape
    p = d + int(fit_intercept)
    dtype = X.dtype
    theta = mem.zeros((p,) if kind == "binary" else (p, int(classes.shape[0])), dtype=dtype)
    pen = _penalty_diag(d, p, dtype, device_of(theta), xp=mem)
    pen = pen if kind == "binary" else pen[:, None]

    def loss_grad(loss, gsum, theta):
        w = theta[:d, ...]
        return loss / n + 0.5 * alpha * mem.sum(w * w), gsum / n + alpha * pen * theta

    if solver in ("gd", "fista"):
        lam = gram_top_eigenvalue(gram / n, xp=mem)
        L = lam / (4.0 if kind == "binary" else 2.0) + alpha
        state = _fista_init(theta, xp=mem)
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
        elif solver == "fista":
            _, loss, gsum, _ = passes.run(classes, state.z, None, kind, fit_intercept, False)
            state, gmap = _fista_update(state, loss_grad(loss, gsum, state.z)[1], L, l1, d, xp=mem)
            gmax, theta = float(gmap), state.theta
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


def _dask_newton(X, y, alpha, kind, fit_intercept, max_iter, tol, sample_weight=None, class_weight=None):
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
    passes = _DaskPasses(X, y, sample_weight)
    classes, finite, _, counts = passes.labels()
    mem = array_namespace(classes)
    if _bad_classes(classes, kind, finite):
        return classes, None, 0, finite
    passes.cw = _dask_class_weights(passes, class_weight, classes, counts, X.dtype)
    n, d = X.shape
    p = d + int(fit_intercept)
    dtype = X.dtype
    theta = mem.zeros((p,) if kind == "binary" else (p, int(classes.shape[0])), dtype=dtype)

    def run(theta, direction):
        return passes.run(classes, theta, direction, kind, fit_intercept, True)

    pen = _penalty_diag(d, p, dtype, device_of(theta), xp=mem)
    pen = pen if kind == "binary" else pen[:, None]
    _, loss, gsum, hsum = run(theta, None)
    for it in range(1, max_iter + 1):
        w = theta[:d, ...]
        f = loss / n + 0.5 * alpha * mem.sum(w * w)
        g = gsum / n + alpha * pen * theta
        gmax = float(mem.max(mem.abs(g)))
        H = _hessian_finish(hsum, n, d, alpha, kind, fit_intercept, xp=mem)
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
_SOLVERS = ("auto", "newton", "lbfgs", "gd", "fista")
# "auto": Newton up to this many parameters (d + 1) k, L-BFGS beyond (see _solver)
_AUTO_NEWTON_MAX_PARAMS = 32
_PENALTIES = ("l2", "l1", "elasticnet", None)


class _LogisticBase(ClassifierMixin, Estimator):
    _kind = "binary"

    def _check_params(self):
        if self.solver not in _SOLVERS:
            raise ValueError(f"solver must be one of {_SOLVERS}; got solver={self.solver!r}")
        if self.penalty not in _PENALTIES:
            raise ValueError(f"penalty must be one of {_PENALTIES}; got penalty={self.penalty!r}")
        check_positive(self.alpha, "alpha", strict=False)
        if isinstance(self.l1_ratio, bool) or not isinstance(self.l1_ratio, (int, float)) \
                or not 0.0 <= self.l1_ratio <= 1.0:
            raise ValueError(f"l1_ratio must be a number in [0, 1]; got l1_ratio={self.l1_ratio!r}")
        check_int(self.max_iter, "max_iter", low=1)
        check_positive(self.tol, "tol", strict=False)
        check_bool(self.warm_start, "warm_start")

    def _targets(self, Y, xp):
        return Y

    def _solver(self, X=None, n_classes=2):
        """The solver used: ``"fista"`` whenever the penalty has an L1 part, else ``solver``; ``"auto"``
        is Newton for at most 32 parameters or on Dask (fewest passes over the chunks), else L-BFGS.

        In memory a Newton iteration costs about :math:`n p^2` flops (the Hessian) against two
        passes over ``X`` (:math:`2np`) for L-BFGS, which needs about twice the iterations: measured
        on 100000 x 50, L-BFGS takes 0.5 times Newton's time, on 100000 x 5 about the same."""
        if self._strengths()[1] > 0:
            return "fista"
        if self.solver != "auto":
            return self.solver
        if X is None or _is_dask(X):
            return "newton"
        p = (int(X.shape[1]) + int(bool(self.fit_intercept))) * (1 if self._kind == "binary" else int(n_classes))
        return "newton" if p <= _AUTO_NEWTON_MAX_PARAMS else "lbfgs"

    def _strengths(self):
        """``(alpha2, l1)``: the L2 and L1 strengths of the penalty."""
        alpha = float(self.alpha)
        rho = {"l2": 0.0, "l1": 1.0, "elasticnet": float(self.l1_ratio), None: 0.0}[self.penalty]
        if self.penalty is None:
            return 0.0, 0.0
        return alpha * (1.0 - rho), alpha * rho

    def fit(self, X, y, sample_weight=None):
        """Fit on ``X`` (n_samples, n_features) and class labels ``y`` (n_samples,).

        ``sample_weight`` (n_samples,), optional: non-negative weights :math:`s_i`
        of the per-sample losses (times the ``class_weight`` of each sample's
        class), as in scikit-learn.
        """
        self._check_params()
        solver = self._solver()
        X, y, xp = check_X_y(X, y, y_numeric=False, check_finite=True)  # Dask: checked in the first pass
        if _is_dask(X):
            return self._fit_dask_newton(X, y, sample_weight)
        classes, Y = encode_labels(y, xp, X.dtype)
        T = self._targets(Y, xp)
        solver = self._solver(X, Y.shape[1])
        sw = combined_weights(sample_weight, self.class_weight, classes, Y, X)
        n, d = X.shape
        p = d + int(bool(self.fit_intercept))
        shape = (p,) if self._kind == "binary" else (p, Y.shape[1])
        theta = self._warm_theta(shape, X, xp)
        (alpha, l1), kind, fi = self._strengths(), self._kind, bool(self.fit_intercept)
        if solver in ("newton", "lbfgs"):
            self._fit_run(theta, X, T, alpha, sw, xp, solver)
            self.classes_ = classes
            self.n_features_in_ = int(d)
            return self
        if solver == "gd":
            gram, back = computed(_design_gram(X, fi, sw))
            lam = back(gram_top_eigenvalue(gram, xp=array_namespace(gram)))
            L = lam / (4.0 if kind == "binary" else 2.0) + alpha
            step = compiled(_gd_iteration, xp)
            advance = lambda th: step(th, X, T, alpha, L, sw, kind=kind, fit_intercept=fi)  # noqa: E731
        elif solver == "fista":
            gram, back = computed(_design_gram(X, fi, sw))
            lam = back(gram_top_eigenvalue(gram, xp=array_namespace(gram)))
            L = lam / (4.0 if kind == "binary" else 2.0) + alpha
            theta = _fista_init(theta, xp=xp)
            step = compiled(_fista_iteration, xp)
            advance = lambda st: step(st, X, T, alpha, l1, L, sw, kind=kind, fit_intercept=fi)  # noqa: E731
        # each call returns the next iterate and max|grad| at the current one;
        # at convergence the extra step is kept (it only sharpens the solution)
        for it in range(1, self.max_iter + 1):
            theta, gmax = settle(advance(theta))
            if is_true(gmax <= self.tol):
                break
        else:
            warn_not_converged(type(self).__name__, self.max_iter, "gradient above tol")
        if solver == "fista":
            theta = theta.theta
        self.n_iter_ = it
        self.classes_ = classes
        self.n_features_in_ = int(d)
        self._set_params_from(theta, d, xp)
        return self

    def _fit_run(self, theta, X, T, alpha, sw, xp, solver):
        """Newton or L-BFGS in memory (see :class:`_Run`): per iteration one compiled trial of the full
        step, the vectorised line search only when it fails; stop when the gradient at the new
        iterate is at most ``tol`` (two booleans read per iteration)."""
        opts = dict(kind=self._kind, fit_intercept=bool(self.fit_intercept))
        run, gmax = compiled(_run_start, xp)(theta, X, T, alpha, sw, memory=0 if solver == "newton" else 10, **opts)
        trial, backtrack = compiled(_run_trial, xp), compiled(_run_backtrack, xp)
        it = 0
        if not is_true(gmax <= self.tol):
            for it in range(1, self.max_iter + 1):
                new, gmax, ok, direction, dS = trial(run, X, T, alpha, sw, **opts)
                first = 1
                while not is_true(ok) and first < _N_STEPS:  # the full step failed: shorter ones, 4 at a time
                    new, gmax, ok = backtrack(run, direction, dS, X, T, alpha, sw, first=first, **opts)
                    first += _GROUP
                run = new
                if is_true(gmax <= self.tol):
                    break
            else:
                warn_not_converged(type(self).__name__, self.max_iter, "gradient above tol")
        self.n_iter_ = it
        self._set_params_from(run.theta, int(X.shape[1]), xp)

    def _warm_theta(self, shape, X, xp):
        """Zeros, or with ``warm_start`` the previous fit's coefficients and intercepts (same shape)."""
        zeros = xp.zeros(shape, dtype=X.dtype, device=device_of(X))
        coef = getattr(self, "coef_", None) if self.warm_start else None
        if coef is None:
            return zeros
        d = int(X.shape[1])
        W = xp.asarray(coef, dtype=X.dtype, device=device_of(X))
        b = xp.asarray(self.intercept_, dtype=X.dtype, device=device_of(X))
        theta = W[0, :] if len(shape) == 1 else W.T
        if tuple(theta.shape[:1]) != (d,) or (len(shape) == 2 and theta.shape[1] != shape[1]):
            return zeros
        if self.fit_intercept:
            theta = xp.concat([theta, b if len(shape) == 1 else b[None, :]], axis=0)
        return theta

    def _fit_dask_newton(self, X, y, sample_weight=None):
        """Any solver on Dask: about one pass over the chunks per iteration (see :func:`_dask_newton`,
        :func:`_dask_first_order`); the fitted arrays are small and computed."""
        from ._stats import from_memory_like

        alpha, l1 = self._strengths()
        solver = self._solver()
        args = (X, y, alpha, self._kind, bool(self.fit_intercept), self.max_iter, self.tol)
        sw = check_sample_weight(sample_weight, X)
        if solver == "newton":
            classes, theta, it, finite = _dask_newton(*args, sw, self.class_weight)
        else:
            classes, theta, it, finite = _dask_first_order(*args, solver, l1, sw, self.class_weight)
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

    Parameters
    ----------
    alpha : float, default 1.0
        Penalty strength, :math:`\alpha \ge 0`.
    penalty : {"l2", "l1", "elasticnet", None}, default "l2"
        :math:`\alpha\bigl(\frac{1-\rho}2\|w\|^2 + \rho\|w\|_1\bigr)` with
        :math:`\rho` = 0, 1, ``l1_ratio`` respectively; ``None``: no penalty.
        ``"l1"`` and ``"elasticnet"`` are fitted by ``"fista"`` whatever ``solver`` says.
    l1_ratio : float in [0, 1], default 0.5
        :math:`\rho` of ``penalty="elasticnet"`` (ignored otherwise).
    solver : {"auto", "newton", "lbfgs", "gd", "fista"}, default "auto"
    max_iter : int, default 100
    tol : float, default 1e-6
        Stop when :math:`\|\nabla J\|_\infty \le` ``tol``.
    fit_intercept : bool, default True
    class_weight : None, "balanced" or dict, default None
        Weights of the classes' losses: ``{label: weight}`` (1 for unlisted
        labels), or ``"balanced"``, :math:`n/(k\,n_c)`.  They multiply
        ``fit``'s ``sample_weight``, as in scikit-learn.
    warm_start : bool, default False
        Start the solver from the previous fit's ``coef_`` and ``intercept_``
        (when the shapes match; in memory only -- on Dask every fit starts at
        zero).

    Attributes
    ----------
    coef_ : array of shape (1, n_features)
    intercept_ : array of shape (1,)
    classes_ : array of shape (2,)
    n_iter_ : int
    n_features_in_ : int
    """

    _kind = "binary"

    def __init__(self, *, alpha=1.0, penalty="l2", l1_ratio=0.5, solver="auto", max_iter=100, tol=1e-6,
                 fit_intercept=True, class_weight=None, warm_start=False):
        self.warm_start = warm_start
        self.alpha = alpha
        self.penalty = penalty
        self.l1_ratio = l1_ratio
        self.class_weight = class_weight
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

    ``solver="newton"`` (chosen by ``"auto"`` for at most 32 parameters) builds the full :math:`(d+1)k` Hessian
    (:func:`softmax_newton_step`): fast for small :math:`dk`; for hundreds of
    features times classes use ``"lbfgs"``.  Two classes are fitted with two
    coefficient rows (unlike scikit-learn's binary special case).

    Parameters
    ----------
    alpha : float, default 1.0
    penalty : {"l2", "l1", "elasticnet", None}, default "l2"
        As in :class:`LogisticRegression` (the L1 norm is over all entries of :math:`W`).
    l1_ratio : float in [0, 1], default 0.5
    solver : {"auto", "newton", "lbfgs", "gd", "fista"}, default "auto"
    max_iter : int, default 100
    tol : float, default 1e-6
    fit_intercept : bool, default True
    class_weight : None, "balanced" or dict, default None
        As in :class:`LogisticRegression`.
    warm_start : bool, default False
        As in :class:`LogisticRegression`.

    Attributes
    ----------
    coef_ : array of shape (n_classes, n_features)
    intercept_ : array of shape (n_classes,)
    classes_ : array of shape (n_classes,)
    n_iter_ : int
    n_features_in_ : int
    """

    _kind = "multinomial"

    def __init__(self, *, alpha=1.0, penalty="l2", l1_ratio=0.5, solver="auto", max_iter=100, tol=1e-6,
                 fit_intercept=True, class_weight=None, warm_start=False):
        self.warm_start = warm_start
        self.alpha = alpha
        self.penalty = penalty
        self.l1_ratio = l1_ratio
        self.class_weight = class_weight
        self.solver = solver
        self.max_iter = max_iter
        self.tol = tol
        self.fit_intercept = fit_intercept

    def _set_params_from(self, theta, d, xp):
        self.coef_ = theta[:d, :].T
        self.intercept_ = theta[d, :] if self.fit_intercept else xp.zeros((theta.shape[1],), dtype=theta.dtype,
                                                                            device=device_of(theta))
