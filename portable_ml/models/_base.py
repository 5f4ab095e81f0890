"""Estimator conventions shared by every model (scikit-learn style).

* Constructor arguments are keyword-only and stored unchanged; ``get_params``
  reads them back from the ``__init__`` signature, ``set_params`` writes them.
  Hyperparameters are validated in ``fit``, not in ``__init__``.
* ``fit(X, y)`` returns ``self``; fitted attributes end in ``_`` and are arrays
  of the backend and device of ``X`` (the namespace is found once, from ``X``,
  and passed down).  ``n_features_in_`` is a Python int.
* Calling ``predict``/``transform``/``score`` before ``fit`` raises
  :class:`NotFittedError`.
* Inputs: ``X`` and ``y`` may be arrays of any backend or *array-likes*
  (lists, tuples, pandas objects -- anything ``numpy.asarray`` takes), as in
  scikit-learn.  ``fit`` places array-likes on the default backend
  (:func:`portable_ml.get_backend`); after ``fit``, array-likes go to the
  backend and device the model was fitted on.  An *array* of another backend
  (or device) than the fitted one is refused with a ``TypeError``
  (``ValueError`` for a device) that names both and suggests
  :func:`portable_ml.to_backend` -- the model never silently returns results
  on another backend, nor fails inside a backend.  (Formulas, unlike
  estimators, take arrays only; see :mod:`portable_ml._validate`.)
* Input validation (``X`` 2-D, non-empty, finite; ``y`` of matching length)
  happens at the public boundary.  Checking for NaN reads one boolean back to
  the host; on Dask it computes that reduction.  This is part of ``fit`` being
  eager: iterative solvers also read one convergence flag per iteration.

The numeric core of every model (loss, gradient, one solver step) is a pure
function of arrays that runs unchanged under ``jax.jit``.  On JAX, ``fit``
calls the jitted version (:func:`compiled`): iterative fits call the jitted
step in their loop, closed forms (least squares, ridge, PCA, LDA, naive
Bayes) are one compiled call -- which also compiles faster than JAX's
op-by-op dispatch, where every primitive is compiled on its own.
"""

from __future__ import annotations

import inspect
import warnings

from array_api_compat import is_dask_array as _is_dask  # the ground's test, imported by the estimators
from array_api_compat import is_jax_namespace as _is_jax

from .._numerics import softmax
from .._validate import check_array, check_bool, check_real
from .._xp import (
    array_namespace,
    as_float,
    check_class_elements,
    device_of,
    float_dtype,
    is_single_device,
    is_traced,
)
from ..backend import backend_of, get_backend
from ..tree import tree_flatten, tree_leaves, tree_map, tree_unflatten

__all__ = [
    "Estimator",
    "ClassifierMixin",
    "RegressorMixin",
    "NotFittedError",
    "ConvergenceWarning",
    "compiled",
    "settle",
    "computed",
    "check_X",
    "check_X_y",
    "encode_labels",
]


class NotFittedError(ValueError, AttributeError):
    """An estimator was used (``predict``, ``transform``, ...) before ``fit``.

    Subclasses both ``ValueError`` and ``AttributeError``, as scikit-learn's
    ``NotFittedError`` does, so existing ``except`` clauses keep working.
    """


class ConvergenceWarning(UserWarning):
    """An iterative solver stopped at ``max_iter`` before meeting ``tol``."""


# ------------------------------------------------------------------ JAX / Dask
_JIT_CACHE: dict = {}


def compiled(fn, xp):
    """``jax.jit(fn)`` with its keyword-only options static when ``xp`` is JAX, else ``fn``.

    The compiled function is cached per ``fn``, so refitting a model (or fitting
    another one with the same shapes and options) does not recompile.
    """
    if not _is_jax(xp):
        return fn
    jitted = _JIT_CACHE.get(fn)
    if jitted is None:
        import jax

        static = [p.name for p in inspect.signature(fn).parameters.values() if p.kind is p.KEYWORD_ONLY]
        jitted = _JIT_CACHE[fn] = jax.jit(fn, static_argnames=static)
    return jitted


