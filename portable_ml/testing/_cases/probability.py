"""Registry cases for ``portable_ml.probability``."""

import numpy as np

from ... import probability as pr
from ..registry import Case, binary, labels, normal, positive, simplex, spd, unit


def _joint(rng, k1, k2):
    p = rng.uniform(0.1, 1.0, size=(k1, k2))
    return p / p.sum()


CASES = [
    Case("probability.gaussian_pdf", pr.gaussian_pdf,
         lambda r: (normal(r, 6), normal(r, 6, scale=0.5), positive(r, 6)), grad_argnums=(0, 1, 2)),
    Case("probability.gaussian_logpdf", pr.gaussian_logpdf,
         lambda r: (normal(r, 6), normal(r, 6, scale=0.5), positive(r, 6)), grad_argnums=(0, 1, 2)),
    Case("probability.mvn_pdf", pr.mvn_pdf, lambda r: (normal(r, 5, 3), normal(r, 3), spd(r, 3)),
         grad_argnums=(0, 1, 2)),
    Case("probability.mvn_logpdf", pr.mvn_logpdf, lambda r: (normal(r, 5, 3), normal(r, 3), spd(r, 3)),
         grad_argnums=(0, 1, 2)),
    Case("probability.gaussian_mle", pr.gaussian_mle, lambda r: (normal(r, 7, 3),), grad_argnums=(0,)),
    Case("probability.entropy", pr.entropy, lambda r: (simplex(r, 4, 5),), kwargs={"base": 2},
         grad_argnums=(0,)),
    Case("probability.cross_entropy", pr.cross_entropy, lambda r: (simplex(r, 4, 5), simplex(r, 4, 5)),
         grad_argnums=(0, 1)),
    Case("probability.kl_divergence", pr.kl_divergence, lambda r: (simplex(r, 4, 5), simplex(r, 4, 5)),
         grad_argnums=(0, 1)),
    Case("probability.js_divergence", pr.js_divergence, lambda r: (simplex(r, 4, 5), simplex(r, 4, 5)),
         grad_argnums=(0, 1)),
    Case("probability.mutual_information", pr.mutual_information, lambda r: (_joint(r, 3, 4),),
         grad_argnums=(0,)),
    Case("probability.perplexity", pr.perplexity, lambda r: (np.log(unit(r, 8)),), grad_argnums=(0,)),
    Case("probability.bernoulli_logpmf", pr.bernoulli_logpmf, lambda r: (binary(r, 6), unit(r, 6)),
         grad_argnums=(1,)),
    Case("probability.categorical_logpmf", pr.categorical_logpmf,
         lambda r: (labels(r, 6, 4), simplex(r, 6, 4)), grad_argnums=(1,)),
]
