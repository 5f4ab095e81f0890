"""Cases for the shared numerical helpers of the ground layer."""

from ... import _numerics as _n
from ..registry import Case, normal, unit


def _xp_of(fn):
    """Call ``fn`` as the public formulas do: ``xp`` found once, the arrays promoted to their
    common floating dtype, two arrays checked for the same shape (the helpers' contract: floating
    arrays of one namespace and shape)."""
    from ..._xp import array_namespace, as_float, check_same_shape, float_dtype

    def wrapped(x, *rest, **kw):
        xp = array_namespace(x, *rest)
        if rest:
            check_same_shape(x, rest[0], "x", "y")
        dtype = float_dtype(xp, x, *rest)
        return fn(*(as_float(a, xp, dtype) for a in (x, *rest)), xp=xp, **kw)

    wrapped.__name__ = fn.__name__
    return wrapped


CASES = [
    Case("_numerics.logsumexp", _xp_of(_n.logsumexp), lambda r: (normal(r, 4, 5, scale=3.0),),
         kwargs={"axis": -1}, grad_argnums=(0,)),
    Case("_numerics.softplus", _xp_of(_n.softplus), lambda r: (normal(r, 7, scale=5.0),), grad_argnums=(0,)),
    Case("_numerics.log_sigmoid", _xp_of(_n.log_sigmoid), lambda r: (normal(r, 7, scale=5.0),),
         grad_argnums=(0,)),
    Case("_numerics.sigmoid", _xp_of(_n.sigmoid), lambda r: (normal(r, 7, scale=5.0),), grad_argnums=(0,)),
    Case("_numerics.xlogy", _xp_of(_n.xlogy), lambda r: (unit(r, 6), unit(r, 6)), grad_argnums=(1,)),
    Case("_numerics.softmax", _xp_of(_n.softmax), lambda r: (normal(r, 4, 5, scale=3.0),),
         kwargs={"axis": 0}, grad_argnums=(0,)),
    Case("_numerics.log_softmax", _xp_of(_n.log_softmax), lambda r: (normal(r, 4, 5, scale=3.0),),
         grad_argnums=(0,)),
    Case("_numerics.erf", _xp_of(_n.erf), lambda r: (normal(r, 9, scale=3.0),), grad_argnums=(0,)),
    Case("_numerics.erfc", _xp_of(_n.erfc), lambda r: (normal(r, 9, scale=3.0),), grad_argnums=(0,)),
]