def settle(tree):
    """Materialise the Dask arrays of ``tree`` (``dask.persist``); other leaves unchanged.

    Iterative solvers call this once per iteration so that the task graph of
    the state does not grow with the iteration count.
    """
    leaves, treedef = tree_flatten(tree)
    if not any(_is_dask(x) for x in leaves):
        return tree
    import dask

    idx = [i for i, x in enumerate(leaves) if _is_dask(x)]
    done = dask.persist(*[leaves[i] for i in idx])
    for i, x in zip(idx, done):
        leaves[i] = x
    return tree_unflatten(treedef, leaves)


def computed(tree):
    """``(tree, back)``: the Dask leaves of ``tree`` computed into memory (their chunk library).

    For loops of many small steps, where Dask's scheduling (about a
    millisecond per operation) would cost more than the arithmetic:

    * solvers whose state is small iterate on the computed result of a large
      reduction -- the ``d x d`` Gram matrix of the lasso/elastic-net and
      gradient-descent least squares, which itself stays a Dask reduction
      over the chunks of ``X``;
    * the MLP estimators train in memory on the computed ``X`` (documented there).

    The loop then runs on NumPy (or CuPy) arrays and ``back(result)`` wraps
    the fitted arrays into Dask arrays again.  Non-Dask trees pass through
    unchanged, with ``back`` the identity.
    """
    leaves, treedef = tree_flatten(tree)
    if not any(_is_dask(x) for x in leaves):
        return tree, lambda t: t
    import dask
    import dask.array as da

    done = dask.compute(*leaves)

    def back(t):
        return tree_map(lambda a: da.from_array(a, chunks=tuple(a.shape))
                        if backend_of(a) in ("numpy", "cupy") else a, t)

    return tree_unflatten(treedef, list(done)), back


def is_true(flag):
    """Read a 0-d boolean array back to the host (the one documented sync of a fit loop)."""
    return bool(flag)


def rng_for(X, seed):
    """A :class:`portable_ml.random.Generator` on the backend and device of ``X``."""
    from ..random import Generator

    return Generator(get_backend(backend_of(X), device=device_of(X)), seed)


# ------------------------------------------------------------------ validation
def _as_array(a, like=None):
    """Arrays pass through; Python data goes to ``like``'s backend (or the default one)."""
    if backend_of(a) is not None:
        return a
    if like is not None:
        return get_backend(backend_of(like), device=device_of(like)).asarray(a)
    return get_backend().asarray(a)


def check_X(X, *, name="X", n_features=None, check_finite=True):
    """``(X, xp)``: ``X`` as a 2-D, non-empty, finite floating array.

    Integer and boolean ``X`` are promoted to the backend's default float.
    ``n_features`` (the fitted ``n_features_in_``) is checked when given.
    The finiteness check reads one boolean from the device; it is skipped
    under ``jax.jit`` and, unless ``check_finite == "always"``, for lazy (Dask)
    input outside ``fit``.
    """
    X = _as_array(X)
    xp = array_namespace(X)
    if X.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array of shape (n_samples, n_features); "
                         f"got shape {tuple(X.shape)}")
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"{name} must not be empty; got shape {tuple(X.shape)}")
    if n_features is not None and X.shape[1] != n_features:
        raise ValueError(f"{name} has {X.shape[1]} features, but the estimator was fitted with "
                         f"{n_features} features")
    dtype = float_dtype(xp, X)
    if X.dtype != dtype:
        X = xp.astype(X, dtype)
    lazy_ok = check_finite == "always" or not _is_dask(X)
    if check_finite and lazy_ok:
        finite = xp.all(xp.isfinite(X))  # decided on the predicate: traced even when X is not
        if not is_traced(finite) and not bool(finite):
            raise ValueError(f"{name} contains NaN or infinity; remove or impute them before fitting")
    return X, xp


