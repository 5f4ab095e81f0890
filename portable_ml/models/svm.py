r"""Linear support vector classification (hinge and squared hinge losses), one-vs-rest.

Objective of one binary problem, labels :math:`y_i \in \{-1, +1\}`, sample
weights :math:`s_i` (1 without them), the intercept :math:`b` **not** penalised:

.. math::
    J(w, b) = \frac1n\sum_{i=1}^n s_i\,\ell\bigl(y_i,\ x_i^\top w + b\bigr) + \frac\alpha2\|w\|^2

with :math:`\ell(y, s) = \max(0, 1 - ys)` (``loss="hinge"``, :func:`portable_ml.losses.hinge`)
or :math:`\max(0, 1 - ys)^2` (``loss="squared_hinge"``,
:func:`portable_ml.losses.squared_hinge`).  scikit-learn's ``LinearSVC``
minimises :math:`\frac12\|w\|^2 + C\sum_i s_i\ell_i`, which is :math:`Cn\,J`:
the minimisers agree at :math:`C = 1/(n\alpha)` -- except that liblinear
appends a constant feature ``intercept_scaling`` to :math:`X` and so
penalises :math:`b^2/(2\,\mathrm{intercept\_scaling}^2)`.  The two agree
with ``fit_intercept=False``, and approach each other as
``intercept_scaling`` grows.  Several classes are fitted one-vs-rest, as
liblinear does: problem :math:`c` has :math:`y_i = +1` for class :math:`c`
and :math:`-1` otherwise, and ``class_weight`` multiplies only the weights of
class :math:`c`'s own samples (the rest keep :math:`s_i`); with two classes
one problem is fitted, class ``classes_[1]`` positive, every sample weighted
by its class's weight.

Algorithm: a (generalised) Newton method on :math:`\theta = (w, b)`, one
:math:`(d+1)\times(d+1)` system per problem and iteration, damped by the
vectorised Armijo search of the logistic models (all 30 candidate steps at
once, no loop over samples), :math:`O(n(d+1)^2 + (d+1)^3)` per iteration.

* ``"squared_hinge"`` is continuously differentiable and piecewise
  quadratic; its generalised Hessian is
  :math:`\tilde X^\top\operatorname{diag}(2 s_i [\,y_i\tilde x_i^\top\theta < 1])\tilde X/n + \alpha\operatorname{diag}(1, \dots, 1, 0)`.
  Newton's method with a line search converges in finitely many steps on
  such functions (the "finite Newton" method of Mangasarian, and Keerthi and
  DeCoste, which liblinear's primal solver also uses).  It stops when
  :math:`\|\nabla J\|_\infty \le` ``tol``.
* ``"hinge"`` is not differentiable.  It is replaced by its Moreau envelope
  (the Huber-smoothed hinge) with width :math:`\mu`, with :math:`z = 1 - ys`,

  .. math::
      h_\mu(z) = \begin{cases} 0 & z \le 0 \\ z^2/(2\mu) & 0 < z < \mu \\ z - \mu/2 & z \ge \mu\end{cases},
      \qquad h_\mu \le \max(0, z) \le h_\mu + \mu/2,

  again piecewise quadratic, so each smoothed problem is solved by the same
  finite Newton iteration (to :math:`\|\nabla J_\mu\|_\infty \le` ``tol``).
  :math:`\mu` starts at 2 (every sample in the quadratic zone at
  :math:`\theta = 0`) and is divided by 10 from one problem to the next
  (homotopy); each problem starts from the previous solution extrapolated
  linearly in :math:`\mu`, where the margins of the support vectors lie.
  :math:`\alpha_i = h_\mu'(z_i) \in [0, 1]` are dual variables of the SVM;
  at a stationary point the duality gap of the *unsmoothed* problem is

  .. math:: G = \frac1n\sum_i s_i\bigl(\max(0, z_i) - \alpha_i z_i\bigr) \le \frac\mu4\,\frac1n\sum_{0<z_i<\mu} s_i,

  a certificate: the hinge objective is within :math:`G` of its minimum.
  The homotopy stops when :math:`G \le` ``tol`` (every problem) or the
  next :math:`\mu` would fall below :math:`\sqrt\varepsilon` of the dtype
  (:math:`1.5\cdot10^{-8}` in float64, :math:`3.5\cdot10^{-4}` in float32),
  where the :math:`1/\mu` curvature would swamp the solve (the gradient is
  then only known to a rounding floor that grows like :math:`\varepsilon/\mu`,
  which the stopping test allows for).  Last, the solutions at the last two
  :math:`\mu` are extrapolated to :math:`\mu = 0` (Richardson; the
  minimiser is a smooth function of :math:`\mu` while the support set is
  fixed), and that point is kept, problem by problem, only where it lowers
  the exact hinge objective.  Accuracy: the objective to :math:`G`; the
  coefficients to :math:`O(\mu)` (:math:`O(\mu^2)` after the extrapolation)
  for a unique, non-degenerate solution.  In the tests the float64
  objective is never above libsvm's (``SVC``, ``tol=1e-12``), whose
  coefficients agree to about 1e-6; float32 locates the optimum, a kink of a
  piecewise-linear function, to about 1e-3.

Every Newton solve also stops where the gradient is within its rounding
(:math:`4\varepsilon/n\sum_i s_i(|\ell''_i|(1 + |x_i^\top w + b|) + |\ell'_i|)\max_j|\tilde x_{ij}|`)
or the Newton decrement :math:`-\nabla J^\top d` is below :math:`\varepsilon|J|`: no step can then be
seen to lower :math:`J` (this is what ends float32 solves near the optimum).

Where no sample is in a curved zone, the intercept has no curvature; its
diagonal Hessian entry is then replaced by the curvature it would have with
every sample curved (a shorter, safe step).  ``fit`` is eager (the classes
and a convergence flag are read back per iteration); on JAX every iteration
is one call of a jitted step; on Dask each iteration is two passes over the
chunks (derivatives, then the line search), the small solves in memory.
"""

