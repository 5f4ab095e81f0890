"""Registry cases for ``portable_ml.preprocessing``'s functions.

``one_hot`` and ``compute_class_weight`` take integer labels only, so their
result's floating dtype cannot follow an input: the wrappers below take a
0-d floating ``like`` (cast to the dtype under test like every floating
input) and ask for, or cast to, its dtype.  The scalers are estimators
(eager ``fit``) and are tested in ``tests/test_preprocessing.py``.
"""

import numpy as np

from ... import preprocessing as pp
from ..._xp import array_namespace
from ..registry import Case, labels, normal


def _one_hot(y, like):
    return pp.one_hot(y, 4, dtype=like.dtype)


def _class_weight(y, like):
    xp = array_namespace(y, like)
    return xp.astype(pp.compute_class_weight(y, num_classes=3), like.dtype)


CASES = [
    Case("preprocessing.one_hot", _one_hot, lambda r: (labels(r, 7, 4), np.zeros(()))),
    Case("preprocessing.polynomial_features", pp.polynomial_features, lambda r: (normal(r, 6, 3),),
         kwargs={"degree": 3}, grad_argnums=(0,)),
    Case("preprocessing.polynomial_features[interaction_only]", pp.polynomial_features,
         lambda r: (normal(r, 6, 4),), kwargs={"degree": 3, "interaction_only": True, "include_bias": False},
         grad_argnums=(0,)),
    # computed in the backend's default float (float32 on torch), then cast
    Case("preprocessing.compute_class_weight", _class_weight, lambda r: (labels(r, 12, 3), np.zeros(())),
         tol="default_float"),
]