def check_X_y(X, y, *, y_numeric=True, multi_output=False, check_finite="always"):
    """``(X, y, xp)`` for ``fit``: ``X`` as in :func:`check_X`; ``y`` 1-D (or 2-D if
    ``multi_output``) with one row per sample, on ``X``'s backend.

    ``y_numeric`` casts ``y`` to ``X``'s floating dtype (regression targets)
    and checks it is finite; classifiers keep their labels as given.
    ``check_finite=True`` leaves the finiteness of lazy (Dask) input to the
    caller: fits that stream their data check it in their own pass.
    """
    X, xp = check_X(X, check_finite=check_finite)
    y = _as_array(y, like=X)
    xp = array_namespace(X, y)
    allowed = (1, 2) if multi_output else (1,)
    if y.ndim not in allowed:
        want = "1-D (n_samples,) or 2-D (n_samples, n_targets)" if multi_output else "1-D (n_samples,)"
        raise ValueError(f"y must be {want}; got shape {tuple(y.shape)}")
    if y.shape[0] != X.shape[0]:
        raise ValueError(f"X and y have inconsistent numbers of samples: X has {X.shape[0]} rows, "
                         f"y has {y.shape[0]}")
    if y_numeric:
        if y.dtype != X.dtype:
            y = xp.astype(y, X.dtype)
        lazy_ok = check_finite == "always" or not _is_dask(y)
        finite = xp.all(xp.isfinite(y)) if check_finite and lazy_ok else None
        if finite is not None and not is_traced(finite) and not bool(finite):
            raise ValueError("y contains NaN or infinity")
    return X, y, xp


def check_core_args(theta, X, y, alpha, *, fit_intercept, multinomial=False, y_name=None, lipschitz=None,
                    sample_weight=None):
    """Checked arguments of a model's public pure core (``logistic_grad``, ``linear_svc_objective``, ...).

    Shapes: ``X`` (n, d); ``theta`` (d + b,) and ``y`` (n,), or with ``multinomial`` ``theta`` (d + b, k)
    and ``Y`` (n, k), b = 1 with an intercept; ``sample_weight`` (n,).  Also ``alpha`` >= 0, ``lipschitz``
    > 0 and ``fit_intercept``.  Static checks only (shapes, dtypes, options): they hold under ``jax.jit``.

    Returns
    -------
    ``(xp, theta, X, y)``, the three arrays in their common floating dtype (integer and boolean inputs
    promoted; complex refused).
    """
    names = ("theta", "X", y_name or ("Y" if multinomial else "y"))
    for a, name in zip((theta, X, y), names):
        check_array(a, name)
    if sample_weight is not None:
        check_array(sample_weight, "sample_weight")
    check_bool(fit_intercept, "fit_intercept")
    check_real(alpha, "alpha", low=0.0, arrays=True)
    if lipschitz is not None:
        check_real(lipschitz, "lipschitz", low=0.0, low_open=True, arrays=True)
    xp = array_namespace(theta, X, y, sample_weight, alpha, lipschitz)  # one library: arrays of another refused
    dtype = float_dtype(xp, theta, X, y)
    theta, X, y = (as_float(a, xp, dtype, name) for a, name in zip((theta, X, y), names))
    nd = 2 if multinomial else 1
    for a, name, want in ((X, "X", 2), (theta, "theta", nd), (y, names[2], nd)):
        if a.ndim != want:
            raise ValueError(f"{name} must be {want}-D; got an array of shape {tuple(a.shape)}")
    n, d = X.shape
    rows = d + (1 if fit_intercept else 0)
    if theta.shape[0] != rows:
        shape = f"({rows}, n_classes)" if multinomial else f"({rows},)"
        raise ValueError(f"theta must have shape {shape}: n_features{' + 1 for the intercept' if fit_intercept else ''}"
                         f" for X of shape {tuple(X.shape)}; got shape {tuple(theta.shape)}")
    if y.shape[0] != n:
        raise ValueError(f"{names[2]} must have one row per sample of X ({n}); got shape {tuple(y.shape)}")
    if multinomial and theta.shape[1] != y.shape[1]:
        raise ValueError(f"theta and Y must have one column per class; got {tuple(theta.shape)} and {tuple(y.shape)}")
    if sample_weight is not None and tuple(sample_weight.shape) != (n,):
        raise ValueError(f"sample_weight must have shape ({n},); got {tuple(sample_weight.shape)}")
    return xp, theta, X, y