from __future__ import annotations

from .._gradlink import differentiable
from .._validate import check_int
from .._xp import array_namespace, check_positive, clip, device_of
from ._base import (
    ClassifierMixin,
    Estimator,
    _is_dask,
    check_core_args,
    check_sample_weight,
    check_X_y,
    class_weight_vector,
    compiled,
    encode_labels,
    is_true,
    warn_not_converged,
)
from ._solvers import solve

__all__ = [
    "LinearSVC",
    "linear_svc_objective",
    "linear_svc_grad",
    "linear_svc_newton_step",
]

_LOSSES = ("squared_hinge", "hinge")
_MU_START = 2.0
_MU_FACTOR = 0.1
_N_STEPS = 30  # Armijo candidates 1, 1/2, ..., 2^-29 (as portable_ml.models._solvers.armijo_step)
_ARMIJO_C1 = 1e-4


# ------------------------------------------------------------------ numerics on (p, k) parameters
# theta (p, k): column c is problem c's (w, b); Xa (n, p) is the design (X, then a column of
# ones with an intercept); Y (n, k) holds +-1; W (n, k) per-problem sample weights or None;
# pen (p,) is 1 on the weights and 0 on the intercept.
def _augment(X, fit_intercept, *, xp):
    if not fit_intercept:
        return X
    return xp.concat([X, xp.ones((X.shape[0], 1), dtype=X.dtype, device=device_of(X))], axis=1)


def _pen(d, p, dtype, device, *, xp):
    return xp.astype(xp.arange(p, device=device) < d, dtype)


def _loss_parts(Z, loss, mu, *, xp):
    """Per-sample loss, its derivative and second derivative in the margin :math:`z = 1 - ys`.

    ``mu`` is the smoothing width of the hinge (``None``: the exact hinge, whose
    second derivative is 0 almost everywhere).
    """
    if loss == "squared_hinge":
        m = clip(Z, 0.0, None, xp=xp)
        return m * m, 2.0 * m, 2.0 * xp.astype(Z > 0, Z.dtype)
    if mu is None:
        m = clip(Z, 0.0, None, xp=xp)
        return m, xp.astype(Z > 0, Z.dtype), xp.zeros_like(Z)
    a = clip(Z / mu, 0.0, 1.0, xp=xp)
    val = xp.where(Z >= mu, Z - 0.5 * mu, 0.5 * a * Z)
    curved = xp.astype((Z > 0) & (Z < mu), Z.dtype) / mu
    return val, a, curved


def _weighted(A, W):
    if W is None:
        return A
    return A * W if A.ndim == W.ndim else A * W[:, None, :]


