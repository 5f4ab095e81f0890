"""Cases for the models' pure numeric cores (``portable_ml.models``).

Estimators themselves are eager (``fit`` reads the classes and a convergence
flag); what must be jit-able, differentiable and batchable is their core: the
closed-form solves, objectives, gradients and one solver step.  Solver states
(NamedTuples) are passed as flat positional arrays so that the registry
places, casts and batches them like any other input.
"""

import numpy as np

from ... import models as m
from ..registry import Case, normal, one_hot, positive



def _design(r, n=12, d=3):
    X = normal(r, n, d)
    return X, X @ normal(r, d) + 0.1 * normal(r, n)


def _gram_args(r):
    X, y = _design(r)
    n = X.shape[0]
    G, c = X.T @ X / n, (X.T @ y / n)[:, None]
    return G, c, np.array(1.05 * np.linalg.eigvalsh(G).max())


def _enet_step(w, z, t, gram, xty, lipschitz, *, alpha, l1_ratio, positive=False):
    return m.elastic_net_step(m.FistaState(w, z, t), gram, xty, lipschitz, alpha=alpha, l1_ratio=l1_ratio,
                              positive=positive)


def _enet_step_args(r):
    G, c, L = _gram_args(r)
    w = 0.3 * normal(r, 3, 1)
    return w, w + 0.05 * normal(r, 3, 1), np.array([1.7]), G, c, L


def _gap_args(r):
    G, c, _ = _gram_args(r)
    return 0.5 * normal(r, 3, 1), G, c, np.array([1.3])


def _binary(r, n=16, d=3):
    X = normal(r, n, d)
    y = (X @ normal(r, d) + normal(r, n) > 0).astype(np.float64)
    y[:2] = [0.0, 1.0]
    return X, y


def _logistic_args(r):
    X, y = _binary(r)
    return 0.3 * normal(r, 4), X, y, 0.1


def _softmax_args(r):
    X = normal(r, 18, 3)
    return 0.3 * normal(r, 4, 3), X, one_hot(r, 18, 3), 0.1


def _gd_args(args):
    def make(r):
        theta, X, y, alpha = args(r)
        Xa = np.concatenate([X, np.ones((X.shape[0], 1))], axis=1)
        return theta, X, y, alpha, np.array(np.linalg.eigvalsh(Xa.T @ Xa / X.shape[0]).max() / 4 + alpha)
    return make


def _lbfgs_two_steps(theta, X, y, alpha, *, multinomial):
    state = m.lbfgs_init_state(theta, X, y, alpha, multinomial=multinomial, memory=2)
    state = m.lbfgs_step(state, X, y, alpha, multinomial=multinomial)
    return m.lbfgs_step(state, X, y, alpha, multinomial=multinomial)


def _blobs(r, n_per=6, k=3, d=2):
    centres = 6.0 * normal(r, k, d)
    X = np.concatenate([c + 0.5 * normal(r, n_per, d) for c in centres])
    return X, centres + 0.3 * normal(r, k, d)


def _classes(r, n=24, d=3, k=3):
    Y = one_hot(r, n, k)
    X = Y @ (2.0 * normal(r, k, d)) + normal(r, n, d)
    return X, Y


def _lda_args(r):
    X, Y = _classes(r)
    return X, Y, Y.mean(axis=0)


def _nb_jll_args(r):
    X, Y = _classes(r)
    theta = (Y.T @ X) / Y.sum(0)[:, None]
    return X, theta, positive(r, 3, 3, low=0.5, high=2.0), np.log(Y.mean(axis=0)), X.mean(axis=0)


_NET = {}


def _mlp_step(W1, b1, W2, b2, X, Y, *, alpha):
    """Two steps of SGD with momentum on a fixed softmax network (the second uses the momentum)."""
    from ... import optimizers
    from ...nn import MLP

    net = _NET.setdefault("net", MLP([3, 4, 3], activation="tanh", output="softmax"))
    opt = _NET.setdefault("opt", optimizers.sgd(0.1, momentum=0.9))
    params = [{"W": W1, "b": b1}, {"W": W2, "b": b2}]
    state = opt.init(params)
    params, state, _ = m.mlp_train_step(params, state, X, Y, net=net, optimizer=opt, alpha=alpha)
    return m.mlp_train_step(params, state, X, Y, net=net, optimizer=opt, alpha=alpha)


def _mlp_args(r):
    X, Y = _classes(r, n=10)
    return (normal(r, 3, 4, scale=0.5), normal(r, 4, scale=0.1), normal(r, 4, 3, scale=0.5),
            normal(r, 3, scale=0.1), X, Y)


def _svc_args(r, n=16, d=3):
    X = normal(r, n, d)
    y = np.where(X @ normal(r, d) + normal(r, n) > 0, 1.0, -1.0)
    y[:2] = [-1.0, 1.0]
    return 0.3 * normal(r, d + 1), X, y, 0.1


def _svc_weighted_args(r):
    theta, X, y, alpha = _svc_args(r)
    return theta, X, y, alpha, positive(r, X.shape[0])


def _svc_weighted(fn):
    def call(theta, X, y, alpha, sw, **kw):
        return fn(theta, X, y, alpha, sample_weight=sw, **kw)
    call.__name__ = fn.__name__
    return call