def check_sample_weight(sample_weight, X):
    """``sample_weight`` as a 1-D array of ``X``'s dtype on its backend, or ``None``.

    The weights must have one entry per row of ``X``, be finite and
    non-negative with a positive sum (one boolean read from the device).
    """
    if sample_weight is None:
        return None
    w = _as_array(sample_weight, like=X)
    xp = array_namespace(X, w)
    if w.ndim != 1 or w.shape[0] != X.shape[0]:
        raise ValueError(f"sample_weight must have shape (n_samples,) = ({X.shape[0]},); "
                         f"got shape {tuple(w.shape)}")
    if w.dtype != X.dtype:
        w = xp.astype(w, X.dtype)
    ok = xp.all(xp.isfinite(w) & (w >= 0)) & (xp.sum(w) > 0)
    if not is_traced(ok) and not bool(ok):
        raise ValueError("sample_weight must be finite and non-negative with a positive sum")
    return w


# Widest integer label range (max - min + 1) counted in one presence vector on sharded JAX labels.
_MAX_LABEL_RANGE = 1 << 20


def _label_range(y):
    """Smallest and largest label and whether every label is a whole number: three all-reduces."""
    import jax.numpy as jnp

    integral = jnp.all(y == jnp.round(y)) if jnp.issubdtype(y.dtype, jnp.floating) else jnp.asarray(True)
    return jnp.min(y), jnp.max(y), integral


def _label_counts(y, lo, *, size):
    """Occurrences of the labels ``lo, lo + 1, ..., lo + size - 1``: a scatter-add per shard, then one all-reduce."""
    import jax.numpy as jnp

    idx = jnp.astype(y - lo, jnp.int32) if jnp.issubdtype(y.dtype, jnp.integer) else jnp.astype(jnp.round(y - lo), jnp.int32)
    return jnp.zeros(size, jnp.int32).at[idx].add(1)


def _sharded_classes(y):
    """Sorted distinct labels of a JAX ``y`` partitioned over several devices, without gathering ``y``.

    ``jnp.unique`` on a partitioned array gathers it onto every device.  Here
    whole-number labels (integer or floating dtype) are found from reductions
    only: their range ``[lo, hi]`` (all-reduced min and max) and a presence
    count over that range (per-shard scatter-add, all-reduced), read back as
    ``lo + nonzero(count)``.  Other labels (fractions, or whole numbers spread
    over more than :data:`_MAX_LABEL_RANGE` values) are made distinct on each
    shard where it lives and only those short per-shard lists are merged.  The result is replicated
    over ``y``'s devices.  ``None`` for a ``y`` on one device (or replicated):
    the caller's ``unique_values`` does no communication there.
    """
    sharding = getattr(y, "sharding", None)
    if sharding is None or is_traced(y) or sharding.is_fully_replicated or len(sharding.device_set) < 2:
        return None
    import jax
    import jax.numpy as jnp

    placement = device_of(y)
    if jnp.issubdtype(y.dtype, jnp.bool_):
        y_num = jnp.astype(y, jnp.int32)
    else:
        y_num = y
    if jnp.issubdtype(y_num.dtype, jnp.integer) or jnp.issubdtype(y_num.dtype, jnp.floating):
        lo, hi, integral = compiled(_label_range, jnp)(y_num)
        if bool(integral) and bool(jnp.isfinite(hi - lo)) and float(hi - lo) < _MAX_LABEL_RANGE:
            size = int(hi - lo) + 1
            counts = compiled(_label_counts, jnp)(y_num, lo, size=size)
            present = jnp.nonzero(counts > 0)[0]  # size-long and replicated: read on each device
            classes = jnp.astype(jnp.astype(present, lo.dtype) + lo, y.dtype)
            return jax.device_put(classes, placement)
    # per-shard distinct values (each computed on its own device), merged on one device, then replicated
    first = next(iter(sorted(sharding.device_set, key=lambda d: d.id)))
    parts = [jax.device_put(jnp.unique(s.data), first) for s in y.addressable_shards]
    return jax.device_put(jnp.unique(jnp.concatenate(parts)), placement)


