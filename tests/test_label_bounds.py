"""No label value makes a function request unbounded memory.

A class count inferred from the largest label is bounded
(``MAX_INFERRED_CLASSES``), and every class count -- inferred or explicit
-- is checked against the size of the arrays it implies
(``MAX_CLASS_ELEMENTS``: the (n, k) one-hot encodings, the (k, k)
confusion matrix) before anything is allocated.  On JAX a huge allocation
aborted the whole process (SIGABRT inside XLA); NumPy raised a raw 7.45 GiB
``MemoryError``, torch a raw allocator ``RuntimeError``.
"""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import portable_ml as pml
from portable_ml._xp import MAX_CLASS_ELEMENTS, MAX_INFERRED_CLASSES

HUGE = 10**9


def _labels(backend, values):
    return backend.asarray(np.asarray(values, dtype=np.int64))


_AVERAGED = [
    ("precision", {}), ("recall", {}), ("f1", {}), ("fbeta", {"beta": 2.0}),
]


def test_confusion_matrix_with_one_huge_label_raises_naming_it(backend):
    y = _labels(backend, [0, 1, 2, 1])
    y_bad = _labels(backend, [HUGE, 1, 2, 1])
    with pytest.raises(ValueError, match=r"y_pred holds the class index 1000000000: .*pass num_classes="):
        pml.metrics.confusion_matrix(y, y_bad)
    with pytest.raises(ValueError, match=r"y_true holds the class index 1000000000"):
        pml.metrics.confusion_matrix(y_bad, y)


@pytest.mark.parametrize("name,kw", _AVERAGED, ids=[n for n, _ in _AVERAGED])
@pytest.mark.parametrize("average", ["macro", "micro", "weighted"])
def test_averaged_scores_with_one_huge_label_raise(backend, name, kw, average):
    y = _labels(backend, [0, 1, 2, 1])
    y_bad = _labels(backend, [0, 1, HUGE, 1])
    with pytest.raises(ValueError, match=r"y_pred holds the class index 1000000000: .*num_classes="):
        getattr(pml.metrics, name)(y, y_bad, average=average, **kw)


def test_explicit_huge_num_classes_is_checked_against_the_allocation(backend):
    y = _labels(backend, [0, 1, 2, 1])
    # k^2 = 1e10 cells for the matrix; n * k = 4e5 for the one-hot encodings is fine
    with pytest.raises(ValueError, match=r"num_classes=100000 would need a confusion matrix of shape "
                                         r"\(100000, 100000\)"):
        pml.metrics.confusion_matrix(y, y, num_classes=10**5)
    with pytest.raises(ValueError, match=r"num_classes=1000000001 would need one-hot encodings"):
        pml.metrics.precision(y, y, average="macro", num_classes=HUGE + 1)


def test_inference_limit_is_exact_and_explicit_num_classes_goes_beyond(backend):
    sk = pytest.importorskip("sklearn.metrics")
    top = MAX_INFERRED_CLASSES - 1
    yt, yp = [0, top, 3, top], [0, top, top, 3]
    got = pml.metrics.precision(_labels(backend, yt), _labels(backend, yp), average="macro")
    want = sk.precision_score(yt, yp, average="macro", zero_division=0)
    assert float(got) == pytest.approx(want, rel=1e-6)  # (float32 by default on torch)
    over = [0, top + 1, 3, 1]
    with pytest.raises(ValueError, match=rf"y_true holds the class index {top + 1}: inferring "
                                         rf"num_classes={top + 2} .* limit of {MAX_INFERRED_CLASSES}"):
        pml.metrics.recall(_labels(backend, over), _labels(backend, yp), average="macro")
    # the same labels with num_classes given: n * k is small, so it is computed
    got = pml.metrics.recall(_labels(backend, over), _labels(backend, yp), average="macro",
                             num_classes=top + 2)
    want = sk.recall_score(over, yp, average="macro", zero_division=0)
    assert float(got) == pytest.approx(want, rel=1e-6)  # (float32 by default on torch)


def test_non_finite_float_label_raises_naming_it(backend):
    y = backend.asarray(np.array([0.0, 1.0, 2.0]))
    bad = backend.asarray(np.array([0.0, np.inf, 2.0]))
    with pytest.raises(ValueError, match="y_pred must hold class indices; got the non-finite label inf"):
        pml.metrics.confusion_matrix(y, bad)


@pytest.mark.skip_backends(dask="value checks are not computed on lazy arrays (the class count above is)")
def test_binary_scores_and_sparse_losses_reject_a_huge_label(backend):
    y = _labels(backend, [0, 1, 1, 0])
    bad = _labels(backend, [0, 1, HUGE, 0])
    with pytest.raises(ValueError, match="y_pred must hold binary labels 0 and 1"):
        pml.metrics.mcc(y, bad)
    with pytest.raises(ValueError, match="y_pred must hold binary labels 0 and 1"):
        pml.metrics.confusion_counts(y, bad)
    logits = backend.asarray(np.zeros((4, 3)))
    for fn in (pml.losses.sparse_softmax_cross_entropy, pml.losses.sparse_categorical_cross_entropy):
        with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\); got values in \[0, 1000000000\]"):
            fn(bad, logits)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\); got values in \[0, 1000000000\]"):
        pml.losses.nll(logits, bad)
    with pytest.raises(ValueError, match=r"x must lie in \[0, 3\)"):
        pml.probability.categorical_logpmf(bad, backend.asarray(np.full(3, 1 / 3)))


def test_classifier_refuses_continuous_targets_before_a_quadratic_one_hot():
    # 50 000 distinct "labels" would make a 50 000 x 50 000 one-hot encoding (2.5e9 cells)
    n = 50_000
    assert n * n > MAX_CLASS_ELEMENTS
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(n, 1)), rng.normal(size=n)
    with pytest.raises(ValueError, match=r"the number of distinct labels in y=50000 would need a one-hot "
                                         r"encoding of y .* continuous targets call for a regressor"):
        pml.models.LogisticRegression().fit(X, y)


@pytest.mark.parametrize("x64,label", [(False, 10**9), (True, 10**6)])
def test_jax_confusion_matrix_with_a_huge_label_does_not_abort_the_process(request, x64, label):
    """Run in a subprocess: before the bound, XLA's failed allocation killed the interpreter."""
    if "jax" not in request.config._pml_backends:
        pytest.skip("jax not selected with --pml-backends")
    pytest.importorskip("jax")
    code = textwrap.dedent(f"""
        import jax
        jax.config.update("jax_enable_x64", {x64})
        import jax.numpy as jnp
        import portable_ml as pml
        y = jnp.asarray([0, 1, 2, 1])
        try:
            pml.metrics.confusion_matrix(y, y.at[0].set({label}))
        except ValueError as exc:
            print("ValueError:", exc)
    """)
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env,
                          cwd=str(request.config.rootpath))
    assert done.returncode == 0, f"the process died (return code {done.returncode}): {done.stderr[-2000:]}"
    assert f"ValueError: y_pred holds the class index {label}" in done.stdout, done.stdout + done.stderr