CASES = [
    Case("models.lstsq_solve", m.lstsq_solve, lambda r: _design(r), grad_argnums=(0, 1)),
    Case("models.normal_equations_solve", m.normal_equations_solve, lambda r: _design(r), grad_argnums=(0, 1)),
    Case("models.ridge_solve", m.ridge_solve, lambda r: (*_design(r), 0.7), grad_argnums=(0, 1)),
    Case("models.least_squares_gd_step", m.least_squares_gd_step,
         lambda r: (normal(r, 3, 1), *_gram_args(r)), grad_argnums=(0, 1, 2)),
    Case("models.elastic_net_step", _enet_step, _enet_step_args, kwargs={"alpha": 0.05, "l1_ratio": 0.5},
         grad_argnums=(3, 4), tol="reduction"),
    Case("models.elastic_net_duality_gap", m.elastic_net_duality_gap, _gap_args,
         kwargs={"alpha": 0.05, "l1_ratio": 0.7}, grad_argnums=(0, 1, 2), tol="reduction"),
    Case("models.elastic_net_step[positive]", _enet_step, _enet_step_args,
         kwargs={"alpha": 0.05, "l1_ratio": 0.5, "positive": True}, grad_argnums=(3, 4), tol="reduction"),
    Case("models.elastic_net_duality_gap[positive]", m.elastic_net_duality_gap, _gap_args,
         kwargs={"alpha": 0.05, "l1_ratio": 0.7, "positive": True}, grad_argnums=(0, 1, 2), tol="reduction"),
    Case("models.logistic_objective", m.logistic_objective, _logistic_args, grad_argnums=(0, 1)),
    Case("models.logistic_grad", m.logistic_grad, _logistic_args, grad_argnums=(0, 1)),
    Case("models.logistic_newton_step", m.logistic_newton_step, _logistic_args, grad_argnums=(0,), tol="reduction"),
    Case("models.logistic_gd_step", m.logistic_gd_step, _gd_args(_logistic_args), grad_argnums=(0, 1)),
    Case("models.softmax_objective", m.softmax_objective, _softmax_args, grad_argnums=(0, 1)),
    Case("models.softmax_grad", m.softmax_grad, _softmax_args, grad_argnums=(0, 1)),
    Case("models.softmax_newton_step", m.softmax_newton_step, _softmax_args, grad_argnums=(0,), tol="reduction"),
    Case("models.softmax_gd_step", m.softmax_gd_step, _gd_args(_softmax_args), grad_argnums=(0, 1)),
    Case("models.lbfgs_init_state", m.lbfgs_init_state, _logistic_args, kwargs={"memory": 3},
         grad_argnums=(0, 1)),
    # lbfgs_init_state, then two steps (the second uses the curvature memory)
    Case("models.lbfgs_step", _lbfgs_two_steps, _softmax_args, kwargs={"multinomial": True}, tol="reduction"),
    Case("models.linear_svc_objective", m.linear_svc_objective, _svc_args, grad_argnums=(0, 1)),
    Case("models.linear_svc_objective[hinge]", m.linear_svc_objective, _svc_args, kwargs={"loss": "hinge"},
         grad_argnums=(0, 1)),
    Case("models.linear_svc_objective[weighted]", _svc_weighted(m.linear_svc_objective), _svc_weighted_args,
         grad_argnums=(0, 1, 4)),
    Case("models.linear_svc_grad", m.linear_svc_grad, _svc_args, grad_argnums=(1,)),
    Case("models.linear_svc_grad[hinge]", m.linear_svc_grad, _svc_args, kwargs={"loss": "hinge"}),
    Case("models.linear_svc_grad[weighted]", _svc_weighted(m.linear_svc_grad), _svc_weighted_args,
         grad_argnums=(1, 4)),
    Case("models.linear_svc_newton_step", m.linear_svc_newton_step, _svc_args, grad_argnums=(0,), tol="reduction"),
    Case("models.linear_svc_newton_step[hinge]", m.linear_svc_newton_step, _svc_args,
         kwargs={"loss": "hinge", "smoothing": 0.5}, tol="reduction"),
    Case("models.lloyd_step", m.lloyd_step, _blobs, grad_argnums=(0,)),
    Case("models.pca_fit", m.pca_fit, lambda r: (normal(r, 10, 4) @ np.diag([3.0, 2.0, 1.0, 0.5]),),
         grad_argnums=(0,), tol="reduction"),
    Case("models.lda_fit", m.lda_fit, _lda_args, grad_argnums=(0,), tol="reduction"),
    Case("models.mlp_train_step", _mlp_step, _mlp_args, kwargs={"alpha": 0.01}, grad_argnums=(0, 4), tol="reduction"),
    Case("models.gaussian_nb_fit", m.gaussian_nb_fit, lambda r: _classes(r), grad_argnums=(0,)),
    Case("models.gaussian_nb_fit[weighted]", m.gaussian_nb_fit, lambda r: (*_classes(r), positive(r, 24)),
         grad_argnums=(0, 2)),
    Case("models.gaussian_nb_joint_log_likelihood", m.gaussian_nb_joint_log_likelihood, _nb_jll_args,
         grad_argnums=(0, 1, 2), tol="reduction"),
]