def encode_labels(y, xp, dtype, *, min_classes=2):
    """``(classes, Y)``: sorted distinct labels and the one-hot matrix ``Y`` (n, k) of ``dtype``.

    Finding the classes is eager: the number of classes fixes shapes, so it is
    read from the data (on Dask the distinct values are computed).  On a JAX
    ``y`` partitioned over several devices the classes come from reductions
    (see :func:`_sharded_classes`), so ``y`` is never gathered; ``Y`` stays
    partitioned like ``y``.
    """
    classes = _sharded_classes(y) if _is_jax(xp) else None
    if classes is None:
        classes = xp.unique_values(y)
        if _is_dask(classes):  # one pass over y; then a small concrete array, so Y's chunks need only y's
            import dask.array as da

            host = classes.compute()
            classes = da.from_array(array_namespace(host).sort(host), chunks=-1)
        else:
            classes = xp.sort(classes)
    k = int(classes.shape[0])
    if k < min_classes:
        raise ValueError(f"y must contain at least {min_classes} classes; got {k} class"
                         f"{'' if k == 1 else 'es'}")
    # (n, k) one-hot: continuous targets passed to a classifier make k = n
    check_class_elements(k, (y.shape[0], k), "a one-hot encoding of y", name="the number of distinct labels in y",
                         hint="a classifier needs class labels: continuous targets call for a regressor")
    Y = xp.astype(y[:, None] == classes[None, :], dtype)
    return classes, Y


# ------------------------------------------------------------------ the base class
_UNSET = object()


class Estimator:
    """Base class: parameters from the ``__init__`` signature, repr, fitted checks."""

    @classmethod
    def _param_names(cls):
        sig = inspect.signature(cls.__init__)
        return [p.name for p in sig.parameters.values()
                if p.name != "self" and p.kind is p.KEYWORD_ONLY]

    @classmethod
    def _defaults(cls):
        sig = inspect.signature(cls.__init__)
        return {p.name: p.default for p in sig.parameters.values() if p.name != "self"}

    def get_params(self, deep=True):
        """The constructor arguments, as stored (``deep`` is accepted for scikit-learn compatibility)."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params):
        """Set constructor arguments by name; returns ``self``. Unknown names raise ``ValueError``."""
        valid = self._param_names()
        for name, value in params.items():
            if name not in valid:
                raise ValueError(f"invalid parameter {name!r} for {type(self).__name__}; "
                                 f"valid parameters: {', '.join(valid)}")
            setattr(self, name, value)
        return self

    def __repr__(self):
        defaults = self._defaults()
        parts = []
        for name, value in self.get_params().items():
            default = defaults.get(name, _UNSET)
            try:
                same = value is default or bool(value == default)
            except Exception:  # arrays and other objects without a scalar ==
                same = False
            if not same:
                parts.append(f"{name}={value!r}")
        return f"{type(self).__name__}({', '.join(parts)})"

    # ---------------------------------------------------------------- fitted state
    def _check_fitted(self, attr="n_features_in_"):
        if not hasattr(self, attr):
            raise NotFittedError(f"this {type(self).__name__} instance is not fitted yet; "
                                 "call fit(X, y) before using it")

    def _fitted_array(self):
        """A fitted array (public attribute ending in ``_``, pytrees walked), floating ones first; or ``None``."""
        leaves = [leaf for k in sorted(vars(self)) if k.endswith("_") and not k.startswith("_")
                  for leaf in tree_leaves(getattr(self, k)) if backend_of(leaf) is not None]
        for leaf in leaves:
            if array_namespace(leaf).isdtype(leaf.dtype, "real floating"):
                return leaf
        return leaves[0] if leaves else None

    def _check_input(self, X, name="X"):
        """``X`` on the fitted backend and device: array-likes are placed there, arrays must be there.

        Raises ``TypeError`` for an array of another backend and ``ValueError``
        for one on another device than the model's fitted arrays.
        """
        ref = self._fitted_array()
        if ref is None:
            return X
        if backend_of(X) is None:  # an array-like: to the fitted backend, device and floating dtype
            floating = array_namespace(ref).isdtype(ref.dtype, "real floating")
            X = get_backend(backend_of(ref), device=device_of(ref)).asarray(X, dtype=ref.dtype if floating else None)
        fitted, given = backend_of(ref), backend_of(X)
        model = type(self).__name__
        if given != fitted:
            raise TypeError(
                f"this {model} was fitted on {fitted} arrays, but {name} is a {given} array "
                f"({type(X).__name__}); move it first with portable_ml.to_backend({name}, {fitted!r}) "
                f"(or refit the model on {given} data)"
            )
        if is_traced(X):  # inside jax.jit / torch.compile: the transform places the values, not us
            return X
        try:
            d_ref, d_x = device_of(ref), device_of(X)
        except Exception:  # tracers carry no placement
            return X
        if is_single_device(d_ref) and is_single_device(d_x) and d_ref != d_x:
            raise ValueError(
                f"this {model} was fitted on device {d_ref!r}, but {name} is on device {d_x!r}; "
                f"move it first with portable_ml.to_backend({name}, {fitted!r}, device=...)"
            )
        return X

    def _check_X(self, X):
        self._check_fitted()
        return check_X(self._check_input(X), n_features=self.n_features_in_)


class ClassifierMixin:
    """``score`` = mean accuracy (:func:`portable_ml.metrics.accuracy`)."""

    def score(self, X, y):
        """Mean accuracy of ``predict(X)`` against ``y``, as a 0-d array on ``X``'s device."""
        from ..metrics import accuracy

        pred = self.predict(X)
        return accuracy(_as_array(y, like=pred), pred)


