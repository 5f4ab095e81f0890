r"""Probability densities and mass functions, maximum likelihood, information theory.

Every function is written once against the array namespace of its inputs and
runs under ``jax.jit``, ``jax.grad`` and ``jax.vmap``.  Conventions:

- Distributions lie along ``axis`` (default the last axis); inputs are taken
  as given, never renormalised, so for normalised inputs the results equal
  SciPy's (``scipy.stats.entropy``, ``scipy.spatial.distance.jensenshannon``).
- :math:`0 \log 0 = 0`: zero probabilities contribute nothing, and their
  gradient is finite.  A zero in ``q`` where ``p > 0`` gives ``inf``.
- Results are in nats; ``base=2`` gives bits.
- ``p`` and ``q`` of the two-distribution functions have the same shape (no
  implicit broadcasting); ``axis`` and ``base`` are checked eagerly.
- Probabilities are checked (non-negative, at most 1 where that applies) on
  concrete inputs (NumPy, torch, CuPy, array-api-strict, eager JAX); traced
  (``jax.jit``, ``jax.grad``) and lazy (Dask) inputs are not inspected.

``probability.kl_divergence(p, q)`` is the divergence of two distributions
(as ``scipy.stats.entropy(p, q)``); the loss of the same name,
``losses.kl_divergence(y_true, y_pred, reduction=...)``, averages it over a
batch.
"""

from __future__ import annotations

import math
import numbers

from ._gradlink import differentiable
from ._numerics import gammaln_ge_half, rel_entr, xlogy
from ._validate import check_axis, check_probabilities, check_real, check_values
from ._xp import (
    as_array0d,
    array_namespace,
    as_float,
    check_labels,
    check_ndim,
    check_nonempty,
    check_positive,
    device_of,
    float_dtype,
    value_check,
)
from .distances import _check_covariance, _cholesky, _mahalanobis_sq

__all__ = [
    "gaussian_pdf",
    "gaussian_logpdf",
    "gaussian_logpdf_grad",
    "mvn_pdf",
    "mvn_logpdf",
    "gaussian_mle",
    "entropy",
    "cross_entropy",
    "kl_divergence",
    "js_divergence",
    "mutual_information",
    "perplexity",
    "bernoulli_logpmf",
    "bernoulli_logpmf_grad",
    "categorical_logpmf",
    "exponential_logpdf",
    "poisson_logpmf",
]

_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


# ------------------------------------------------------------------ helpers
def _is_scalar(v):
    return isinstance(v, numbers.Real)


def _check_broadcastable(sa, sb, name_a, name_b):
    sa, sb = tuple(sa), tuple(sb)
    for x, y in zip(reversed(sa), reversed(sb)):
        if x != y and x != 1 and y != 1:
            raise ValueError(
                f"{name_a} and {name_b} must have broadcastable shapes; got {name_a}.shape={sa} "
                f"and {name_b}.shape={sb}"
            )


def _check_nonnegative(x, name, *, xp):
    check_values(x, name, xp, low=0, what="non-negative values")


def _check_base(base):
    if base is not None:
        check_real(base, "base", low=0.0, low_open=True)
        if base == 1:
            raise ValueError("base must be positive and not 1 (or None for nats); got base=1")


def _check_axis(x, axis, name="axis"):
    """``axis`` (an int) checked against ``x.ndim``; returned as given (negative axes kept)."""
    check_axis(axis, x.ndim, name)
    return axis


def _in_base(value, base):
    return value if base is None else value / math.log(base)


def _distribution(p, name, dtype, *, xp):
    p = as_float(p, xp, dtype)
    check_nonempty(p, name)
    _check_nonnegative(p, name, xp=xp)
    return p


def _distribution_pair(p, q):
    xp = array_namespace(p, q)
    dtype = float_dtype(xp, p, q)
    p, q = _distribution(p, "p", dtype, xp=xp), _distribution(q, "q", dtype, xp=xp)
    if tuple(p.shape) != tuple(q.shape):  # no silent broadcasting of one distribution against a batch
        raise ValueError(
            f"p and q must have the same shape; got p.shape={tuple(p.shape)} and q.shape={tuple(q.shape)} "
            "(broadcast them explicitly, e.g. with xp.broadcast_to, if that is what you mean)"
        )
    return xp, p, q


