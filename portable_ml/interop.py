r"""Adapters between :mod:`portable_ml.optimizers` and `optax <https://optax.readthedocs.io>`_.

Both libraries describe an optimizer the same way: a pair of pure functions

.. code-block:: text

    state = init(params)
    updates, state = update(updates, state, params=None)

with immutable, pytree-shaped states.  So the adapters are thin: they only
change the type that carries the pair, so that each library's combinators
(``optax.chain``, ``optax.MultiSteps``, ``pml.optimizers.chain``) accept the
other's transformations.

>>> import optax                                            # doctest: +SKIP
>>> from portable_ml import optimizers as optim
>>> from portable_ml.interop import to_optax, from_optax
>>> tx = optax.chain(optax.clip_by_global_norm(1.0), to_optax(optim.adam(1e-3)))  # doctest: +SKIP
>>> opt = optim.chain(from_optax(optax.clip(0.5)), optim.sgd(0.1))                 # doctest: +SKIP

Our transformations work on every backend; optax's compute with
``jax.numpy``, so a chain that contains an optax transformation needs JAX
arrays (their results are JAX arrays).  Neither JAX nor optax is imported
until :func:`to_optax` is called.
"""

from __future__ import annotations

from .optimizers import GradientTransformation

__all__ = ["to_optax", "from_optax"]


def _check_transform(t, name):
    if not (callable(getattr(t, "init", None)) and callable(getattr(t, "update", None))):
        raise TypeError(f"{name} must be a gradient transformation with callable init and update; "
                        f"got {type(t).__name__}")


def to_optax(transform):
    r"""A :mod:`portable_ml.optimizers` transformation as an ``optax.GradientTransformation``.

    The numbers are unchanged: ``init`` and ``update`` are our own functions;
    only the container type is optax's, so the result composes with optax's
    combinators (``optax.chain``, ``optax.apply_if_finite``,
    ``optax.MultiSteps``, ...) and runs under ``jax.jit``.

    Parameters
    ----------
    transform : portable_ml.optimizers.GradientTransformation
        E.g. ``pml.optimizers.adam(1e-3)``.

    Returns
    -------
    optax.GradientTransformation

    Raises
    ------
    TypeError
        If ``transform`` lacks callable ``init``/``update``.
    ModuleNotFoundError
        If optax is not installed.
    """
    _check_transform(transform, "transform")
    import optax

    def update(updates, state, params=None):
        return transform.update(updates, state, params)

    return optax.GradientTransformation(transform.init, update)


def from_optax(transform):
    r"""An optax transformation as a :class:`portable_ml.optimizers.GradientTransformation`.

    So ``pml.optimizers.chain(from_optax(optax.adam(1e-3)), ...)`` and our
    :class:`~portable_ml.optimizers.Optimizer` wrapper accept it.  Extra
    keyword arguments of optax's ``GradientTransformationExtraArgs`` are
    passed through.

    Parameters
    ----------
    transform : optax.GradientTransformation
        Any object with optax's ``init(params)`` and
        ``update(updates, state, params=None)``.

    Returns
    -------
    portable_ml.optimizers.GradientTransformation

    Notes
    -----
    optax computes with ``jax.numpy``: parameters and gradients should be
    JAX arrays (other arrays are converted by JAX, and the updates come back
    as JAX arrays).
    """
    _check_transform(transform, "transform")

    def update(updates, state, params=None, **extra_args):
        return transform.update(updates, state, params, **extra_args)

    return GradientTransformation(transform.init, update)
