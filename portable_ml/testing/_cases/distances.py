"""Registry cases for ``portable_ml.distances``."""

import numpy as np

from ... import distances as d
from ..registry import Case, Reference, normal, positive, spd


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


# --------------------------------------- SciPy's other vector distances, weighted Minkowski, pairwise by name
def _rowwise(name, third=None):
    """SciPy's ``scipy.spatial.distance.<name>`` applied row by row (2-D) or once (1-D); a third
    positional array is passed as SciPy's keyword ``third`` where given."""
    def ref(a, b, *extra, **kw):
        import scipy.spatial.distance as ssd

        f = getattr(ssd, name)
        if third is not None:
            kw, extra = {**kw, third: extra[0]}, ()
        if a.ndim == 1:
            return np.float64(f(a, b, *extra, **kw))
        return np.array([f(u, v, *extra, **kw) for u, v in zip(a, b)])
    return Reference(ref, f"scipy.spatial.distance.{name}", needs=("scipy.spatial.distance",))


def _pairwise_ref(A, B=None, *, metric="euclidean", **kw):
    from sklearn.metrics import pairwise_distances

    return pairwise_distances(A, B, metric=metric, **kw)


def _nonneg_pair(rng, *shape):
    return positive(rng, *shape), positive(rng, *shape)


_SKLEARN_PAIRWISE = Reference(_pairwise_ref, "sklearn.metrics.pairwise_distances", needs=("sklearn.metrics",))

CASES += [
    Case("distances.chebyshev", d.chebyshev, lambda r: _pair(r, 4, 6), grad_argnums=(0, 1),
         reference=_rowwise("chebyshev")),
    Case("distances.canberra", d.canberra, lambda r: _pair(r, 4, 6), grad_argnums=(0, 1),
         reference=_rowwise("canberra")),
    Case("distances.braycurtis", d.braycurtis, lambda r: _nonneg_pair(r, 4, 6), grad_argnums=(0, 1),
         reference=_rowwise("braycurtis")),
    Case("distances.correlation", d.correlation, lambda r: _pair(r, 4, 6), grad_argnums=(0, 1),
         reference=_rowwise("correlation")),
    Case("distances.seuclidean", d.seuclidean, lambda r: (*_pair(r, 4, 6), positive(r, 6)),
         grad_argnums=(0, 1, 2), reference=_rowwise("seuclidean")),
    Case("distances.minkowski[weighted]", d.minkowski, lambda r: (*_pair(r, 4, 6), positive(r, 6)),
         kwargs={"p": 3}, sweep=({"p": 1}, {"p": 2}, {"p": 0.5}), grad_argnums=(0, 1, 2),
         reference=_rowwise("minkowski", third="w")),
    Case("distances.jensenshannon", d.jensenshannon, lambda r: _nonneg_pair(r, 4, 6), grad_argnums=(0, 1),
         sweep=({"base": 2.0},), reference=_rowwise("jensenshannon"),
         extremes=lambda: (np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0]]), np.array([[0.0, 0.0, 1.0], [0.5, 0.5, 0.0]]))),
    Case("distances.pairwise_distances", d.pairwise_distances, lambda r: (normal(r, 5, 3), normal(r, 4, 3)),
         kwargs={"metric": "canberra"}, grad_argnums=(0, 1), reference=_SKLEARN_PAIRWISE,
         sweep=tuple({"metric": m} for m in ("euclidean", "sqeuclidean", "manhattan", "cosine", "correlation",
                                              "chebyshev", "braycurtis", "hamming", "minkowski"))
         + ({"metric": "minkowski", "p": 3},)),
    # B=None: the diagonal is exactly 0 (every metric), the GEMM forms' defaults of V and VI are scikit-learn's
    Case("distances.pairwise_distances[self]", d.pairwise_distances, lambda r: (normal(r, 6, 3),),
         kwargs={"metric": "correlation"}, grad_argnums=(0,), reference=_SKLEARN_PAIRWISE,
         sweep=tuple({"metric": m} for m in ("seuclidean", "mahalanobis", "cosine", "chebyshev", "canberra"))),
]