def _gaussian_args(x, mu, sigma):
    """Namespace, ``x``, ``mu``, ``sigma`` (floats stay Python floats) and ``log(sigma)``."""
    xp = array_namespace(x, mu, sigma)
    dtype = float_dtype(xp, x, mu, sigma)
    x, mu, sigma = (float(v) if _is_scalar(v) else as_float(v, xp, dtype) for v in (x, mu, sigma))
    shapes = [(n, tuple(v.shape)) for n, v in (("x", x), ("mu", mu), ("sigma", sigma)) if not _is_scalar(v)]
    for (na, sa), (nb, sb) in zip(shapes, shapes[1:]):
        _check_broadcastable(sa, sb, na, nb)
    if len(shapes) == 3:
        _check_broadcastable(shapes[0][1], shapes[2][1], "x", "sigma")
    if _is_scalar(sigma):
        check_positive(sigma, "sigma")
        log_sigma = math.log(sigma)
    else:
        value_check(~xp.any(sigma <= 0), lambda: f"sigma must be positive; got a minimum of {float(xp.min(sigma))}")
        log_sigma = xp.log(sigma)
    return xp, x, mu, sigma, log_sigma


# ------------------------------------------------------------ Gaussian family
def gaussian_pdf(x, mu=0.0, sigma=1.0):
    r"""Density of the normal distribution :math:`\mathcal N(\mu, \sigma^2)`.

    Parameters
    ----------
    x : array
    mu : array or float, default 0
        Mean; broadcast against ``x``.
    sigma : array or float, default 1
        Standard deviation, positive; broadcast against ``x``.

    Returns
    -------
    array
        The broadcast shape of the arguments, in their floating dtype.

    Raises
    ------
    ValueError
        If ``sigma <= 0`` (a Python number, or a concrete array).

    Notes
    -----
    .. math:: f(x) = \frac{1}{\sigma\sqrt{2\pi}}\, e^{-z^2/2},\quad z = \frac{x - \mu}{\sigma},
       \qquad \frac{\partial f}{\partial x} = -\frac{z}{\sigma} f(x)

    Examples
    --------
    >>> import numpy as np
    >>> gaussian_pdf(np.array([0.0]))  # doctest: +ELLIPSIS
    array([0.3989...])
    """
    xp, x, mu, sigma, _ = _gaussian_args(x, mu, sigma)
    z = (x - mu) / sigma
    return xp.exp(-0.5 * z * z) * (_INV_SQRT_2PI / sigma)


def gaussian_logpdf(x, mu=0.0, sigma=1.0):
    r"""Log-density of the normal distribution :math:`\mathcal N(\mu, \sigma^2)`.

    Parameters
    ----------
    x : array
    mu : array or float, default 0
    sigma : array or float, default 1
        Positive.

    Returns
    -------
    array
        The broadcast shape of the arguments.

    Raises
    ------
    ValueError
        If ``sigma <= 0`` (a Python number, or a concrete array).

    Notes
    -----
    .. math:: \log f(x) = -\frac{z^2}{2} - \log\sigma - \frac12\log 2\pi,
       \quad z = \frac{x - \mu}{\sigma}

    .. math:: \frac{\partial \log f}{\partial x} = -\frac{z}{\sigma},\quad
       \frac{\partial \log f}{\partial \mu} = \frac{z}{\sigma},\quad
       \frac{\partial \log f}{\partial \sigma} = \frac{z^2 - 1}{\sigma}

    Examples
    --------
    >>> import numpy as np
    >>> gaussian_logpdf(np.array([0.0]))  # doctest: +ELLIPSIS
    array([-0.9189...])
    """
    xp, x, mu, sigma, log_sigma = _gaussian_args(x, mu, sigma)
    z = (x - mu) / sigma
    return -0.5 * z * z - (log_sigma + _HALF_LOG_2PI)


