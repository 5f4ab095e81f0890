r"""Multi-layer perceptron estimators, trained by mini-batch gradient descent.

The network is :class:`portable_ml.nn.MLP` (analytic backprop, so training
needs no autodiff framework); the update is any :mod:`portable_ml.optimizers`
transformation.  One training step is the pure function
:func:`mlp_train_step`:

.. math::
    (L, g) = \texttt{net.loss\_and\_grads}(\theta, X_B, Y_B),\qquad
    g_W \mathrel{+}= \alpha W,\qquad
    (u, s) = \texttt{optimizer.update}(g, s, \theta),\qquad \theta \leftarrow \theta + u

On JAX, ``fit`` calls it jitted.  Every epoch visits the samples in a fresh
order drawn from :mod:`portable_ml.random` (the same order on every backend
for a seed).
"""

from __future__ import annotations

import sys

from .._numerics import sigmoid
from .._validate import check_bool, check_int
from .._xp import array_namespace, check_positive, device_of
from ._base import (
    ClassifierMixin,
    Estimator,
    RegressorMixin,
    _is_dask,
    check_X_y,
    compiled,
    computed,
    encode_labels,
    rng_for,
    softmax_rows,
)

__all__ = ["MLPClassifier", "MLPRegressor", "mlp_train_step"]


def mlp_train_step(params, opt_state, X, Y, *, net, optimizer, alpha=0.0):
    r"""One mini-batch step: loss and gradients by backprop, then the optimizer's update.

    Parameters
    ----------
    params : list of dict
        ``net``'s parameters (``[{"W": ..., "b": ...}, ...]``).
    opt_state : pytree
        ``optimizer``'s state for ``params``.
    X : array of shape (batch, d_in)
    Y : array of shape (batch, d_out)
        Targets in the output's shape (see :meth:`portable_ml.nn.MLP.loss_and_grads`).
    net : portable_ml.nn.MLP
    optimizer : portable_ml.optimizers.GradientTransformation
    alpha : float
        L2 penalty :math:`\tfrac\alpha2\sum_l\|W_l\|^2` on the weights (not the biases).

    Returns
    -------
    params, opt_state, loss
        The updated parameters and state, and the (unpenalised) batch loss
        at the parameters before the step, a 0-d array.
    """
    from ..optimizers import apply_updates

    loss, grads = net.loss_and_grads(params, X, Y)
    if alpha:
        grads = [{"W": g["W"] + alpha * p["W"], "b": g["b"]} for g, p in zip(grads, params)]
    updates, opt_state = optimizer.update(grads, opt_state, params)
    return apply_updates(params, updates), opt_state, loss


_DEFAULT_OPTIMIZER = []


def _default_optimizer(adam):
    """One shared ``adam(1e-3)`` (a pure transformation): the jitted step, which takes the
    optimizer as a static argument, is then compiled once rather than at every fit."""
    if not _DEFAULT_OPTIMIZER:
        _DEFAULT_OPTIMIZER.append(adam(1e-3))
    return _DEFAULT_OPTIMIZER[0]


def _train_batch(params, opt_state, total, X, Y, idx, *, net, optimizer, alpha):
    """Gather the batch ``idx`` and take one step; ``total`` accumulates the batch losses times sizes."""
    xp = array_namespace(X, Y, idx)
    params, opt_state, loss = mlp_train_step(params, opt_state, xp.take(X, idx, axis=0), xp.take(Y, idx, axis=0),
                                             net=net, optimizer=optimizer, alpha=alpha)
    return params, opt_state, total + loss * idx.shape[0]


