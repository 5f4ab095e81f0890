"""API.md's argument rule, checked on every public signature.

What a signature lists without a default is positional, and so is every
array-valued parameter; every other option with a default is keyword-only,
except an optimizer's ``learning_rate`` and the single argument of ``clip``,
``clip_by_global_norm`` and ``add_decayed_weights``.  ``POSITIONAL_DEFAULTS``
lists the parameters with a default that the API itself shows positional,
each with the reason; anything else positional with a default fails.
"""

import importlib
import inspect

import pytest

MODULES = ("activations", "losses", "metrics", "distances", "probability", "regularization", "optimizers",
           "schedules", "gradients", "random", "datasets", "checkpoint", "backend", "tree", "interop", "plot",
           "demo", "nn", "models", "preprocessing", "testing")

POSITIONAL_DEFAULTS = {
    # arrays (API.md: "every array-valued parameter even where it has a default")
    "distances.pairwise_euclidean": {"B"}, "distances.pairwise_manhattan": {"B"}, "distances.minkowski": {"w"},
    "distances.pairwise_distances": {"B"},
    "distances.pairwise_cosine_similarity": {"B"}, "distances.linear_kernel": {"B"},
    "distances.polynomial_kernel": {"B"}, "distances.rbf_kernel": {"B"}, "distances.sigmoid_kernel": {"B"},
    "probability.gaussian_pdf": {"mu", "sigma"}, "probability.gaussian_logpdf": {"mu", "sigma"},
    "probability.gaussian_logpdf_grad": {"mu", "sigma"},
    "nn.scaled_dot_product_attention": {"mask"}, "nn.multi_head_attention": {"mask"},
    "models.gaussian_nb_joint_log_likelihood": {"centre"}, "models.gaussian_nb_fit": {"sample_weight"},
    "datasets.minibatches": {"y"},  # minibatches(X, y=None, *, batch_size, rng, ...)
    # factories: the learning rate, or the single argument (optax's order)
    "optimizers.adam": {"learning_rate"}, "optimizers.adamw": {"learning_rate"},
    "optimizers.add_decayed_weights": {"weight_decay"}, "optimizers.nadam": {"learning_rate"},
    "optimizers.adadelta": {"learning_rate"}, "optimizers.adafactor": {"learning_rate"},
    "optimizers.apply_every": {"k"},  # optax.apply_every(k=1)
    "schedules.piecewise_constant_schedule": {"boundaries_and_scales"},  # optax's order
    "schedules.step_decay": {"lr0"}, "schedules.exponential_decay": {"lr0"},
    # signatures API.md spells out positionally
    "metrics.confusion_matrix": {"num_classes"},  # listed as confusion_matrix(y_true, y_pred, num_classes)
    "random.Generator": {"backend", "seed"},  # Generator(backend, seed)
    "random.default_rng": {"seed", "backend", "device"},  # numpy.random.default_rng(seed) order
    "backend.Backend": {"device"},  # made by get_backend(name, device), never called directly
    "backend.get_backend": {"name", "device"}, "backend.use_backend": {"device"},
    "backend.to_backend": {"device"}, "checkpoint.load": {"backend", "device"},
    "testing.assert_close": {"rtol", "atol"},  # assert_close(actual, desired, rtol=None, atol=None)
    # scikit-learn's dataset signatures (API.md: "scikit-learn's argument names")
    "datasets.make_blobs": {"n_samples", "n_features"}, "datasets.make_moons": {"n_samples"},
    "datasets.make_classification": {"n_samples", "n_features"},
    "datasets.make_regression": {"n_samples", "n_features"},
    # matplotlib's convention: the axes to draw on
    "plot.plot_history": {"ax"}, "plot.plot_decision_boundary": {"y", "ax"}, "plot.plot_roc": {"ax"},
    "plot.plot_precision_recall": {"ax"},
    "demo.run_demo": {"backends", "device"},  # the CLI's demo [--backend NAME] [--device D]
}


def _public_signatures():
    for mod_name in MODULES:
        try:
            mod = importlib.import_module(f"portable_ml.{mod_name}")
        except ImportError as exc:  # an optional dependency of that module is missing
            pytest.skip(f"portable_ml.{mod_name}: {exc}")
        for name in getattr(mod, "__all__", ()):
            obj = getattr(mod, name, None)
            if inspect.isclass(obj):
                obj = obj.__dict__.get("__init__")
            if inspect.isfunction(obj):
                yield f"{mod_name}.{name}", inspect.signature(obj)


def test_options_with_defaults_are_keyword_only():
    seen, bad = set(), {}
    for qual, sig in _public_signatures():
        seen.add(qual)
        positional = {p.name for p in sig.parameters.values()
                      if p.default is not p.empty and p.kind is p.POSITIONAL_OR_KEYWORD}
        extra = positional - POSITIONAL_DEFAULTS.get(qual, set())
        if extra:
            bad[qual] = sorted(extra)
    assert not bad, f"options with a default that are not keyword-only: {bad}"
    assert "optimizers.sgd" in seen and "losses.huber" in seen
    stale = sorted(set(POSITIONAL_DEFAULTS) - seen)
    assert not stale, f"exceptions listed for functions that no longer exist: {stale}"


def test_sgd_takes_only_the_learning_rate_positionally():
    optax = pytest.importorskip("optax")

    from portable_ml import optimizers as O

    with pytest.raises(TypeError, match="positional"):
        O.sgd(0.1, 0.9)
    with pytest.raises(TypeError, match="positional"):
        O.add_decayed_weights(1e-4, None)
    assert list(inspect.signature(O.sgd).parameters)[:3] == list(inspect.signature(optax.sgd).parameters)[:3]