def _stats(theta, Xa, Y, W, alpha, mu, pen, loss, hessian=True, n=None, *, xp):
    r"""Objective (k,), gradient (p, k), Hessians (k, p, p) and a (3, k) array: the duality-gap
    certificate, the rounding floor of the gradient and :math:`\|\nabla J\|_\infty`, per problem
    (only the gap (k,) with ``hessian=False``).  The sums over the samples are divided by ``n``
    (the number of rows of ``Xa`` unless given: a chunk's share of the total)."""
    n = Xa.shape[0] if n is None else n
    Z = 1.0 - Y * (Xa @ theta)
    val, d1, d2 = _loss_parts(Z, loss, mu, xp=xp)
    w = pen[:, None] * theta
    f = xp.sum(_weighted(val, W), axis=0) / n + 0.5 * alpha * xp.sum(w * w, axis=0)
    g = Xa.T @ _weighted(-Y * d1, W) / n + alpha * w
    if loss == "hinge":
        exact = clip(Z, 0.0, None, xp=xp)
        gap = xp.sum(_weighted(exact - d1 * Z, W), axis=0) / n
    else:
        gap = xp.zeros_like(f)
    if not hessian:
        return f, g, None, gap
    # The gradient is known only to its rounding: z carries an error of about eps (1 + |s|), which
    # moves l'(z) by l''(z) eps (1 + |s|) (for the smoothed hinge l'' = 1/mu, so this floor grows as
    # mu shrinks), and the sum over the samples adds about eps |l'(z)| per sample.
    eps = xp.finfo(Xa.dtype).eps
    row = xp.max(xp.abs(Xa), axis=1)
    err = _weighted(d2 * (1.0 + xp.abs(1.0 - Z)) + xp.abs(d1), W)
    floor = 4.0 * eps / n * xp.sum(err * row[:, None], axis=0)
    gap = xp.stack([gap, floor, xp.max(xp.abs(g), axis=0)], axis=0)  # (3, k): gap, gradient floor, |g|
    curv = _weighted(d2, W)
    k = theta.shape[1]
    p = theta.shape[0]
    eye = xp.eye(p, dtype=Xa.dtype, device=device_of(Xa))
    hs = []
    for c in range(k):  # k is static: one (p, p) product per problem
        hs.append(Xa.T @ (curv[:, c:c + 1] * Xa) / n)
    H = xp.stack(hs, axis=0) + alpha * (pen[:, None] * eye)[None, ...]
    return f, g, H, gap


def _mean_weights(W, n, k, dtype, device, *, xp):
    r""":math:`\frac1n\sum_i W_{ic}` (k,): 1 without weights."""
    return xp.ones((k,), dtype=dtype, device=device) if W is None else xp.sum(W, axis=0) / n


def _fix_flat_intercept(H, mean_w, mu, loss, fit_intercept, *, xp):
    """Where the intercept has no curvature, the curvature it has with every sample curved."""
    if not fit_intercept:
        return H
    p = H.shape[-1]
    dev = device_of(H)
    full = mean_w * (2.0 if loss == "squared_hinge" else 1.0 / mu)
    hbb = H[:, p - 1, p - 1]
    add = xp.where(hbb > 0, xp.zeros_like(hbb), full)
    corner = xp.astype(xp.arange(p, device=dev) == p - 1, H.dtype)
    return H + add[:, None, None] * (corner[:, None] * corner[None, :])[None, ...]


def _direction(g, H, *, xp):
    """Newton directions (p, k) from the gradients (p, k) and the Hessians (k, p, p)."""
    if H.shape[0] == 1:  # one problem: a plain 2-D solve (Dask's solve takes no stacks)
        return -solve(H[0, ...], g, xp=xp)
    rhs = xp.permute_dims(g, (1, 0))[:, :, None]
    return -xp.permute_dims(solve(H, rhs, xp=xp)[:, :, 0], (1, 0))


def _steps(dtype, device, *, xp):
    return 0.5 ** xp.astype(xp.arange(_N_STEPS, device=device), dtype)


def _line_data(theta, direction, Xa, Y, W, mu, loss, ts, n=None, *, xp):
    """Data term (30, k) of the objective at ``theta + t direction`` for every candidate ``t``
    (the sum over the samples divided by ``n``, by default the number of rows of ``Xa``)."""
    n = Xa.shape[0] if n is None else n
    S, dS = Xa @ theta, Xa @ direction
    Z = 1.0 - Y[:, None, :] * (S[:, None, :] + ts[None, :, None] * dS[:, None, :])  # (n, 30, k)
    return xp.sum(_weighted(_loss_parts(Z, loss, mu, xp=xp)[0], W), axis=0) / n