def gaussian_logpdf_grad(x, mu=0.0, sigma=1.0):
    r"""Score of the normal log-density with respect to its parameters, ``(d/dmu, d/dsigma)``.

    Parameters
    ----------
    x : array
    mu : array or float, default 0
    sigma : array or float, default 1
        Positive.

    Returns
    -------
    (array, array)
        :math:`\partial \log f / \partial \mu` and
        :math:`\partial \log f / \partial \sigma`, elementwise, each in the
        broadcast shape of the arguments (for a parameter shared across a
        batch, the gradient of the summed log-likelihood is their sum over the
        broadcast axes).

    Raises
    ------
    ValueError
        If ``sigma <= 0`` (a Python number, or a concrete array).

    Notes
    -----
    .. math:: z = \frac{x - \mu}{\sigma},\qquad
       \frac{\partial \log f}{\partial \mu} = \frac{z}{\sigma},\qquad
       \frac{\partial \log f}{\partial \sigma} = \frac{z^2 - 1}{\sigma}

    Exponential family: natural parameters
    :math:`\eta = (\mu/\sigma^2, -1/(2\sigma^2))`, sufficient statistics
    :math:`(x, x^2)`, log-partition
    :math:`A(\eta) = -\eta_1^2/(4\eta_2) - \tfrac12\log(-2\eta_2)`.
    Each score has expectation 0 under :math:`\mathcal N(\mu, \sigma^2)`.

    Examples
    --------
    >>> import numpy as np
    >>> d_mu, d_sigma = gaussian_logpdf_grad(np.array([1.0]), 0.0, 2.0)
    >>> d_mu, d_sigma
    (array([0.25]), array([-0.375]))
    """
    xp, x, mu, sigma, _ = _gaussian_args(x, mu, sigma)
    z = (x - mu) / sigma
    d_mu = z / sigma
    d_sigma = (z * z - 1.0) / sigma
    return d_mu, d_sigma  # z involves all three arguments: both are in their broadcast shape


def mvn_logpdf(x, mu, Sigma):
    r"""Log-density of the multivariate normal :math:`\mathcal N(\mu, \Sigma)`.

    Parameters
    ----------
    x : array of shape (d,) or (n, d)
        One point, or one point per row.
    mu : array of shape (d,) (or the shape of ``x``)
    Sigma : array of shape (d, d)
        Symmetric positive-definite covariance (symmetrised as
        :math:`(\Sigma + \Sigma^T)/2`).

    Returns
    -------
    array of shape () or (n,)

    Raises
    ------
    ValueError
        If the shapes do not match, or ``Sigma`` is not positive definite
        (checked on concrete inputs; under ``jax.jit`` and on Dask the result
        is NaN).

    Notes
    -----
    With the Cholesky factor :math:`\Sigma = L L^T` and :math:`z = L^{-1}(x - \mu)`
    (a linear solve, never an inverse):

    .. math:: \log f(x) = -\tfrac12 z^T z - \textstyle\sum_i \log L_{ii} - \tfrac d2 \log 2\pi

    since :math:`\log\det\Sigma = 2\sum_i \log L_{ii}`.

    .. math:: \nabla_x \log f = -\Sigma^{-1}(x - \mu),\qquad
       \nabla_\Sigma \log f = \tfrac12\big(\Sigma^{-1}(x-\mu)(x-\mu)^T\Sigma^{-1} - \Sigma^{-1}\big)

    Cost :math:`O(d^3 + n d^2)`.
    """
    xp = array_namespace(x, mu, Sigma)
    dtype = float_dtype(xp, x, mu, Sigma)
    x, mu, Sigma = (as_float(v, xp, dtype) for v in (x, mu, Sigma))
    check_ndim(x, "x", (1, 2))
    check_nonempty(x, "x")
    d = x.shape[-1]
    if tuple(mu.shape) not in ((d,), tuple(x.shape)):
        raise ValueError(
            f"mu must have shape ({d},) or the shape of x {tuple(x.shape)}; got {tuple(mu.shape)}"
        )
    _check_covariance(Sigma, d, "Sigma")
    L = _cholesky(Sigma, "Sigma", xp=xp)
    diff = x - mu
    rows = diff if diff.ndim == 2 else xp.expand_dims(diff, axis=0)
    half_logdet = xp.sum(xp.log(xp.linalg.diagonal(L)))
    out = -0.5 * _mahalanobis_sq(rows, L, xp=xp) - (half_logdet + d * _HALF_LOG_2PI)
    return out if diff.ndim == 2 else xp.reshape(out, ())


