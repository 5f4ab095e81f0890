"""Solver building blocks shared by the models: pure, traceable, portable.

Everything here takes arrays (and ``xp`` as a keyword) and returns arrays:
no host syncs, no Python branches on values, so each runs under ``jax.jit``.
"""

from __future__ import annotations

from typing import NamedTuple

from .._xp import sign

__all__ = ["solve", "thin_svd", "power_iteration", "gram_top_eigenvalue", "soft_threshold", "armijo_step", "LbfgsMemory",
           "lbfgs_direction",
           "lbfgs_init", "lbfgs_update", "vdot"]


def solve(A, B, *, xp):
    """``xp.linalg.solve(A, B)`` for a small square ``A`` and 2-D ``B``.

    Dask's ``solve`` needs square chunks; a small system assembled from
    pieces has other chunks, so on Dask both sides become single chunks
    first (they are small by construction: a Gram or Hessian matrix).
    """
    if hasattr(A, "rechunk"):
        A, B = A.rechunk(A.shape), B.rechunk(B.shape)
    return xp.linalg.solve(A, B)


def thin_svd(A, *, xp):
    r"""``(U, S, Vt)`` of :math:`A = U \operatorname{diag}(S) V^\top` with ``full_matrices=False``.

    A wide ``A`` is decomposed through its transpose, so Dask (which only
    factors tall-and-skinny arrays) handles both shapes.
    """
    if A.shape[0] >= A.shape[1]:
        return xp.linalg.svd(A, full_matrices=False)
    U, S, Vt = xp.linalg.svd(A.T, full_matrices=False)
    return Vt.T, S, U.T


def vdot(a, b, *, xp):
    """:math:`\\sum_i a_i b_i` over all axes (a 0-d array)."""
    return xp.sum(a * b)


def power_iteration(matvec, v0, *, n_iter=60, xp):
    r"""Largest eigenvalue of a symmetric positive semi-definite operator.

    Runs ``n_iter`` power iterations :math:`v \leftarrow Av/\|Av\|` from ``v0``
    and returns the Rayleigh quotient :math:`v^\top A v` (a 0-d array), an
    estimate from below.  When the top eigenvalue is well separated
    (:math:`\lambda_2 \le \lambda_1/2`) the error is below
    :math:`(\lambda_2/\lambda_1)^{2n}`, negligible; when it is not, the
    estimate is still at least about :math:`\lambda_2 > \lambda_1/2`, so a
    step of :math:`1/(1.02\,\hat\lambda)` stays below the :math:`2/\lambda_1`
    that (proximal) gradient descent needs to converge.  Portable where
    ``eigvalsh`` is not (Dask).
    """
    v = v0 / xp.linalg.vector_norm(v0)
    for _ in range(n_iter):
        w = matvec(v)
        norm = xp.linalg.vector_norm(w)
        v = w / xp.where(norm > 0, norm, xp.ones_like(norm))
    return vdot(v, matvec(v), xp=xp)


def gram_top_eigenvalue(gram, *, xp):
    """Upper estimate of the largest eigenvalue of a PSD Gram matrix: power iteration, times 1.02.

    Run eagerly (a few dozen ``p x p`` products), not compiled.
    """
    p = gram.shape[0]
    v0 = 1.0 + xp.arange(p, dtype=gram.dtype, device=_device(gram)) / p
    return 1.02 * power_iteration(lambda v: gram @ v, v0, xp=xp)


def soft_threshold(v, thresh, *, xp):
    r"""Proximal operator of :math:`\tau\|\cdot\|_1`: :math:`\operatorname{sign}(v)\max(|v|-\tau, 0)`."""
    return sign(v, xp) * xp.maximum(xp.abs(v) - thresh, xp.zeros_like(v))


# candidate step sizes of the backtracking line search: 1, 1/2, ..., 2^-29
_N_STEPS = 30
_ARMIJO_C1 = 1e-4


