"""Neural-network blocks: initialisers, dense layers, attention and an MLP.

This is a composition layer: it creates parameters through
:mod:`portable_ml.random` and composes the formulas of
:mod:`portable_ml.activations` and :mod:`portable_ml.losses`.  Every block
follows the namespace and device of its inputs.
"""

from .attention import multi_head_attention, scaled_dot_product_attention
from .init import (
    he_normal,
    he_uniform,
    lecun_normal,
    orthogonal,
    small_random,
    xavier_normal,
    xavier_uniform,
    zeros,
)
from .layers import dense_backward, dense_forward
from .mlp import MLP

__all__ = [
    "zeros",
    "small_random",
    "xavier_uniform",
    "xavier_normal",
    "he_normal",
    "he_uniform",
    "lecun_normal",
    "orthogonal",
    "dense_forward",
    "dense_backward",
    "scaled_dot_product_attention",
    "multi_head_attention",
    "MLP",
]