def mvn_pdf(x, mu, Sigma):
    r"""Density of the multivariate normal :math:`\mathcal N(\mu, \Sigma)`.

    Parameters and errors as :func:`mvn_logpdf`.

    Notes
    -----
    .. math:: f(x) = (2\pi)^{-d/2} \det(\Sigma)^{-1/2}
       \exp\!\big(-\tfrac12 (x - \mu)^T \Sigma^{-1} (x - \mu)\big),
       \qquad \nabla_x f = -f(x)\,\Sigma^{-1}(x - \mu)

    Computed as ``exp(mvn_logpdf(x, mu, Sigma))``.
    """
    xp = array_namespace(x, mu, Sigma)
    return xp.exp(mvn_logpdf(x, mu, Sigma))


def gaussian_mle(x, *, axis=0):
    r"""Maximum-likelihood mean and variance of a normal sample.

    Parameters
    ----------
    x : array
        Samples along ``axis``.
    axis : int, tuple of int or None, default 0
        Sample axis (or axes; ``None`` for all).

    Returns
    -------
    mean, var : arrays
        ``x``'s shape without ``axis``.  ``var`` is the biased (MLE) variance,
        ``numpy.var(x, axis, ddof=0)``.

    Notes
    -----
    .. math:: \hat\mu = \frac1n\sum_i x_i,\qquad
       \hat\sigma^2 = \frac1n\sum_i (x_i - \hat\mu)^2,
       \qquad \frac{\partial\hat\sigma^2}{\partial x_i} = \frac2n (x_i - \hat\mu)

    Two passes (mean, then squared deviations), which avoids the
    cancellation of :math:`\overline{x^2} - \bar x^2`.
    """
    xp = array_namespace(x)
    x = as_float(x, xp, float_dtype(xp, x))
    check_nonempty(x, "x")
    axes = check_axis(axis, x.ndim, "axis", allow_tuple=True, allow_none=True)
    axes = tuple(range(x.ndim)) if axes is None else (axes,) if isinstance(axes, int) else axes
    mean = xp.mean(x, axis=axes)
    kept = tuple(1 if i in axes else s for i, s in enumerate(x.shape))
    dev = x - xp.reshape(mean, kept)
    return mean, xp.mean(dev * dev, axis=axes)


# --------------------------------------------------------- information theory
def entropy(p, *, base=None, axis=-1):
    r"""Shannon entropy of the distribution(s) ``p``.

    Parameters
    ----------
    p : array
        Probabilities along ``axis`` (taken as given: not renormalised).
    base : float, optional
        Logarithm base; default ``e`` (nats).
    axis : int, default -1

    Returns
    -------
    array
        ``p``'s shape without ``axis``.

    Raises
    ------
    ValueError
        If ``p`` has negative entries (concrete inputs) or ``base`` is invalid.

    Notes
    -----
    .. math:: H(p) = -\sum_i p_i \log p_i,\qquad 0 \log 0 = 0,
       \qquad \frac{\partial H}{\partial p_i} = -\log p_i - 1

    The gradient at :math:`p_i = 0` is taken as 0 (finite). Equals
    ``scipy.stats.entropy(p, base=base, axis=axis)`` for normalised ``p``.

    Examples
    --------
    >>> import numpy as np
    >>> float(entropy(np.array([0.5, 0.5, 0.0]), base=2))
    1.0
    """
    _check_base(base)
    xp = array_namespace(p)
    p = _distribution(p, "p", float_dtype(xp, p), xp=xp)
    _check_axis(p, axis)
    return _in_base(-xp.sum(xlogy(p, p, xp=xp), axis=axis), base)


def cross_entropy(p, q, *, base=None, axis=-1):
    r"""Cross-entropy of distribution ``q`` relative to ``p``.

    Parameters
    ----------
    p, q : arrays of the same shape
        Probabilities along ``axis`` (not renormalised).
    base : float, optional
        Logarithm base; default ``e``.
    axis : int, default -1

    Returns
    -------
    array
        The shape of ``p`` without ``axis``.

    Notes
    -----
    .. math:: H(p, q) = -\sum_i p_i \log q_i = H(p) + D_{KL}(p\,\|\,q),
       \qquad \frac{\partial H}{\partial q_i} = -\frac{p_i}{q_i}

    Terms with :math:`p_i = 0` are 0; :math:`q_i = 0 < p_i` gives ``inf``.
    """
    _check_base(base)
    xp, p, q = _distribution_pair(p, q)
    _check_axis(p, axis)
    zero = q == 0
    t = p * xp.log(xp.where(zero, 1.0, q))
    t = xp.where(p == 0, 0.0, xp.where(zero, -math.inf, t))
    return _in_base(-xp.sum(t, axis=axis), base)