def _line_search(data, f0, g, theta, direction, alpha, pen, ts, *, xp):
    """Per-problem Armijo step (k,): the largest candidate with
    :math:`f(\\theta + t d) \\le f(\\theta) + c_1 t\\,\\nabla f^\\top d` (+ 16 ulps of :math:`|f|`); 0 if none."""
    w, dw = pen[:, None] * theta, pen[:, None] * direction
    ww, wd, dd = xp.sum(w * w, axis=0), xp.sum(w * dw, axis=0), xp.sum(dw * dw, axis=0)
    F = data + 0.5 * alpha * (ww[None, :] + 2.0 * ts[:, None] * wd[None, :] + (ts * ts)[:, None] * dd[None, :])
    slope = xp.sum(g * direction, axis=0)
    slack = 16 * xp.finfo(F.dtype).eps * xp.abs(f0)
    ok = (F <= (f0 + slack)[None, :] + _ARMIJO_C1 * ts[:, None] * slope[None, :]) & xp.isfinite(F)
    idx = xp.arange(_N_STEPS, device=device_of(F))
    first = xp.min(xp.where(ok, idx[:, None], xp.full_like(ok, _N_STEPS, dtype=idx.dtype)), axis=0)
    return xp.sum(xp.where(idx[:, None] == first[None, :], ts[:, None], xp.zeros_like(F)), axis=0)


def _newton(theta, Xa, Y, W, alpha, mu, loss, fit_intercept, *, xp):
    """One damped Newton step on every problem: ``(theta_new, info)``, ``info`` of :func:`_stats` at ``theta``."""
    d = Xa.shape[1] - int(bool(fit_intercept))
    pen = _pen(d, Xa.shape[1], Xa.dtype, device_of(Xa), xp=xp)
    f, g, H, gap = _stats(theta, Xa, Y, W, alpha, mu, pen, loss, xp=xp)
    mean_w = _mean_weights(W, Xa.shape[0], theta.shape[1], Xa.dtype, device_of(Xa), xp=xp)
    H = _fix_flat_intercept(H, mean_w, mu, loss, fit_intercept, xp=xp)
    direction = _direction(g, H, xp=xp)
    ts = _steps(Xa.dtype, device_of(Xa), xp=xp)
    t = _line_search(_line_data(theta, direction, Xa, Y, W, mu, loss, ts, xp=xp), f, g, theta, direction, alpha,
                     pen, ts, xp=xp)
    return theta + t[None, :] * direction, _with_decrement(gap, f, g, direction, xp=xp)


def _with_decrement(info, f, g, direction, *, xp):
    """``info`` (3, k) and a 4th row: whether the Newton decrement :math:`-\nabla J^\top d` (twice the
    predicted decrease) is below the rounding of :math:`J` -- no step can then be seen to help."""
    stuck = -xp.sum(g * direction, axis=0) <= xp.finfo(f.dtype).eps * xp.abs(f)
    return xp.concat([info, xp.astype(stuck, f.dtype)[None, :]], axis=0)


def _converged(info, tol, *, xp):
    """Every problem's gradient within ``tol`` (or its rounding floor, or no visible decrease left);
    the largest gap."""
    done = (info[2, :] <= xp.maximum(info[1, :], tol)) | (info[3, :] > 0)
    return xp.all(done), xp.max(info[0, :])


def _newton_iteration(theta, Xa, Y, W, alpha, mu, tol, *, loss, fit_intercept):
    """One Newton step: ``(theta_new, done, gap)`` -- ``done`` and the gap at ``theta``."""
    xp = array_namespace(theta, Xa, Y)
    new, info = _newton(theta, Xa, Y, W, alpha, mu, loss, fit_intercept, xp=xp)
    return (new, *_converged(info, tol, xp=xp))


def _exact_objectives(theta, Xa, Y, W, alpha, *, loss, fit_intercept):
    xp = array_namespace(theta, Xa, Y)
    d = Xa.shape[1] - int(bool(fit_intercept))
    pen = _pen(d, Xa.shape[1], Xa.dtype, device_of(Xa), xp=xp)
    return _stats(theta, Xa, Y, W, alpha, None, pen, loss, xp=xp, hessian=False)[0]


# ------------------------------------------------------------------ public pure cores
def _check_loss(loss):
    if loss not in _LOSSES:
        raise ValueError(f"loss must be one of {_LOSSES}; got loss={loss!r}")


def _scores(theta, X, fit_intercept):
    d = X.shape[1]
    s = X @ theta[:d]
    return s + theta[d] if fit_intercept else s


