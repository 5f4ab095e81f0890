"""Registry cases for ``portable_ml.distances``."""

import numpy as np

from ... import distances as d
from ..registry import Case, normal, spd


def _pair(rng, *shape):
    return normal(rng, *shape), normal(rng, *shape)


def _codes(rng, *shape):
    """Small integer codes as floats, so that some entries agree."""
    return rng.integers(0, 3, size=shape).astype(np.float64)


CASES = [
    Case("distances.euclidean", d.euclidean, lambda r: _pair(r, 6), grad_argnums=(0, 1)),
    Case("distances.manhattan", d.manhattan, lambda r: _pair(r, 6), grad_argnums=(0, 1)),
    Case("distances.minkowski", d.minkowski, lambda r: _pair(r, 6), kwargs={"p": 3},
         grad_argnums=(0, 1)),
    Case("distances.mahalanobis", d.mahalanobis, lambda r: (*_pair(r, 4), spd(r, 4)),
         grad_argnums=(0, 1, 2)),
    Case("distances.hamming", d.hamming, lambda r: (_codes(r, 8), _codes(r, 8))),
    Case("distances.cosine_similarity", d.cosine_similarity, lambda r: _pair(r, 6),
         grad_argnums=(0, 1)),
    Case("distances.cosine_distance", d.cosine_distance, lambda r: _pair(r, 6), grad_argnums=(0, 1)),
    Case("distances.pairwise_euclidean", d.pairwise_euclidean,
         lambda r: (normal(r, 5, 3), normal(r, 4, 3)), grad_argnums=(0, 1)),
    # B=None: the diagonal is exactly 0 and its gradient must still be finite.
    Case("distances.pairwise_euclidean[self]", d.pairwise_euclidean, lambda r: (normal(r, 5, 3),),
         grad_argnums=(0,)),
    Case("distances.pairwise_euclidean[squared]", d.pairwise_euclidean, lambda r: (normal(r, 5, 3),),
         kwargs={"squared": True}, grad_argnums=(0,)),
    Case("distances.pairwise_manhattan", d.pairwise_manhattan,
         lambda r: (normal(r, 5, 3), normal(r, 4, 3)), grad_argnums=(0, 1)),
    Case("distances.pairwise_cosine_similarity", d.pairwise_cosine_similarity,
         lambda r: (normal(r, 5, 3), normal(r, 4, 3)), grad_argnums=(0, 1)),
    Case("distances.linear_kernel", d.linear_kernel, lambda r: (normal(r, 5, 3), normal(r, 4, 3)),
         grad_argnums=(0, 1)),
    Case("distances.polynomial_kernel", d.polynomial_kernel, lambda r: (normal(r, 5, 3),),
         kwargs={"degree": 2, "gamma": 0.5, "coef0": 1.0}, grad_argnums=(0,)),
    Case("distances.rbf_kernel", d.rbf_kernel, lambda r: (normal(r, 5, 3), normal(r, 4, 3)),
         kwargs={"sigma": 1.5}, grad_argnums=(0, 1)),
    Case("distances.rbf_kernel[self]", d.rbf_kernel, lambda r: (normal(r, 5, 3),),
         grad_argnums=(0,)),
    Case("distances.sigmoid_kernel", d.sigmoid_kernel, lambda r: (normal(r, 5, 3), normal(r, 4, 3)),
         kwargs={"alpha": 0.1, "coef0": 0.2}, grad_argnums=(0, 1)),
]