def kl_divergence(p, q, *, base=None, axis=-1):
    r"""Kullback–Leibler divergence :math:`D_{KL}(p\,\|\,q)` (as ``scipy.stats.entropy(p, q)``).

    Parameters
    ----------
    p, q : arrays of the same shape
        Probabilities along ``axis`` (not renormalised: for normalised inputs
        this equals ``scipy.stats.entropy(p, q, base=base, axis=axis)``).
    base : float, optional
        Logarithm base; default ``e``.
    axis : int, default -1

    Returns
    -------
    array
        The shape of ``p`` without ``axis``.

    Notes
    -----
    .. math:: D_{KL}(p\,\|\,q) = \sum_i p_i \log\frac{p_i}{q_i},
       \qquad \frac{\partial D}{\partial p_i} = \log\frac{p_i}{q_i} + 1,
       \quad \frac{\partial D}{\partial q_i} = -\frac{p_i}{q_i}

    Terms with :math:`p_i = 0` are 0; :math:`q_i = 0 < p_i` gives ``inf``.
    Near :math:`p_i \approx q_i` each term is computed from
    :math:`\operatorname{log1p}((p_i - q_i)/q_i)`, so small divergences keep
    their relative precision.  This is the divergence of two distributions;
    ``losses.kl_divergence`` is the batch-averaged loss.
    """
    _check_base(base)
    xp, p, q = _distribution_pair(p, q)
    _check_axis(p, axis)
    return _in_base(xp.sum(rel_entr(p, q, xp=xp), axis=axis), base)


def js_divergence(p, q, *, base=None, axis=-1):
    r"""Jensen–Shannon divergence (the square of SciPy's ``jensenshannon`` distance).

    Parameters
    ----------
    p, q : arrays of the same shape
        Probabilities along ``axis`` (not renormalised; for normalised inputs
        this equals ``scipy.spatial.distance.jensenshannon(p, q, base)**2``).
    base : float, optional
        Logarithm base; default ``e`` (then :math:`0 \le JS \le \log 2`).
    axis : int, default -1

    Returns
    -------
    array
        The shape of ``p`` without ``axis``.

    Notes
    -----
    .. math:: JS(p, q) = \tfrac12 D_{KL}(p\,\|\,m) + \tfrac12 D_{KL}(q\,\|\,m),
       \quad m = \tfrac12 (p + q),
       \qquad \frac{\partial JS}{\partial p_i} = \tfrac12 \log\frac{p_i}{m_i}
    """
    _check_base(base)
    xp, p, q = _distribution_pair(p, q)
    _check_axis(p, axis)
    m = (p + q) * 0.5
    js = xp.sum(rel_entr(p, m, xp=xp) + rel_entr(q, m, xp=xp), axis=axis) * 0.5
    return _in_base(js, base)


def mutual_information(joint, *, base=None):
    r"""Mutual information of two discrete variables from their joint probability table.

    Parameters
    ----------
    joint : array of shape (..., k1, k2)
        :math:`P(X = i, Y = j)`, summing to 1 over the last two axes (not
        renormalised).  Leading axes are batch axes.
    base : float, optional
        Logarithm base; default ``e`` (nats).

    Returns
    -------
    array of shape (...)

    Notes
    -----
    .. math:: I(X; Y) = \sum_{i,j} P_{ij} \log\frac{P_{ij}}{P_{i\cdot} P_{\cdot j}}
       = D_{KL}\big(P_{XY}\,\|\,P_X \otimes P_Y\big),
       \quad P_{i\cdot} = \sum_j P_{ij},\ P_{\cdot j} = \sum_i P_{ij}

    Zero cells contribute 0.  For a table of counts :math:`C`, pass
    :math:`C / \sum C`; the result then equals
    ``sklearn.metrics.mutual_info_score(None, None, contingency=C)``.
    """
    _check_base(base)
    xp = array_namespace(joint)
    joint = _distribution(joint, "joint", float_dtype(xp, joint), xp=xp)
    if joint.ndim < 2:
        raise ValueError(f"joint must be at least 2-D (..., k1, k2); got shape {tuple(joint.shape)}")
    px = xp.sum(joint, axis=-1, keepdims=True)
    py = xp.sum(joint, axis=-2, keepdims=True)
    # P (log P - log Px - log Py), not P log(P / (Px Py)): the product of two small marginals
    # underflows (float32 tables of 1e-30 gave inf); zero cells contribute 0 (their marginals may be 0)
    cell = joint > 0
    one = xp.ones_like(joint)
    logs = (xp.log(xp.where(cell, joint, one)) - xp.log(xp.where(cell, px * one, one))
            - xp.log(xp.where(cell, py * one, one)))
    terms = xp.where(cell, joint * logs, xp.zeros_like(joint))
    return as_array0d(_in_base(xp.sum(terms, axis=(-2, -1)), base), xp)