@differentiable("linear_svc_grad", wrt=0)
def linear_svc_objective(theta, X, y_pm1, alpha, *, loss="squared_hinge", fit_intercept=True,
                         sample_weight=None):
    r"""Linear SVM objective :math:`J(\theta)` of one binary problem (0-d array).

    .. math::
        J = \frac1n\sum_i s_i\,\ell(y_i, x_i^\top w + b) + \frac\alpha2\|w\|^2

    with :math:`\ell` = :func:`portable_ml.losses.hinge` or
    :func:`portable_ml.losses.squared_hinge` (the intercept is not
    penalised); scikit-learn's ``LinearSVC`` objective divided by :math:`Cn`.

    Parameters
    ----------
    theta : array of shape (n_features + 1,) (or (n_features,) without intercept)
        Weights, then the intercept.
    X : array of shape (n_samples, n_features)
    y_pm1 : array of shape (n_samples,)
        Labels -1 or +1.
    alpha : float
        L2 strength.
    loss : {"squared_hinge", "hinge"}
    fit_intercept : bool
    sample_weight : array of shape (n_samples,), optional
        :math:`s_i` (1 without them); the sum is still divided by :math:`n`.
    """
    from ..losses import hinge, squared_hinge

    _check_loss(loss)
    xp, theta, X, y_pm1 = check_core_args(theta, X, y_pm1, alpha, fit_intercept=fit_intercept, y_name="y_pm1",
                                          sample_weight=sample_weight)
    S = _scores(theta, X, fit_intercept)
    per = (hinge if loss == "hinge" else squared_hinge)(y_pm1, S, reduction="none")
    if sample_weight is not None:
        per = sample_weight * per
    w = theta[:X.shape[1]]
    return xp.sum(per) / X.shape[0] + 0.5 * alpha * xp.sum(w * w)


def linear_svc_grad(theta, X, y_pm1, alpha, *, loss="squared_hinge", fit_intercept=True, sample_weight=None):
    r"""Gradient of :func:`linear_svc_objective` (for the hinge, the subgradient with 0 at the kink).

    .. math::
        \nabla_w J = X^\top r/n + \alpha w,\qquad \nabla_b J = \textstyle\sum_i r_i/n,\qquad
        r_i = s_i\,\partial\ell(y_i, s_i)/\partial s_i

    with :math:`\partial\ell/\partial s` = :func:`portable_ml.losses.hinge_grad`
    (:math:`-y[ys < 1]`) or :func:`portable_ml.losses.squared_hinge_grad`
    (:math:`-2y\max(0, 1 - ys)`).
    """
    from ..losses import hinge_grad, squared_hinge_grad

    _check_loss(loss)
    xp, theta, X, y_pm1 = check_core_args(theta, X, y_pm1, alpha, fit_intercept=fit_intercept, y_name="y_pm1",
                                          sample_weight=sample_weight)
    n, d = X.shape
    S = _scores(theta, X, fit_intercept)
    r = (hinge_grad if loss == "hinge" else squared_hinge_grad)(y_pm1, S, reduction="none")
    if sample_weight is not None:
        r = sample_weight * r
    gw = X.T @ r / n + alpha * theta[:d]
    return xp.concat([gw, xp.reshape(xp.sum(r) / n, (1,))]) if fit_intercept else gw


def linear_svc_newton_step(theta, X, y_pm1, alpha, *, loss="squared_hinge", smoothing=1e-2, fit_intercept=True,
                           sample_weight=None):
    r"""One damped generalised Newton step of :class:`LinearSVC` on one binary problem.

    ``loss="squared_hinge"``: on :func:`linear_svc_objective` itself, with the
    generalised Hessian :math:`\tilde X^\top\operatorname{diag}(2s_i[y_i s_i < 1])\tilde X/n
    + \alpha\operatorname{diag}(1, \dots, 1, 0)`.  ``loss="hinge"``: on the
    objective with the hinge replaced by its Huber smoothing of width
    ``smoothing`` (:math:`\mu`; the curvature is :math:`1/\mu` on
    :math:`0 < 1 - ys < \mu`), as in the homotopy of :class:`LinearSVC`.  The
    step length is the largest of :math:`1, \tfrac12, \dots, 2^{-29}` meeting
    the Armijo condition (all evaluated at once).
    """
    _check_loss(loss)
    if loss == "hinge":
        check_positive(smoothing, "smoothing")
    xp, theta, X, y_pm1 = check_core_args(theta, X, y_pm1, alpha, fit_intercept=fit_intercept, y_name="y_pm1",
                                          sample_weight=sample_weight)
    Xa = _augment(X, fit_intercept, xp=xp)
    W = None if sample_weight is None else sample_weight[:, None]
    mu = float(smoothing) if loss == "hinge" else None
    new = _newton(theta[:, None], Xa, y_pm1[:, None], W, alpha, mu, loss, fit_intercept, xp=xp)[0]
    return new[:, 0]