class _Progress:
    """Per-epoch progress: a tqdm bar if tqdm is installed, else plain lines (about ten per fit)."""

    def __init__(self, total, name, enabled):
        self.total, self.name, self.enabled = total, name, enabled
        self.bar = None
        if enabled:
            try:
                from tqdm.auto import tqdm
            except ImportError:
                tqdm = None
            if tqdm is not None:
                self.bar = tqdm(total=total, desc=name, unit="epoch")

    def update(self, epoch, loss, val=None):
        if not self.enabled:
            return
        info = {"loss": f"{loss:.4g}"} | ({} if val is None else {"val_loss": f"{val:.4g}"})
        if self.bar is not None:
            self.bar.set_postfix(info)
            self.bar.update(1)
        elif epoch == 1 or epoch == self.total or epoch % max(1, self.total // 10) == 0:
            print(f"{self.name}: epoch {epoch}/{self.total} " + " ".join(f"{k} {v}" for k, v in info.items()),
                  file=sys.stderr, flush=True)

    def close(self):
        if self.bar is not None:
            self.bar.close()


class _BaseMLP(Estimator):
    _output = "identity"

    def _check_params(self):
        sizes = self.hidden_layer_sizes
        sizes = (sizes,) if isinstance(sizes, int) else tuple(sizes)
        if any(not isinstance(s, int) or isinstance(s, bool) or s < 1 for s in sizes):
            raise ValueError(f"hidden_layer_sizes must be positive ints; got {self.hidden_layer_sizes!r}")
        check_int(self.epochs, "epochs", low=1)
        check_int(self.batch_size, "batch_size", low=1)
        check_positive(self.alpha, "alpha", strict=False)
        if self.early_stopping:
            if not 0.0 < self.validation_fraction < 1.0:
                raise ValueError(f"validation_fraction must lie in (0, 1); got {self.validation_fraction!r}")
            check_int(self.n_iter_no_change, "n_iter_no_change", low=1)
        return sizes

    def _continues(self, incremental):
        """Whether this fit starts from the fitted network (``warm_start`` or ``partial_fit`` after a fit)."""
        check_bool(self.warm_start, "warm_start")
        return hasattr(self, "params_") and (bool(self.warm_start) or incremental)

    def _fit(self, X, Y, xp, n_out, output, *, incremental=False):
        from ..nn import MLP
        from ..optimizers import adam

        sizes = self._check_params()
        cont = self._continues(incremental)
        early_stopping = bool(self.early_stopping) and not incremental  # as scikit-learn: none in partial_fit
        epochs = 1 if incremental else self.epochs
        chunks = None
        if _is_dask(X) and not early_stopping:  # streamed: one chunk of rows in memory at a time
            chunks = _row_chunks(X, Y)
            like = X._meta  # an empty array of the chunks' library (NumPy or CuPy)
            back = _as_dask_like
        else:  # early stopping draws its validation rows from all of X: trained in memory
            lazy = _is_dask(X)
            (X, Y), back = computed((X, Y))
            if lazy:
                _check_finite(X, Y)
            like = X
        xp = array_namespace(like)
        n = X.shape[0]
        net = MLP((X.shape[1], *sizes, n_out), activation=self.activation, output=output, loss=self.loss)
        optimizer = _default_optimizer(adam) if self.optimizer is None else self.optimizer
        if cont:
            _check_same_network(self.net_, net)
            # the shuffles go on from the previous fit's generator, so fits of k and m epochs visit the
            # batches of one fit of k + m epochs
            rng = self._rng
            params = _as_dtype(computed(self.params_)[0], like)
        else:
            rng = rng_for(like, self.seed)
            params = net.init(rng, dtype=like.dtype)
        if incremental and cont and self._optimizer is optimizer:
            opt_state = self._opt_state  # partial_fit keeps the optimizer's state, as scikit-learn does
        else:  # a fit (also a warm-started one) starts a fresh optimizer state, as scikit-learn does
            opt_state = optimizer.init(params)
        step = compiled(_train_batch, xp)
        alpha = float(self.alpha)

        if early_stopping:
            from ..regularization import EarlyStopping

            order = rng.permutation(n)
            n_val = max(1, int(round(self.validation_fraction * n)))
            X_val, Y_val = xp.take(X, order[:n_val], axis=0), xp.take(Y, order[:n_val], axis=0)
            X, Y = xp.take(X, order[n_val:], axis=0), xp.take(Y, order[n_val:], axis=0)
            n = n - n_val
            stopper = EarlyStopping(self.n_iter_no_change, min_delta=self.tol)
            val_loss = compiled(_val_loss, xp)
        bs = min(int(self.batch_size), n)
        progress = _Progress(epochs, type(self).__name__, bool(self.verbose))
        curve, val_curve, best = [], [], None
        for epoch in range(1, epochs + 1):
            total = xp.zeros((), dtype=like.dtype, device=device_of(like))
            for Xc, Yc, m in ([(X, Y, n)] if chunks is None else _chunks_in_order(chunks, rng, self.shuffle)):
                order = rng.permutation(m) if self.shuffle else xp.arange(m, device=device_of(Xc))
                for start in range(0, m, min(bs, m)):
                    batch = order[start:min(start + bs, m)]
                    params, opt_state, total = step(params, opt_state, total, Xc, Yc, batch,
                                                    net=net, optimizer=optimizer, alpha=alpha)
            curve.append(total / n)
            if early_stopping:
                v = val_loss(params, X_val, Y_val, net=net)
                val_curve.append(v)
                stop = stopper.update(v)  # one host read per epoch
                if stopper.wait == 0:
                    best = (params, epoch)
                progress.update(epoch, float(curve[-1]), float(v))
                if stop:
                    break
            elif self.verbose:
                progress.update(epoch, float(curve[-1]))
        progress.close()
        if best is not None:
            params, self.best_epoch_ = best
        self.n_iter_ = epoch
        self.net_ = net
        self.params_ = back(params)
        self._rng, self._optimizer, self._opt_state = rng, optimizer, opt_state
        curve = xp.stack(curve)
        if cont:  # as scikit-learn: the curve goes on over warm-started fits and partial_fit calls
            curve = xp.concat([computed(self.loss_curve_)[0], curve])
        self.loss_curve_ = back(curve)
        if early_stopping:
            self.validation_loss_curve_ = back(xp.stack(val_curve))
        elif hasattr(self, "validation_loss_curve_"):
            del self.validation_loss_curve_
        self.n_features_in_ = int(X.shape[1])
        return self

    def _logits(self, X):
        X, xp = self._check_X(X)
        return self.net_.logits(self.params_, X), xp


def _labels_like(classes, y):
    """``classes`` (a list or any backend's array) on ``y``'s backend and device."""
    from ..backend import backend_of, get_backend

    if backend_of(classes) not in (None, backend_of(y)):
        classes = get_backend(backend_of(classes)).to_numpy(classes)
    return get_backend(backend_of(y), device=device_of(y)).asarray(classes)


def _in_memory(a):
    """A small array computed if it is a Dask one."""
    return a.compute() if _is_dask(a) else a


def _one_hot(y, classes, dtype, what):
    """``y`` one-hot against ``classes`` (n, k); labels outside ``classes`` raise ``ValueError``."""
    xp = array_namespace(y)
    Y = xp.astype(y[:, None] == classes[None, :], dtype)
    if not bool(xp.all(xp.sum(Y, axis=1) == 1)):
        raise ValueError(f"`y` has classes not in {what}: {classes}")
    return Y


def _check_same_network(old, new):
    """A warm start (or ``partial_fit``) continues the fitted network: same layers, activation and output."""
    if old.layer_sizes != new.layer_sizes:
        raise ValueError(f"warm_start and partial_fit continue the fitted network of layer sizes "
                         f"{list(old.layer_sizes)} (input, hidden..., output); this fit needs "
                         f"{list(new.layer_sizes)} (hidden_layer_sizes, the number of features or the number "
                         f"of outputs changed). Set warm_start=False (or fit anew) to start over")
    if (old.activation, old.output, old.loss) != (new.activation, new.output, new.loss):
        raise ValueError(f"warm_start and partial_fit continue the fitted network {old!r}; this fit asks for "
                         f"{new!r}. Set warm_start=False (or fit anew) to start over")


def _as_dtype(params, like):
    """The fitted parameters in the dtype of this fit's ``X``."""
    from ..backend import backend_of

    was, now = backend_of(params[0]["W"]), backend_of(like)
    if was != now:
        raise ValueError(f"warm_start and partial_fit continue the fitted network, whose parameters are {was} "
                         f"arrays; X is a {now} array. Fit on the same backend (or set warm_start=False)")
    xp = array_namespace(like)
    return [{k: xp.astype(a, like.dtype) for k, a in layer.items()} for layer in params]


def _row_chunks(X, Y):
    """``[(X block, Y block, rows)]``: the row chunks of Dask ``X`` with the matching rows of ``Y``, as delayed."""
    X = X.rechunk({1: -1})
    Y = Y.rechunk({0: X.chunks[0], 1: -1})
    xs, ys = X.to_delayed(optimize_graph=False)[:, 0], Y.to_delayed(optimize_graph=False)[:, 0]
    return [(xb, yb, rows) for xb, yb, rows in zip(xs, ys, X.chunks[0]) if rows > 0]


def _chunks_in_order(chunks, rng, shuffle):
    """The chunks of one epoch, computed one at a time (in a fresh random order when ``shuffle``)."""
    import dask

    order = rng.permutation(len(chunks)) if shuffle else range(len(chunks))
    for i in order:
        xb, yb, rows = chunks[int(i)]
        Xc, Yc = dask.compute(xb, yb)
        _check_finite(Xc, Yc)
        yield Xc, Yc, rows


def _check_finite(X, Y):
    xp = array_namespace(X, Y)
    if not bool(xp.all(xp.isfinite(X))):
        raise ValueError("X contains NaN or infinity; remove or impute them before fitting")
    if not bool(xp.all(xp.isfinite(Y))):
        raise ValueError("y contains NaN or infinity")


def _as_dask_like(tree):
    """Small fitted arrays (in the chunks' library) as one-chunk Dask arrays."""
    import dask.array as da

    from ..tree import tree_map

    return tree_map(lambda a: da.from_array(a, chunks=tuple(a.shape)), tree)


def _val_loss(params, X, Y, *, net):
    return net.loss_and_grads(params, X, Y)[0]


_DOC_PARAMS = r"""
    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default (64,)
        Units of each hidden layer.
    activation : str or callable, default "relu"
        Hidden activation, any elementwise one of :mod:`portable_ml.activations`
        with a ``*_grad`` ("relu", "tanh", "sigmoid", "gelu", ...), or a user
        layer ``h = f(z)`` built from array-API operations (see
        :class:`portable_ml.nn.MLP`), differentiated by :mod:`portable_ml.autodiff`.
    optimizer : portable_ml.optimizers transformation, optional
        Default ``portable_ml.optimizers.adam(1e-3)``; learning-rate schedules
        count optimizer steps (mini-batches).
    epochs : int, default 200
        Passes over the training data (fewer with early stopping).
    batch_size : int, default 32
        Mini-batch size (the last batch of an epoch may be smaller).
    seed : int or None
        Seeds the initial weights, the per-epoch shuffles and the validation
        split (:mod:`portable_ml.random`: the same on every backend).
    alpha : float, default 0.0
        L2 penalty :math:`\tfrac\alpha2\sum_l\|W_l\|^2` on the weights.
    shuffle : bool, default True
        Visit the samples in a fresh random order every epoch.
    early_stopping : bool, default False
        Hold out ``validation_fraction`` of the data and stop when its loss has
        not improved by ``tol`` for ``n_iter_no_change`` epochs
        (:class:`portable_ml.regularization.EarlyStopping`); the parameters of
        the best epoch are kept.  Reads one value per epoch back to the host.
    validation_fraction : float, default 0.1
    n_iter_no_change : int, default 10
    tol : float, default 1e-4
    warm_start : bool, default False
        As in scikit-learn: ``fit`` continues from the fitted parameters
        (same layer sizes, number of features and outputs, and for a
        classifier the same classes, else ``ValueError``) with a fresh
        optimizer state, and the epochs' shuffles go on from the previous
        fit's generator; ``loss_curve_`` goes on too.  So with a stateless
        optimizer (plain ``sgd``) fits of ``k`` and ``m`` epochs give one fit
        of ``k + m`` epochs.
    verbose : bool, default False
        Show per-epoch progress: a tqdm bar when tqdm is installed (extra
        ``progress``), else a line every tenth of the epochs on stderr.
    loss : callable, optional
        A user loss ``loss(Y, Y_hat) -> 0-d array`` of the encoded targets
        (0/1 column for two classes, one-hot rows for more, the targets of a
        regressor as a column block) and the network output (probabilities,
        or raw values for a regressor), written with the array namespace of
        its arguments; replaces the default loss and is differentiated by
        :mod:`portable_ml.autodiff` (``jax.grad`` on JAX).  ``loss_curve_``
        then records it.

    Attributes
    ----------
    params_ : list of dict
        The trained parameters ``[{"W": (d_in, d_out), "b": (d_out,)}, ...]``.
    net_ : portable_ml.nn.MLP
        The architecture.
    loss_curve_ : array of shape (``n_iter_``,)
        Mean training loss of each epoch (over its mini-batches, each at the
        parameters before its step); after ``warm_start`` fits and
        ``partial_fit`` calls, of every epoch since the last cold start.
    validation_loss_curve_ : array of shape (``n_iter_``,)
        With ``early_stopping``: the validation loss after each epoch.
    best_epoch_ : int
        With ``early_stopping``: the epoch whose parameters were kept.
    n_iter_ : int
        Epochs run by the last ``fit`` (1 after ``partial_fit``, as in
        scikit-learn).
    n_features_in_ : int
{extra_attributes}
    Notes
    -----
    Without ``early_stopping`` or ``verbose``, ``fit`` never reads a value
    back from the device.  On Dask the training streams: every epoch visits
    the row chunks of ``X`` in a fresh random order, computes one chunk at a
    time (with its rows of ``y``) into the training process, and shuffles the
    mini-batches within it; so ``fit`` reads ``X`` once per epoch (plus once
    for the classes) and holds one chunk in memory, and batches never span two
    chunks (the last batch of a chunk may be smaller).  The fitted arrays are
    small one-chunk Dask arrays.  With ``early_stopping`` the validation rows
    are drawn from all of ``X``, so that fit computes ``X`` into memory first.
"""


class MLPClassifier(ClassifierMixin, _BaseMLP):
    __doc__ = r"""Multi-layer perceptron classifier.

    Two classes: one sigmoid output unit and binary cross-entropy; more: a
    softmax output and categorical cross-entropy (:class:`portable_ml.nn.MLP`).
    Labels may be any values (``classes_`` holds them, sorted; finding them
    reads ``y``).
""" + _DOC_PARAMS.replace("{extra_attributes}", "    classes_ : array of shape (n_classes,)\n")

    def __init__(self, *, hidden_layer_sizes=(64,), activation="relu", optimizer=None, epochs=200, batch_size=32,
                 seed=None, alpha=0.0, shuffle=True, early_stopping=False, validation_fraction=0.1,
                 n_iter_no_change=10, tol=1e-4, verbose=False, loss=None, warm_start=False):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.optimizer = optimizer
        self.epochs = epochs
        self.batch_size = batch_size
        self.seed = seed
        self.alpha = alpha
        self.shuffle = shuffle
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.verbose = verbose
        self.loss = loss
        self.warm_start = warm_start

    def fit(self, X, y):
        """Train on ``X`` (n_samples, n_features) and class labels ``y`` (n_samples,)."""
        return self._fit_labels(X, y, None, incremental=False)

    def partial_fit(self, X, y, classes=None):
        """One epoch over ``X``, ``y``, continuing the fitted network and its optimizer state.

        As in scikit-learn: ``classes`` (every label ``y`` will ever hold) is
        required on the first call (unless the model was fitted before); later
        batches may lack classes, but labels outside ``classes_`` raise
        ``ValueError``.  No early stopping.  The first call initialises the
        network from ``seed`` as ``fit`` does, and the shuffles go on from call
        to call, so ``k`` calls on the same data give ``fit`` with
        ``epochs=k`` (any optimizer: its state is kept between calls).
        """
        return self._fit_labels(X, y, classes, incremental=True)

    def _fit_labels(self, X, y, classes, *, incremental):
        X, y, xp = check_X_y(X, y, y_numeric=False, check_finite=True)  # Dask: checked chunk by chunk
        if not self._continues(incremental):
            if incremental and classes is None:
                raise ValueError("classes must be given on the first call to partial_fit "
                                 "(all the labels y will ever hold)")
            if classes is None:
                classes, Y = encode_labels(y, xp, X.dtype)
            else:
                known = _in_memory(_labels_like(classes, y))
                classes = array_namespace(known).sort(array_namespace(known).unique_values(known))
                if classes.ndim != 1 or classes.shape[0] < 2:
                    raise ValueError(f"classes must be a 1-D array of at least 2 labels; got shape "
                                     f"{tuple(classes.shape)} after removing repeats")
                Y = _one_hot(y, classes, X.dtype, "classes (given on the first call to partial_fit)")
        else:
            classes = self.classes_
            known = _in_memory(classes)
            if not incremental:  # warm_start: the same set of classes, as scikit-learn requires
                found = _in_memory(array_namespace(y).unique_values(y))
                fx = array_namespace(found)
                if found.shape != known.shape or not bool(fx.all(fx.sort(found) == known)):
                    raise ValueError(f"warm_start can only be used where `y` has the same classes as in the "
                                     f"previous call to fit. Previously got {known}, `y` has {fx.sort(found)}")
            Y = _one_hot(y, known, X.dtype, "self.classes_ (the classes of the fitted model)")
        k = Y.shape[1]
        self.classes_ = classes
        if k == 2:
            return self._fit(X, Y[:, 1:], xp, 1, "sigmoid", incremental=incremental)
        return self._fit(X, Y, xp, k, "softmax", incremental=incremental)

    def predict_proba(self, X):
        """Class probabilities, shape (n_samples, n_classes), columns in the order of ``classes_``."""
        Z, xp = self._logits(X)
        if Z.shape[1] == 1:
            return xp.concat([sigmoid(-Z, xp=xp), sigmoid(Z, xp=xp)], axis=1)
        return softmax_rows(Z, xp)

    def predict(self, X):
        """Most probable class label of each row of ``X``."""
        Z, xp = self._logits(X)
        idx = xp.astype(Z[:, 0] > 0, xp.int32) if Z.shape[1] == 1 else xp.argmax(Z, axis=1)
        return xp.take(self.classes_, idx, axis=0)


class MLPRegressor(RegressorMixin, _BaseMLP):
    __doc__ = r"""Multi-layer perceptron regressor: identity output and mean squared error.
""" + _DOC_PARAMS.replace("{extra_attributes}", "")

    def __init__(self, *, hidden_layer_sizes=(64,), activation="relu", optimizer=None, epochs=200, batch_size=32,
                 seed=None, alpha=0.0, shuffle=True, early_stopping=False, validation_fraction=0.1,
                 n_iter_no_change=10, tol=1e-4, verbose=False, loss=None, warm_start=False):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.optimizer = optimizer
        self.epochs = epochs
        self.batch_size = batch_size
        self.seed = seed
        self.alpha = alpha
        self.shuffle = shuffle
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.verbose = verbose
        self.loss = loss
        self.warm_start = warm_start

    def fit(self, X, y):
        """Train on ``X`` (n_samples, n_features) and targets ``y`` (n_samples,) or (n_samples, n_targets)."""
        return self._fit_targets(X, y, incremental=False)

    def partial_fit(self, X, y):
        """One epoch over ``X``, ``y``, continuing the fitted network and its optimizer state.

        As in scikit-learn (no early stopping).  The first call initialises
        the network from ``seed`` as ``fit`` does, and the shuffles go on from
        call to call, so ``k`` calls on the same data give ``fit`` with
        ``epochs=k`` (any optimizer: its state is kept between calls).
        """
        return self._fit_targets(X, y, incremental=True)

    def _fit_targets(self, X, y, *, incremental):
        X, y, xp = check_X_y(X, y, multi_output=True, check_finite=True)  # Dask: checked chunk by chunk
        squeeze = y.ndim == 1
        Y = y[:, None] if squeeze else y
        self._fit(X, Y, xp, Y.shape[1], "identity", incremental=incremental)
        self._squeeze = squeeze
        return self

    def predict(self, X):
        """Predictions, shape (n_samples,) or (n_samples, n_targets) like the training ``y``."""
        Z, xp = self._logits(X)
        return Z[:, 0] if self._squeeze else Z
