"""Estimators with scikit-learn conventions, written once against the array API.

``fit(X, y) -> self``, ``predict``, ``predict_proba`` (classifiers), ``score``,
``transform`` (PCA); fitted attributes end in ``_`` and live on the backend and
device of ``X``.  Each model's numeric core (objective, gradient, one solver
step) is also exported as a pure function that runs under ``jax.jit``.
"""

from ._base import ConvergenceWarning, NotFittedError
from .calibration import CalibratedClassifier
from .multiclass import OneVsRestClassifier
from .cluster import KMeans, LloydResult, MiniBatchKMeans, kmeans_plusplus, lloyd_step
from .decomposition import PCA, PCAResult, pca_fit
from .discriminant import LDAResult, LinearDiscriminantAnalysis, lda_fit
from .linear import (
    ElasticNet,
    FistaState,
    Lasso,
    LinearRegression,
    Ridge,
    elastic_net_duality_gap,
    elastic_net_step,
    least_squares_gd_step,
    lstsq_solve,
    normal_equations_solve,
    ridge_solve,
)
from .logistic import (
    LbfgsState,
    LogisticRegression,
    SoftmaxRegression,
    lbfgs_init_state,
    lbfgs_step,
    logistic_gd_step,
    logistic_grad,
    logistic_newton_step,
    logistic_objective,
    softmax_gd_step,
    softmax_grad,
    softmax_newton_step,
    softmax_objective,
)
from .mlp import MLPClassifier, MLPRegressor, mlp_train_step
from .svm import LinearSVC, linear_svc_grad, linear_svc_newton_step, linear_svc_objective
from .naive_bayes import GaussianNB, GaussianNBResult, gaussian_nb_fit, gaussian_nb_joint_log_likelihood

__all__ = [
    # estimators
    "LinearRegression", "Ridge", "Lasso", "ElasticNet",
    "LogisticRegression", "SoftmaxRegression",
    "KMeans", "MiniBatchKMeans", "PCA", "LinearDiscriminantAnalysis", "GaussianNB", "MLPClassifier", "MLPRegressor",
    "CalibratedClassifier", "OneVsRestClassifier", "LinearSVC",
    # errors and warnings
    "NotFittedError", "ConvergenceWarning",
    # pure numeric cores
    "lstsq_solve", "normal_equations_solve", "ridge_solve", "least_squares_gd_step",
    "FistaState", "elastic_net_step", "elastic_net_duality_gap",
    "logistic_objective", "logistic_grad", "logistic_newton_step", "logistic_gd_step",
    "softmax_objective", "softmax_grad", "softmax_newton_step", "softmax_gd_step",
    "LbfgsState", "lbfgs_init_state", "lbfgs_step",
    "LloydResult", "lloyd_step", "kmeans_plusplus",
    "PCAResult", "pca_fit", "LDAResult", "lda_fit",
    "GaussianNBResult", "gaussian_nb_fit", "gaussian_nb_joint_log_likelihood",
    "mlp_train_step",
    "linear_svc_objective", "linear_svc_grad", "linear_svc_newton_step",
]
