r"""Scaled dot-product attention and multi-head attention (heads vectorised)."""

from __future__ import annotations

import math

from .. import _numerics as _n
from .._xp import array_namespace, as_float, check_ndim, float_dtype
from ._common import broadcast_shapes

__all__ = ["scaled_dot_product_attention", "multi_head_attention"]


def _check_mask(mask, *, xp):
    if mask is None:
        return
    if not xp.isdtype(mask.dtype, "bool"):
        raise TypeError(f"mask must be a boolean array (True = keep); got dtype {mask.dtype}")
    if mask.ndim < 2:
        raise ValueError(f"mask must be broadcastable to (..., n_q, n_k), at least 2-D; got shape {tuple(mask.shape)}")


def _attention(Q, K, V, mask, *, xp):
    scale = 1.0 / math.sqrt(Q.shape[-1])
    logits = xp.matmul(Q, xp.matrix_transpose(K)) * scale
    weights = _n.softmax(logits, axis=-1, where=mask, xp=xp)  # fully masked rows: all 0, never NaN
    return xp.matmul(weights, V), weights


def scaled_dot_product_attention(Q, K, V, mask=None):
    r"""Scaled dot-product attention (Vaswani et al., 2017).

    .. math::
        \operatorname{Attention}(Q, K, V) = \operatorname{softmax}\!\left(\frac{Q K^\top}{\sqrt{d_k}}\right) V

    The softmax runs over the keys (last axis) with the max-shift, so it
    never overflows.  Leading axes are batch axes and broadcast as in
    ``matmul``.

    Parameters
    ----------
    Q : array of shape (..., n_q, d_k)
    K : array of shape (..., n_k, d_k)
    V : array of shape (..., n_k, d_v)
    mask : boolean array broadcastable to (..., n_q, n_k), optional
        ``True`` = the query may attend to that key (the convention of a
        boolean ``attn_mask`` in ``torch.nn.functional.scaled_dot_product_attention``
        and of ``jax.nn.dot_product_attention``).  Masked logits are set to
        :math:`-\infty` before the softmax, so masked keys get weight exactly 0.
        A query whose keys are **all** masked gets all-zero weights and a zero
        output row (never NaN; PyTorch 2.5+ does the same).

    Returns
    -------
    out : array of shape (..., n_q, d_v)
    weights : array of shape (..., n_q, n_k)
        The attention probabilities; each row sums to 1 (0 for fully masked rows).

    Raises
    ------
    ValueError
        If an input is less than 2-D, the feature or key axes disagree, or the
        batch axes (or the mask) do not broadcast.
    TypeError
        If ``mask`` is not boolean.
    """
    xp = array_namespace(Q, K, V, mask)
    dtype = float_dtype(xp, Q, K, V)
    Q, K, V = (as_float(t, xp, dtype) for t in (Q, K, V))
    for t, n in ((Q, "Q"), (K, "K"), (V, "V")):
        if t.ndim < 2:
            raise ValueError(f"{n} must be at least 2-D (..., n, d); got shape {tuple(t.shape)}")
    if Q.shape[-1] != K.shape[-1]:
        raise ValueError(f"Q and K must share the feature axis d_k: Q.shape={tuple(Q.shape)}, K.shape={tuple(K.shape)}")
    if K.shape[-2] != V.shape[-2]:
        raise ValueError(f"K and V must have the same number of keys n_k: K.shape={tuple(K.shape)}, V.shape={tuple(V.shape)}")
    batch = broadcast_shapes([tuple(Q.shape)[:-2], tuple(K.shape)[:-2], tuple(V.shape)[:-2]], ["Q", "K", "V"])
    _check_mask(mask, xp=xp)
    if mask is not None:
        broadcast_shapes([batch + (Q.shape[-2], K.shape[-2]), tuple(mask.shape)], ["logits (..., n_q, n_k)", "mask"])
    return _attention(Q, K, V, mask, xp=xp)