class RegressorMixin:
    """``score`` = coefficient of determination (:func:`portable_ml.metrics.r2`)."""

    def score(self, X, y):
        r""":math:`R^2 = 1 - \sum (y - \hat y)^2 / \sum (y - \bar y)^2` of ``predict(X)``, a 0-d array.

        Averaged uniformly over targets for 2-D ``y``; a constant ``y`` gives
        1.0 for a perfect prediction and 0.0 otherwise, as in scikit-learn.
        """
        from ..metrics import r2

        pred = self.predict(X)
        return r2(_as_array(y, like=pred), pred)


# ------------------------------------------------------------------ small shared numerics
def softmax_rows(S, xp):
    """Row-wise softmax (the ground's stable :func:`portable_ml._numerics.softmax`)."""
    return softmax(S, axis=-1, xp=xp)


def warn_not_converged(name, max_iter, what):
    warnings.warn(f"{name} did not converge in max_iter={max_iter} iterations ({what}); "
                  "increase max_iter or loosen tol", ConvergenceWarning, stacklevel=3)


# ------------------------------------------------------------------ sample and class weights
def class_weight_vector(class_weight, classes, Y, dtype, sample_weight=None):
    """Weights (n_classes,) of ``class_weight`` for the sorted ``classes`` and one-hot labels ``Y`` (n, k).

    ``None``: ones.  ``"balanced"``: :math:`n/(k\\,n_c)`
    (:func:`portable_ml.preprocessing.compute_class_weight`, scikit-learn's
    ``"balanced"``); with sample weights :math:`s`, the weighted counts
    :math:`\\sum_i s_i / (k \\sum_{i: y_i = c} s_i)`, as scikit-learn (1.8)
    computes them.  A dict ``{label: weight}``: the weight of each listed
    label, 1 for the others; a label that is not a class raises ``ValueError``
    (as in scikit-learn).
    """
    xp = array_namespace(classes, Y)
    k = int(classes.shape[0])
    dev = device_of(Y)
    ones = xp.ones((k,), dtype=dtype, device=dev)
    if class_weight is None:
        return ones
    if isinstance(class_weight, str) and class_weight == "balanced":
        if sample_weight is not None:
            counts = sample_weight @ Y
            return xp.sum(counts) / (k * counts)
        from ..preprocessing import compute_class_weight

        return xp.astype(compute_class_weight(xp.argmax(Y, axis=1), num_classes=k), dtype)
    if not isinstance(class_weight, dict):
        raise ValueError(f"class_weight must be None, 'balanced' or a dict {{label: weight}}; "
                         f"got {class_weight!r}")
    out = ones
    for label, weight in class_weight.items():
        hit = classes == xp.asarray(label, dtype=classes.dtype, device=device_of(classes))
        if not is_true(xp.any(hit)):
            raise ValueError(f"class_weight names label {label!r}, which is not a class of y")
        out = xp.where(hit, xp.asarray(float(weight), dtype=dtype, device=dev), out)
    return out


def combined_weights(sample_weight, class_weight, classes, Y, X):
    """Per-sample weights :math:`s_i\\,w_{y_i}` (n,), or ``None`` when both are absent."""
    if sample_weight is None and class_weight is None:
        return None
    xp = array_namespace(X)
    sw = check_sample_weight(sample_weight, X)
    if class_weight is None:
        return sw
    cw = Y @ class_weight_vector(class_weight, classes, Y, X.dtype, sw)
    return cw if sw is None else sw * cw