def perplexity(log_probs, *, axis=None):
    r"""Perplexity: the exponential of the mean negative log-likelihood.

    Parameters
    ----------
    log_probs : array
        Natural-log probabilities that a model gave to the *observed*
        outcomes, one per token/sample, e.g. ``categorical_logpmf(labels, p)``
        or ``log_softmax(logits)`` gathered at the labels.  Not losses (no
        minus sign) and not base 2.
    axis : int, tuple of int or None, default None
        Axis over which tokens are averaged (``None``: all, giving a 0-d
        array; ``-1``: one perplexity per sequence).

    Returns
    -------
    array

    Raises
    ------
    ValueError
        If ``log_probs`` holds positive values (concrete inputs), or ``axis``
        is out of range.

    Notes
    -----
    .. math:: \operatorname{PPL} = \exp\Big(-\frac1N\sum_{t=1}^N \log p_t\Big),
       \qquad \frac{\partial\,\operatorname{PPL}}{\partial \log p_t} = -\frac{\operatorname{PPL}}{N}

    A uniform model over :math:`k` outcomes has perplexity :math:`k`.
    """
    xp = array_namespace(log_probs)
    lp = as_float(log_probs, xp, float_dtype(xp, log_probs))
    check_nonempty(lp, "log_probs")
    axis = check_axis(axis, lp.ndim, "axis", allow_tuple=True, allow_none=True)
    check_values(lp, "log_probs", xp, high=0, what="log-probabilities (values <= 0)")
    return as_array0d(xp.exp(-xp.mean(lp, axis=axis)), xp)


@differentiable("bernoulli_logpmf_grad", wrt=1)
def bernoulli_logpmf(x, p):
    r"""Log-probability of outcomes ``x`` in {0, 1} under Bernoulli(``p``).

    Parameters
    ----------
    x : array
        Outcomes 0 or 1 (bool, integer or float); broadcast against ``p``.
    p : array
        Success probabilities in [0, 1].

    Returns
    -------
    array
        The broadcast shape, in ``p``'s floating dtype.

    Raises
    ------
    ValueError
        If ``p`` is outside [0, 1] or ``x`` outside {0, 1} (concrete inputs).

    Notes
    -----
    .. math:: \log P(x) = x \log p + (1 - x)\log(1 - p),
       \qquad \frac{\partial \log P}{\partial p} = \frac{x}{p} - \frac{1 - x}{1 - p}

    :math:`\log(1 - p)` is ``log1p(-p)``; the impossible outcomes (``x = 1``
    with ``p = 0``, ``x = 0`` with ``p = 1``) give ``-inf``, as
    ``scipy.stats.bernoulli.logpmf``.
    """
    xp, one, p = _bernoulli_args(x, p)
    return _bernoulli_logpmf(one, p, xp=xp)


def _bernoulli_args(x, p):
    xp = array_namespace(x, p)
    p = as_float(p, xp, float_dtype(xp, x, p))
    _check_broadcastable(x.shape, p.shape, "x", "p")
    check_probabilities(p, "p", xp)
    one = x if xp.isdtype(x.dtype, "bool") else x == 1
    if not xp.isdtype(x.dtype, "bool"):
        value_check(
            xp.all(one | (x == 0)),
            lambda: f"x must hold outcomes 0 or 1; got values in [{float(xp.min(x))}, {float(xp.max(x))}]",
        )
    return xp, one, p


def _bernoulli_logpmf(one, p, *, xp):
    p0, p1 = p == 0, p == 1  # (NaN propagates)
    log_p = xp.where(p0, -math.inf, xp.log(xp.where(p0, 1.0, p)))
    log_q = xp.where(p1, -math.inf, xp.log1p(-xp.where(p1, 0.0, p)))
    return xp.where(one, log_p, log_q)