def multi_head_attention(Q, K, V, W_Q, W_K, W_V, W_O, num_heads, mask=None):
    r"""Multi-head attention with per-head projections, all heads computed at once.

    .. math::
        \operatorname{head}_i = \operatorname{Attention}(Q W^Q_i, K W^K_i, V W^V_i),\qquad
        \operatorname{MHA}(Q, K, V) = \operatorname{concat}(\operatorname{head}_1, \dots,
        \operatorname{head}_h)\, W^O

    The heads are a batch axis: each projection is one broadcast ``matmul``
    of ``(..., 1, n, d_model)`` with ``(h, d_model, d_head)``, attention runs
    over ``(..., h, n_q, n_k)``, and one transpose + reshape concatenates the
    heads in order before ``W_O``.  No Python loop over heads.

    Parameters
    ----------
    Q : array of shape (..., n_q, d_model)
    K : array of shape (..., n_k, d_model_k)
    V : array of shape (..., n_k, d_model_v)
    W_Q : array of shape (num_heads, d_model, d_head)
    W_K : array of shape (num_heads, d_model_k, d_head)
    W_V : array of shape (num_heads, d_model_v, d_head_v)
    W_O : array of shape (num_heads * d_head_v, d_out)
        Usually ``d_model_k = d_model_v = d_out = d_model`` and ``d_head_v = d_head``.
    num_heads : int
        Must equal ``W_Q.shape[0]`` (checked).
    mask : boolean array broadcastable to (..., n_q, n_k), optional
        True = keep; shared by all heads (see :func:`scaled_dot_product_attention`
        for fully masked rows).

    Returns
    -------
    out : array of shape (..., n_q, d_out)
    weights : array of shape (..., num_heads, n_q, n_k)
        Per-head attention probabilities.

    Raises
    ------
    ValueError
        If the weights' shapes disagree with each other, with ``num_heads`` or
        with the inputs.
    """
    xp = array_namespace(Q, K, V, W_Q, W_K, W_V, W_O, mask)
    dtype = float_dtype(xp, Q, K, V, W_Q, W_K, W_V, W_O)
    Q, K, V, W_Q, W_K, W_V, W_O = (as_float(t, xp, dtype) for t in (Q, K, V, W_Q, W_K, W_V, W_O))
    if isinstance(num_heads, bool) or not isinstance(num_heads, int) or num_heads < 1:
        raise ValueError(f"num_heads must be a positive integer; got num_heads={num_heads!r}")
    for w, n in ((W_Q, "W_Q"), (W_K, "W_K"), (W_V, "W_V")):
        check_ndim(w, n, 3)
        if w.shape[0] != num_heads:
            raise ValueError(f"{n} must have shape (num_heads={num_heads}, d_in, d_head); got {n}.shape={tuple(w.shape)}")
    check_ndim(W_O, "W_O", 2)
    if W_Q.shape[2] != W_K.shape[2]:
        raise ValueError(f"W_Q and W_K must share d_head: W_Q.shape={tuple(W_Q.shape)}, W_K.shape={tuple(W_K.shape)}")
    if W_O.shape[0] != num_heads * W_V.shape[2]:
        raise ValueError(f"W_O must have shape (num_heads * d_head_v = {num_heads * W_V.shape[2]}, d_out); "
                         f"got W_O.shape={tuple(W_O.shape)}")
    for t, w, n, wn in ((Q, W_Q, "Q", "W_Q"), (K, W_K, "K", "W_K"), (V, W_V, "V", "W_V")):
        if t.ndim < 2:
            raise ValueError(f"{n} must be at least 2-D (..., n, d_model); got shape {tuple(t.shape)}")
        if t.shape[-1] != w.shape[1]:
            raise ValueError(f"{n}.shape[-1]={t.shape[-1]} must equal {wn}.shape[1]={w.shape[1]}")
    if K.shape[-2] != V.shape[-2]:
        raise ValueError(f"K and V must have the same number of keys n_k: K.shape={tuple(K.shape)}, V.shape={tuple(V.shape)}")
    batch = broadcast_shapes([tuple(Q.shape)[:-2], tuple(K.shape)[:-2], tuple(V.shape)[:-2]], ["Q", "K", "V"])
    _check_mask(mask, xp=xp)
    if mask is not None:
        broadcast_shapes([batch + (Q.shape[-2], K.shape[-2]), tuple(mask.shape)], ["logits (..., n_q, n_k)", "mask"])
        mask = xp.expand_dims(mask, axis=-3)  # shared by every head

    # (..., 1, n, d_model) @ (h, d_model, d_head) -> (..., h, n, d_head)
    q = xp.matmul(xp.expand_dims(Q, axis=-3), W_Q)
    k = xp.matmul(xp.expand_dims(K, axis=-3), W_K)
    v = xp.matmul(xp.expand_dims(V, axis=-3), W_V)
    heads, weights = _attention(q, k, v, mask, xp=xp)  # (..., h, n_q, d_head_v), (..., h, n_q, n_k)
    nd = heads.ndim
    axes = tuple(range(nd - 3)) + (nd - 2, nd - 3, nd - 1)
    heads = xp.permute_dims(heads, axes)  # (..., n_q, h, d_head_v)
    concat = xp.reshape(heads, tuple(heads.shape[:-2]) + (W_O.shape[0],))
    return xp.matmul(concat, W_O), weights