# ------------------------------------------------------------------ Dask: one task per chunk and pass
def _chunk_stats(x, yc, wc, theta, mu, loss, fit_intercept, n, hessian):
    """The data part of :func:`_stats` on one chunk of rows (divided by the total ``n``)."""
    xp = array_namespace(x)
    xa = _augment(x, fit_intercept, xp=xp)
    p = xa.shape[1]
    pen = _pen(p - int(bool(fit_intercept)), p, xa.dtype, device_of(xa), xp=xp)
    return _stats(theta, xa, yc, wc, 0.0, mu, pen, loss, xp=xp, hessian=hessian, n=n)


def _chunk_line(x, yc, wc, theta, direction, ts, mu, loss, fit_intercept, n):
    xp = array_namespace(x)
    return _line_data(theta, direction, _augment(x, fit_intercept, xp=xp), yc, wc, mu, loss, ts, xp=xp, n=n)


class _DaskPasses:
    """The row chunks of Dask ``X``, ``Y`` and ``W`` as delayed blocks; each pass is one
    ``dask.compute`` of one task per chunk returning small sums, added in memory."""

    def __init__(self, X, Y, W, fit_intercept):
        X = X.rechunk({1: -1})
        rows = {0: X.chunks[0], 1: -1}
        self.xs = list(X.to_delayed(optimize_graph=False)[:, 0])
        self.ys = list(Y.rechunk(rows).to_delayed(optimize_graph=False)[:, 0])
        self.ws = [None] * len(self.xs) if W is None else list(W.rechunk(rows).to_delayed(optimize_graph=False)[:, 0])
        self.n = int(X.shape[0])
        self.fit_intercept = bool(fit_intercept)

    def _run(self, fn, *args):
        import dask

        task = dask.delayed(fn, pure=True)
        parts = dask.compute(*[task(x, yc, wc, *args) for x, yc, wc in zip(self.xs, self.ys, self.ws)])
        return parts

    def stats(self, theta, mu, loss, hessian):
        """Data objective (k,), gradient (p, k), Hessians (k, p, p) (or ``None``) and the summed gap
        and gradient floor (2, k)."""
        parts = self._run(_chunk_stats, theta, mu, loss, self.fit_intercept, self.n, hessian)
        f, g = sum(q[0] for q in parts), sum(q[1] for q in parts)
        if not hessian:
            return f, g, None, sum(q[3] for q in parts)
        return f, g, sum(q[2] for q in parts), sum(q[3][:2, :] for q in parts)

    def line(self, theta, direction, ts, mu, loss):
        return sum(self._run(_chunk_line, theta, direction, ts, mu, loss, self.fit_intercept, self.n))


def _dask_newton(passes, theta, mean_w, alpha, mu, tol, loss, fit_intercept):
    """One Newton iteration on Dask data: a pass for the derivatives, a pass for the line search;
    ``theta`` and the small algebra in memory (NumPy or CuPy), as :func:`_newton` does."""
    mem = array_namespace(theta)
    p = theta.shape[0]
    pen = _pen(p - int(bool(fit_intercept)), p, theta.dtype, device_of(theta), xp=mem)
    fd, gd, Hd, info = passes.stats(theta, mu, loss, True)
    w = pen[:, None] * theta
    f = fd + 0.5 * alpha * mem.sum(w * w, axis=0)
    g = gd + alpha * w
    eye = mem.eye(p, dtype=theta.dtype, device=device_of(theta))
    H = _fix_flat_intercept(Hd + alpha * (pen[:, None] * eye)[None, ...], mean_w, mu, loss, fit_intercept, xp=mem)
    info = mem.concat([info, mem.max(mem.abs(g), axis=0)[None, :]], axis=0)
    direction = _direction(g, H, xp=mem)
    ts = _steps(theta.dtype, device_of(theta), xp=mem)
    t = _line_search(passes.line(theta, direction, ts, mu, loss), f, g, theta, direction, alpha, pen, ts, xp=mem)
    return (theta + t[None, :] * direction, *_converged(_with_decrement(info, f, g, direction, xp=mem), tol, xp=mem))


def _dask_exact_objectives(passes, theta, alpha, loss, fit_intercept):
    mem = array_namespace(theta)
    p = theta.shape[0]
    w = _pen(p - int(bool(fit_intercept)), p, theta.dtype, device_of(theta), xp=mem)[:, None] * theta
    return passes.stats(theta, None, loss, False)[0] + 0.5 * alpha * mem.sum(w * w, axis=0)


