"""The 0-d rule: every formula's result is an array of its input's backend.

A reduction gives a 0-d array, never a Python or NumPy scalar (NumPy's own
reductions return ``np.float64``; the ground helper ``as_array0d`` turns it
back into an array).  Driven by the registry, on every backend.
"""

import numpy as np
import pytest

from portable_ml.backend import backend_of
from portable_ml.testing.registry import cases, inputs
from portable_ml.tree import tree_leaves

from .helpers import place_all

# The composition layer (estimators' internal step functions) is not a formula:
# its states hold whatever its solver needs.
FORMULAS = [c for c in cases() if c.family != "models"]


@pytest.mark.parametrize("case", FORMULAS, ids=[c.name for c in FORMULAS])
def test_results_are_arrays_of_the_backend(case, backend):
    args = place_all(backend, *inputs(case))
    array_type = type(backend.asarray(np.zeros(2)))
    out = case.fn(*args, **case.kwargs)
    leaves = [x for x in tree_leaves(out) if backend_of(x) is not None]
    assert leaves, f"{case.name} returned no array"
    for leaf in leaves:
        assert hasattr(leaf, "shape"), f"{case.name}: {type(leaf).__name__} has no shape"
        assert isinstance(leaf, array_type), (
            f"{case.name} returned a {type(leaf).__module__}.{type(leaf).__name__} of shape "
            f"{tuple(leaf.shape)}, not a {array_type.__name__}"
        )


def test_numpy_reductions_are_0d_arrays():
    """The reproduction of the README's promise: a loss on NumPy is a 0-d ndarray, not np.float64."""
    from portable_ml import losses, metrics

    y = np.array([0.0, 1.0, 1.0, 0.0])
    z = np.array([-2.0, 3.0, 0.5, 1e4])
    for out in (losses.binary_cross_entropy_with_logits(y, z), metrics.roc_auc(y, z), losses.rmse(y, z),
                losses.mse(y, z, reduction="sum")):
        assert type(out) is np.ndarray and out.shape == ()