def armijo_step(losses_at, f0, slope, *, dtype, device, xp):
    r"""Largest step :math:`t \in \{1, \tfrac12, \dots, 2^{-29}\}` meeting the Armijo condition.

    .. math:: f(\theta + t d) \le f(\theta) + c_1 t\, \nabla f(\theta)^\top d,\qquad c_1 = 10^{-4}

    A slack of 16 ulps of :math:`|f(\theta)|` is allowed on the right (Hager
    and Zhang's approximate Armijo condition): near the optimum the decrease
    falls below the rounding of :math:`f`, and the exact test would reject
    every step although the gradient is still above ``tol`` (float32).

    All candidates are evaluated at once: ``losses_at(ts)`` returns the
    objective at every step size in ``ts`` (shape ``(30,)``); for the linear
    models that costs one extra matrix-vector product, so the search has no
    data-dependent loop.  If no candidate qualifies (at the optimum, where
    rounding makes every step look uphill) the step is 0.
    """
    idx = xp.arange(_N_STEPS, device=device)
    ts = 0.5 ** xp.astype(idx, dtype)
    f = losses_at(ts)
    slack = 16 * xp.finfo(dtype).eps * xp.abs(f0)
    ok = (f <= f0 + _ARMIJO_C1 * ts * slope + slack) & xp.isfinite(f)
    first = xp.min(xp.where(ok, idx, xp.full_like(idx, _N_STEPS)))
    return xp.sum(xp.where(idx == first, ts, xp.zeros_like(ts)))


def _device(x):
    from .._xp import device_of

    return device_of(x)


# ------------------------------------------------------------------ L-BFGS
class LbfgsMemory(NamedTuple):
    """The last ``m`` curvature pairs, oldest first; unused slots are zero.

    ``s`` and ``y`` have shape ``(m, *param_shape)``, ``rho`` shape ``(m,)``
    with :math:`\\rho_i = 1/(y_i^\\top s_i)` (0 for an unused or rejected pair).
    """

    s: object
    y: object
    rho: object


def lbfgs_init(theta, m, *, xp):
    z = xp.zeros((m,) + tuple(theta.shape), dtype=theta.dtype, device=_device(theta))
    return LbfgsMemory(z, z, xp.zeros((m,), dtype=theta.dtype, device=_device(theta)))


def lbfgs_direction(grad, mem, *, xp):
    r"""Search direction :math:`d = -H_k \nabla f` by the two-loop recursion.

    :math:`H_0 = \gamma I` with :math:`\gamma = s^\top y / y^\top y` of the
    newest pair (1 before the first pair).  Unused memory slots have
    :math:`\rho = 0` and drop out of both loops.
    """
    m = mem.rho.shape[0]
    q = grad
    alphas = [None] * m
    for i in range(m - 1, -1, -1):
        a = mem.rho[i] * vdot(mem.s[i, ...], q, xp=xp)
        q = q - a * mem.y[i, ...]
        alphas[i] = a
    yy = vdot(mem.y[m - 1, ...], mem.y[m - 1, ...], xp=xp)
    sy = vdot(mem.s[m - 1, ...], mem.y[m - 1, ...], xp=xp)
    gamma = xp.where(mem.rho[m - 1] > 0, sy / xp.where(yy > 0, yy, xp.ones_like(yy)), xp.ones_like(yy))
    r = gamma * q
    for i in range(m):
        b = mem.rho[i] * vdot(mem.y[i, ...], r, xp=xp)
        r = r + (alphas[i] - b) * mem.s[i, ...]
    return -r


def lbfgs_update(mem, s, y, *, xp):
    """Append the pair ``(s, y)`` (dropping the oldest); a pair with :math:`s^\\top y \\le 0` is stored with ρ = 0."""
    sy = vdot(s, y, xp=xp)
    rho = xp.where(sy > 0, 1.0 / xp.where(sy > 0, sy, xp.ones_like(sy)), xp.zeros_like(sy))
    return LbfgsMemory(
        xp.concat([mem.s[1:, ...], s[None, ...]], axis=0),
        xp.concat([mem.y[1:, ...], y[None, ...]], axis=0),
        xp.concat([mem.rho[1:], xp.reshape(rho, (1,))], axis=0),
    )
