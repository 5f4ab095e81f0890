"""Registry cases for ``portable_ml.probability``."""

import numpy as np

from ... import probability as pr
from ..registry import Case, Reference, binary, labels, normal, positive, simplex, spd, unit

_STATS = ("scipy.stats",)


def _bernoulli_score(x, p):
    with np.errstate(divide="ignore"):  # the branch not taken divides by 0 at the certain outcomes
        return np.where(x == 1, 1.0 / p, -1.0 / (1.0 - p))


def _gaussian_score(x, mu, sigma, *, component):
    z = (x - mu) / sigma
    return z / sigma if component == 0 else (z * z - 1.0) / sigma


def _gaussian_grad(component):
    def fn(x, mu, sigma):
        return pr.gaussian_logpdf_grad(x, mu, sigma)[component]

    return fn


def _gaussian_grad_args(r):
    return (normal(r, 6), normal(r, 6, scale=0.5), positive(r, 6))


def _exponential_ref(x, rate):
    import scipy.stats as st

    return st.expon.logpdf(x, scale=1.0 / rate)


def _poisson_ref(k, mu):
    import scipy.stats as st

    return st.poisson.logpmf(k, mu)


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
    Case("probability.bernoulli_logpmf_grad", pr.bernoulli_logpmf_grad, lambda r: (binary(r, 6), unit(r, 6)),
         grad_argnums=(1,),
         reference=Reference(_bernoulli_score, "closed form, NumPy float64"),
         # the certain outcomes (p = 0 with x = 0, p = 1 with x = 1) and p near the ends
         extremes=lambda: (np.array([0.0, 1.0, 1.0, 0.0, 1.0, 0.0]),
                           np.array([0.0, 1.0, 2.0 ** -20, 1.0 - 2.0 ** -20, 0.5, 0.5]))),
    Case("probability.gaussian_logpdf_grad[mu]", _gaussian_grad(0), _gaussian_grad_args,
         grad_of="probability.gaussian_logpdf", wrt=1, grad_argnums=(0, 1, 2),
         reference=Reference(lambda x, mu, s: _gaussian_score(x, mu, s, component=0), "closed form, NumPy float64")),
    Case("probability.gaussian_logpdf_grad[sigma]", _gaussian_grad(1), _gaussian_grad_args,
         grad_of="probability.gaussian_logpdf", wrt=2, grad_argnums=(0, 1, 2),
         reference=Reference(lambda x, mu, s: _gaussian_score(x, mu, s, component=1), "closed form, NumPy float64")),
    Case("probability.exponential_logpdf", pr.exponential_logpdf,
         lambda r: (positive(r, 6, low=0.0, high=4.0), positive(r, 6)), grad_argnums=(0, 1),
         reference=Reference(_exponential_ref, "scipy.stats.expon.logpdf(x, scale=1/rate)", _STATS),
         extremes=lambda: (np.array([0.0, 2.0 ** -100, 1e4, 2.0 ** -14, 0.0]),
                           np.array([2.0 ** -100, 1.0, 2.0 ** -14, 1e4, 2.0 ** 100]))),
    Case("probability.poisson_logpmf", pr.poisson_logpmf, lambda r: (labels(r, 8, 12), positive(r, 8, high=10.0)),
         grad_argnums=(1,),
         reference=Reference(_poisson_ref, "scipy.stats.poisson.logpmf", _STATS),
         # mu = 0 with k = 0 (probability 1), tiny and huge means; counts near the mean stay moderate
         # (k log mu, mu and log k! cancel: float32 loses about log10(k log k) digits there)
         extremes=lambda: (np.array([0, 0, 1, 100, 3, 50]), np.array([0.0, 2.0 ** -100, 2.0 ** -100, 100.0, 1e4, 2.0 ** 20]))),
]