def bernoulli_logpmf_grad(x, p):
    r"""Score of the Bernoulli log-probability: :math:`\partial \log P(x) / \partial p`.

    Parameters
    ----------
    x : array
        Outcomes 0 or 1 (bool, integer or float); broadcast against ``p``.
    p : array
        Success probabilities in [0, 1].

    Returns
    -------
    array
        The broadcast shape, in ``p``'s floating dtype: the gradient of
        ``sum(bernoulli_logpmf(x, p))`` with respect to ``p``.

    Raises
    ------
    ValueError
        If ``p`` is outside [0, 1] or ``x`` outside {0, 1} (concrete inputs).

    Notes
    -----
    .. math:: \frac{\partial \log P}{\partial p} = \frac{x}{p} - \frac{1 - x}{1 - p}
       = \frac{1}{p}\ (x = 1), \quad -\frac{1}{1 - p}\ (x = 0)

    Only the term of the observed outcome is formed, so ``p = 1`` with
    ``x = 1`` gives 1 (not NaN) and ``p = 0`` with ``x = 1`` gives ``inf``.
    Exponential family: natural parameter :math:`\eta = \operatorname{logit} p`,
    sufficient statistic :math:`x`, log-partition
    :math:`A(\eta) = \log(1 + e^\eta)`; the score in :math:`\eta` is
    :math:`x - p` (this function times :math:`p(1 - p)`).
    """
    xp, one, p = _bernoulli_args(x, p)
    prob = xp.where(one, p, 1.0 - p)  # the probability of the observed outcome
    sign = 2.0 * xp.astype(xp.broadcast_to(one, prob.shape), prob.dtype) - 1.0  # +1 for x = 1, -1 for x = 0
    zero = prob == 0
    return xp.where(zero, sign * math.inf, sign / xp.where(zero, 1.0, prob))


def categorical_logpmf(x, p):
    r"""Log-probability of class indices ``x`` under categorical distributions ``p``.

    Parameters
    ----------
    x : integer array of shape (...)
        Class indices in ``[0, k)``.
    p : array of shape (..., k)
        Class probabilities along the last axis; its leading shape broadcasts
        against ``x`` (e.g. ``p`` of shape (k,) for one distribution).

    Returns
    -------
    array
        The broadcast of ``x.shape`` and ``p.shape[:-1]``.

    Raises
    ------
    TypeError
        If ``x`` is not an integer array.
    ValueError
        If ``x`` is out of range or ``p`` outside [0, 1] (concrete inputs).

    Notes
    -----
    .. math:: \log P(x) = \log p_x = \sum_c [x = c] \log p_c,
       \qquad \frac{\partial \log P}{\partial p_c} = \frac{[x = c]}{p_c}

    The class is picked with a one-hot comparison (portable to Dask, which
    lacks ``take_along_axis``); :math:`p_x = 0` gives ``-inf``.
    """
    xp = array_namespace(x, p)
    p = as_float(p, xp, float_dtype(xp, p))
    if p.ndim < 1:
        raise ValueError("p must have a class axis (shape (..., k)); got a 0-d array")
    k = p.shape[-1]
    check_labels(x, k, "x", xp)
    _check_broadcastable(x.shape, p.shape[:-1], "x", "p[..., 0]")
    check_probabilities(p, "p", xp)
    onehot = xp.expand_dims(x, axis=-1) == xp.arange(k, dtype=x.dtype, device=device_of(p))
    sel = xp.sum(xp.where(onehot, p, 0.0), axis=-1)
    zero = sel == 0
    return xp.where(zero, -math.inf, xp.log(xp.where(zero, 1.0, sel)))


def _rate_args(x, rate, name_x, name_rate):
    xp = array_namespace(x, rate)
    dtype = float_dtype(xp, x, rate)
    x, rate = as_float(x, xp, dtype), as_float(rate, xp, dtype)
    _check_broadcastable(x.shape, rate.shape, name_x, name_rate)
    return xp, x, rate