# ------------------------------------------------------------------ the estimator
class LinearSVC(ClassifierMixin, Estimator):
    r"""Linear support vector classifier, hinge or squared hinge loss, one-vs-rest for several classes.

    Minimises, per binary problem (labels :math:`\pm1`),

    .. math::
        J(w, b) = \frac1n\sum_{i=1}^n s_i\,\ell\bigl(y_i,\ x_i^\top w + b\bigr) + \frac\alpha2\|w\|^2,

    :math:`\ell(y, s) = \max(0, 1 - ys)^2` (``"squared_hinge"``) or
    :math:`\max(0, 1 - ys)` (``"hinge"``), :math:`s_i` the sample weight
    times the class weight; the intercept :math:`b` is **not** penalised.
    This is scikit-learn's ``LinearSVC(C=1/(n*alpha))`` objective divided by
    :math:`Cn`, except that scikit-learn (liblinear) also penalises the
    intercept by :math:`b^2/(2\,\mathrm{intercept\_scaling}^2)` (see
    ``docs/migration.md``); with ``fit_intercept=False`` the two are the same
    problem.  The module docstring describes the solver (generalised Newton;
    for the hinge a smoothing homotopy with a duality-gap certificate).

    Parameters
    ----------
    alpha : float, default 1.0
        Penalty strength, :math:`\alpha > 0`.
    loss : {"squared_hinge", "hinge"}, default "squared_hinge"
    fit_intercept : bool, default True
    tol : float, default 1e-6
        Stop each Newton solve when :math:`\|\nabla J\|_\infty \le` ``tol``;
        for the hinge, stop the homotopy when the duality gap is :math:`\le` ``tol``.
    max_iter : int, default 1000
        Newton iterations in all (over every smoothing stage).
    class_weight : None, "balanced" or dict, default None
        ``{label: weight}`` (1 for unlisted labels) or ``"balanced"``,
        :math:`\sum_i s_i/(k\sum_{y_i = c} s_i)`; multiplies ``fit``'s
        ``sample_weight`` as in scikit-learn (one-vs-rest: only on the class's
        own samples in its problem, as liblinear does).

    Attributes
    ----------
    coef_ : array of shape (1, n_features) or (n_classes, n_features)
    intercept_ : array of shape (1,) or (n_classes,)
    classes_ : array of shape (n_classes,)
    n_iter_ : int
        Newton iterations in all.
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from portable_ml.models import LinearSVC
    >>> X = np.array([[0.0, 1.0], [1.0, 0.0], [2.0, 3.0], [3.0, 2.0]])
    >>> LinearSVC(alpha=0.1).fit(X, np.array([0, 0, 1, 1])).predict(X).tolist()
    [0, 0, 1, 1]
    """

    def __init__(self, *, alpha=1.0, loss="squared_hinge", fit_intercept=True, tol=1e-6, max_iter=1000,
                 class_weight=None):
        self.alpha = alpha
        self.loss = loss
        self.fit_intercept = fit_intercept
        self.tol = tol
        self.max_iter = max_iter
        self.class_weight = class_weight

    def _check_params(self):
        from .._validate import check_bool, check_real

        _check_loss(self.loss)
        check_real(self.alpha, "alpha", low=0.0, low_open=True)
        check_real(self.tol, "tol", low=0.0)
        check_int(self.max_iter, "max_iter", low=1)
        check_bool(self.fit_intercept, "fit_intercept")
        cw = self.class_weight
        if not (cw is None or (isinstance(cw, str) and cw == "balanced") or isinstance(cw, dict)):
            raise ValueError(f"class_weight must be None, 'balanced' or a dict {{label: weight}}; got {cw!r}")

    def _problems(self, y, sample_weight, X, xp):
        """``(classes, Y, W)``: labels, the +-1 targets (n, k') and per-problem weights (n, k') or None."""
        classes, Y1 = encode_labels(y, xp, X.dtype)
        k = int(classes.shape[0])
        sw = check_sample_weight(sample_weight, X)
        cw = None if self.class_weight is None else class_weight_vector(self.class_weight, classes, Y1, X.dtype, sw)
        if k == 2:
            Y1pos = Y1[:, 1:]
            Y = 2.0 * Y1pos - 1.0
            W = None if cw is None else (Y1 @ cw)[:, None]
        else:
            Y = 2.0 * Y1 - 1.0
            W = None if cw is None else Y1 * cw[None, :] + (1.0 - Y1)  # the rest keep weight 1
        if sw is not None:
            W = sw[:, None] if W is None else sw[:, None] * W
        return classes, Y, W

    def fit(self, X, y, sample_weight=None):
        """Fit on ``X`` (n_samples, n_features) and class labels ``y`` (n_samples,).

        ``sample_weight`` (n_samples,), optional: non-negative weights of the
        per-sample losses (times the ``class_weight`` of each sample's
        class), as in scikit-learn.
        """
        self._check_params()
        X, y, xp = check_X_y(X, y, y_numeric=False, check_finite="always")
        classes, Y, W = self._problems(y, sample_weight, X, xp)
        n, d = X.shape
        fi = bool(self.fit_intercept)
        Xa = _augment(X, fi, xp=xp)
        p, k = int(Xa.shape[1]), int(Y.shape[1])
        loss, alpha, tol = self.loss, float(self.alpha), float(self.tol)
        dask = _is_dask(X)
        if dask:
            import dask as _dask

            mem = array_namespace(_dask.compute(X[:1, :1])[0])
            theta = mem.zeros((p, k), dtype=X.dtype)
            mean_w = mem.asarray(_dask.compute(_mean_weights(W, n, k, X.dtype, None, xp=xp))[0])
            passes = _DaskPasses(X, Y, W, fi)
            step = lambda th, mu: _dask_newton(passes, th, mean_w, alpha, mu, tol, loss, fi)  # noqa: E731
            exact = lambda th: _dask_exact_objectives(passes, th, alpha, loss, fi)  # noqa: E731
        else:
            mem = xp
            theta = xp.zeros((p, k), dtype=X.dtype, device=device_of(X))
            fn = compiled(_newton_iteration, xp)
            step = lambda th, mu: fn(th, Xa, Y, W, alpha, mu, tol, loss=loss, fit_intercept=fi)  # noqa: E731
            ex = compiled(_exact_objectives, xp)
            exact = lambda th: ex(th, Xa, Y, W, alpha, loss=loss, fit_intercept=fi)  # noqa: E731
        mu = _MU_START if loss == "hinge" else None
        mu_floor = float(mem.finfo(X.dtype).eps) ** 0.5
        it, converged, previous = 0, False, None
        while it < self.max_iter:
            solved = False
            while it < self.max_iter:
                theta, done, gap = step(theta, mu)
                it += 1
                if is_true(done):
                    solved = True
                    break
            if not solved:
                break
            if loss == "squared_hinge":
                converged = True
                break
            if is_true(gap <= tol) or mu * _MU_FACTOR < mu_floor:
                converged = True
                break
            start = theta if previous is None else theta + _MU_FACTOR * (theta - previous)
            previous, theta, mu = theta, start, mu * _MU_FACTOR
        if not converged:
            warn_not_converged("LinearSVC", self.max_iter,
                               "gradient above tol" if loss == "squared_hinge" else "duality gap above tol")
        if loss == "hinge" and previous is not None:
            # Richardson extrapolation to mu = 0 from the last two stages, kept where it helps
            guess = theta + (_MU_FACTOR / (1.0 - _MU_FACTOR)) * (theta - previous)
            better = exact(guess) < exact(theta)
            theta = mem.where(better[None, :], guess, theta)
        if dask:
            import dask.array as da

            theta = da.from_array(theta, chunks=tuple(theta.shape))
            tx = array_namespace(theta)
        else:
            tx = xp
        self.coef_ = tx.permute_dims(theta[:d, :], (1, 0))
        self.intercept_ = theta[d, :] if fi else tx.zeros((k,), dtype=theta.dtype,
                                                            device=None if dask else device_of(theta))
        self.classes_ = classes
        self.n_iter_ = it
        self.n_features_in_ = int(d)
        return self

    def decision_function(self, X):
        """Scores :math:`Xw + b`: shape (n_samples,) for two classes, (n_samples, n_classes) otherwise."""
        X, xp = self._check_X(X)
        S = X @ self.coef_.T + self.intercept_
        return S[:, 0] if self.coef_.shape[0] == 1 else S

    def predict(self, X):
        """The class of the largest score (of a positive score, ``classes_[1]``, for two classes)."""
        S = self.decision_function(X)
        xp = array_namespace(S)
        idx = xp.astype(S > 0, xp.int32) if S.ndim == 1 else xp.argmax(S, axis=1)
        return xp.take(self.classes_, idx, axis=0)