def exponential_logpdf(x, rate):
    r"""Log-density of the exponential distribution with rate ``rate`` (mean ``1/rate``).

    Parameters
    ----------
    x : array
        Points; broadcast against ``rate``.  Negative points have density 0.
    rate : array
        Positive rates :math:`\lambda` (SciPy's ``scale`` is :math:`1/\lambda`).

    Returns
    -------
    array
        The broadcast shape, in the arguments' floating dtype.

    Raises
    ------
    ValueError
        If ``rate <= 0`` (concrete inputs).

    Notes
    -----
    .. math:: \log f(x) = \log\lambda - \lambda x \quad (x \ge 0),
       \qquad -\infty \quad (x < 0)

    .. math:: \frac{\partial \log f}{\partial \lambda} = \frac{1}{\lambda} - x

    Equals ``scipy.stats.expon.logpdf(x, scale=1/rate)``.  Exponential
    family: natural parameter :math:`\eta = -\lambda`, sufficient statistic
    :math:`x`, log-partition :math:`A(\eta) = -\log(-\eta)`, so
    :math:`A'(\eta) = 1/\lambda = E[x]`.

    Examples
    --------
    >>> import numpy as np
    >>> exponential_logpdf(np.array([0.0, 1.0]), np.array(2.0))  # doctest: +ELLIPSIS
    array([ 0.6931..., -1.3068...])
    """
    xp, x, rate = _rate_args(x, rate, "x", "rate")
    value_check(~xp.any(rate <= 0), lambda: f"rate must be positive; got a minimum of {float(xp.min(rate))}")
    neg = x < 0
    value = xp.log(rate) - rate * xp.where(neg, 0.0, x)
    return xp.where(neg, -math.inf, value)


def poisson_logpmf(k, mu):
    r"""Log-probability of counts ``k`` under Poisson(``mu``).

    Parameters
    ----------
    k : array
        Non-negative integer counts (integer or integral float); broadcast
        against ``mu``.
    mu : array
        Non-negative means :math:`\mu` (``mu = 0`` puts all mass on 0).

    Returns
    -------
    array
        The broadcast shape, in ``mu``'s floating dtype.

    Raises
    ------
    ValueError
        If ``k`` holds negative or non-integer values, or ``mu < 0``
        (concrete inputs).

    Notes
    -----
    .. math:: \log P(k) = k \log\mu - \mu - \log k!,
       \qquad \frac{\partial \log P}{\partial \mu} = \frac{k}{\mu} - 1

    :math:`k \log \mu` is 0 for :math:`k = 0` (also at :math:`\mu = 0`),
    :math:`\log k! = \log\Gamma(k + 1)` is a Lanczos approximation
    (relative error below 1e-15), as ``scipy.stats.poisson.logpmf``.  For
    large counts the three terms cancel (each near :math:`k\log k`, the
    result near :math:`-\tfrac12\log 2\pi k`): float32 keeps about
    :math:`7 - \log_{10}(k\log k)` significant digits of it, as SciPy's
    formula would.
    Exponential family: natural parameter :math:`\eta = \log\mu`,
    sufficient statistic :math:`k`, log-partition :math:`A(\eta) = e^\eta`,
    base measure :math:`1/k!`.

    Examples
    --------
    >>> import numpy as np
    >>> poisson_logpmf(np.array([0, 2]), np.array(1.0))  # doctest: +ELLIPSIS
    array([-1.        , -1.6931...])
    """
    xp = array_namespace(k, mu)
    mu = as_float(mu, xp, float_dtype(xp, mu))
    _check_broadcastable(k.shape, mu.shape, "k", "mu")
    _check_nonnegative(mu, "mu", xp=xp)
    if xp.isdtype(k.dtype, "bool"):
        raise TypeError(f"k must hold integer counts; got a {k.dtype} array")
    kf = as_float(k, xp, mu.dtype)
    if not xp.isdtype(k.dtype, "integral"):
        value_check(
            xp.all(kf == xp.round(kf)),
            lambda: "k must hold integer counts; got non-integer values",
        )
    _check_nonnegative(kf, "k", xp=xp)
    mu0 = mu == 0
    k_log_mu = xp.where(mu0, -math.inf, kf * xp.log(xp.where(mu0, 1.0, mu)))
    k_log_mu = xp.where(kf == 0, 0.0, k_log_mu)
    log_k_factorial = xp.where(kf <= 1, 0.0, gammaln_ge_half(kf + 1.0, xp=xp))  # exact 0 for k = 0, 1
    return k_log_mu - mu - log_k_factorial
