"""The registry of public functions: each one's facts in one place.

Every public formula is listed once, as a :class:`Case`: the function, a
maker of example inputs (host NumPy float64 arrays and Python values), its
keyword options and the options to sweep, which arguments are
differentiable, the function it is the gradient of, extreme inputs, an
independent reference (a float64 NumPy formula or the field's library:
SciPy, scikit-learn, optax, ``jax.nn``, PyTorch), a tolerance class and the
program transformations it supports.  Generated from it:

* ``tests/test_invariants.py``: namespace, dtype and device kept and equal
  to the float64 NumPy run on every backend (typical and extreme inputs),
  the NumPy run equal to the reference for every swept option, ``*_grad``
  equal to the central differences of its function, and the ``jax.jit`` /
  ``jax.grad`` / ``jax.vmap`` / ``torch.func`` / ``torch.compile`` modes;
* ``tests/test_fuzz.py`` (Hypothesis);
* ``portable-ml conformance`` and the known deviations it reports, which are
  keyed by case name (``portable_ml/testing/deviations/<backend>.toml``);
* the per-function support matrix of the documentation
  (``python -m portable_ml.testing.registry --matrix``).

Cases live in ``portable_ml/testing/_cases/<family>.py``, each module
exporting ``CASES``; a new family adds a module there.  A reference that
needs an optional library imports it inside its body and names it in
``Reference.needs``: without the library only the tests that use that
reference are skipped.
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
import types
from collections.abc import Callable

import numpy as np

__all__ = ["Case", "Reference", "Capabilities", "cases", "case", "inputs", "extreme_inputs", "tolerance",
           "TOLERANCE_CLASSES", "gradient_cases", "support_matrix",
           "support_matrix_markdown"]


# ------------------------------------------------------------ tolerance policy
#: Tolerance classes: ``{class: {dtype: (rtol, atol)}}``; a dtype a class does not list falls
#: back to :func:`portable_ml.testing.default_tolerance`, the one policy every comparison of
#: the test suite resolves through (:func:`tolerance`).
TOLERANCE_CLASSES = {
    # rounding-level agreement: elementwise formulas and short reductions
    "default": {},
    # a float64 formula that is accurate to a few ulp (checked against a reference formula)
    "accurate": {"float64": (1e-12, 1e-14)},
    # float32 chains of reductions / matrix products (a few ulp lost per step)
    "reduction": {"float32": (1e-4, 1e-6)},
    # float32 through solvers, factorizations and difference quotients
    "solver": {"float32": (2e-3, 2e-3)},
    # computed in the backend's default float (float32 on torch) and cast to the asked dtype
    "default_float": {"float64": (1e-6, 1e-7)},
}


def tolerance(cls="default", dtype="float64"):
    """``(rtol, atol)`` of tolerance class ``cls`` for ``dtype`` (a name or a dtype).

    One policy for the whole test suite: the class's entry for the dtype,
    else :func:`portable_ml.testing.default_tolerance` of that dtype.
    """
    from . import default_tolerance, dtype_name

    if cls not in TOLERANCE_CLASSES:
        raise ValueError(f"tolerance class must be one of {sorted(TOLERANCE_CLASSES)}; got {cls!r}")
    name = dtype if isinstance(dtype, str) else dtype_name(dtype)
    got = TOLERANCE_CLASSES[cls].get(name)
    return got if got is not None else default_tolerance(types.SimpleNamespace(dtype=name))


# ------------------------------------------------------------ facts of a case
@dataclasses.dataclass(frozen=True)
class Reference:
    """An independent reference for a case.

    ``fn(*host_args, **options)`` takes the case's positional arguments as
    float64 host NumPy arrays (and Python values) and its keyword options,
    and returns what the case's function returns, as NumPy.  ``needs`` names
    the importable modules it uses (``"torch"``, ``"scipy.special"``...);
    where one is missing, the tests that use this reference are skipped.
    ``source`` says what it is, for the support matrix.
    """

    fn: Callable
    source: str = "NumPy float64"
    needs: tuple = ()
    #: whether the reference also holds at the case's extreme inputs (``False`` where its own
    #: convention differs there, e.g. torch clamps ``log(0)`` at -100 where we clip p at eps)
    at_extremes: bool = True

    def missing(self):
        """The first of ``needs`` that cannot be imported here, else ``None``."""
        for mod in self.needs:
            try:
                importlib.import_module(mod)
            except ImportError:
                return mod
        return None


@dataclasses.dataclass(frozen=True)
class Capabilities:
    """The program transformations and array kinds a case supports.

    ``jit``: equal under ``jax.jit`` (inputs traced, or closed over);
    ``grad``: differentiable by ``jax.grad`` / ``torch.func.grad`` in the
    case's ``grad_argnums``; ``vmap``: batches under ``jax.vmap`` /
    ``torch.func.vmap`` over a new leading axis; ``compile``: traced by
    ``torch.compile(fullgraph=True)`` without a graph break (asserted by the
    test suite where ``True``); ``lazy_dask``: stays a lazy Dask graph (no
    value read before ``compute``).
    """

    jit: bool = True
    grad: bool = True
    vmap: bool = True
    compile: bool = False
    lazy_dask: bool = True


@dataclasses.dataclass(frozen=True)
class Case:
    """One public function and its facts.

    Attributes
    ----------
    name : str
        ``"family.function"``, e.g. ``"losses.huber"``.
    fn : callable
        The function (or a small wrapper binding a factory, e.g. an optimizer).
    make_args : callable
        ``make_args(rng) -> tuple`` of positional arguments: NumPy arrays
        (float64 arrays are cast to the dtype under test; integer and bool
        arrays are kept) and Python values (passed unchanged, static under jit).
    kwargs : dict
        Keyword options (static under jit).
    grad_argnums : tuple of int
        Positional arguments with respect to which the (summed) output is
        differentiable; empty for non-differentiable functions.
    vmap : bool
        Whether the function batches under ``jax.vmap`` (kept for the
        ``_cases`` modules; the same as ``capabilities.vmap``).
    reference : Reference, optional
        An independent reference for the values.
    grad_of : str, optional
        The case this function is the gradient of (``"losses.mse"`` for
        ``losses.mse_grad``): its output is the gradient of the summed output
        of ``grad_of`` with respect to argument ``wrt``, with the same options.
        Filled in by :func:`cases` from the formula's ``@differentiable`` link
        at its definition (``losses.mse_grad[where]`` is the gradient of
        ``losses.mse[where]``); given here only for a gradient no decorator
        can state (``gaussian_logpdf_grad``'s two components), and an error
        where the decorator states it too.
    wrt : int
        The argument of ``grad_of`` the gradient is taken with respect to
        (from the decorator where it states the link).
    extremes : callable, optional
        ``extremes() -> tuple`` of positional arguments at extreme values (huge
        logits, probabilities 0 and 1, zero residuals...), float64 values that
        are exact in float32; the result must be finite and agree with the
        float64 run on every backend.
    sweep : tuple of dict
        Further keyword options the values are checked with (reductions,
        axes, variants), each merged over ``kwargs``.
    tol : str
        Tolerance class (:data:`TOLERANCE_CLASSES`), resolved by :func:`tolerance`.
    capabilities : Capabilities
    """

    name: str
    fn: Callable
    make_args: Callable[[np.random.Generator], tuple]
    kwargs: dict = dataclasses.field(default_factory=dict)
    grad_argnums: tuple = ()
    vmap: bool = True
    reference: Reference | None = None
    grad_of: str | None = None
    wrt: int = 0
    extremes: Callable | None = None
    sweep: tuple = ()
    tol: str = "default"
    capabilities: Capabilities | None = None

    def __post_init__(self):
        if self.tol not in TOLERANCE_CLASSES:
            raise ValueError(f"{self.name}: tol must be one of {sorted(TOLERANCE_CLASSES)}; got {self.tol!r}")
        if self.capabilities is None:
            caps = Capabilities(grad=bool(self.grad_argnums), vmap=self.vmap, compile=_compiles(self.name))
            object.__setattr__(self, "capabilities", caps)

    @property
    def family(self):
        return self.name.split(".", 1)[0]

    @property
    def options(self):
        """Every keyword-option set the values are checked with: ``kwargs``, then each of ``sweep`` over it."""
        return [dict(self.kwargs)] + [{**self.kwargs, **s} for s in self.sweep]

    def tolerance(self, dtype):
        """``(rtol, atol)`` of this case for ``dtype`` (see :func:`tolerance`)."""
        return tolerance(self.tol, dtype)

    def __repr__(self):
        return f"Case({self.name})"


#: torch.compile(fullgraph=True) is asserted for the elementwise families and for the functions a
#: training step embeds (the default of ``Capabilities.compile``).
_COMPILE_FAMILIES = ("activations", "losses")
_COMPILE_EXTRA = ("metrics.roc_auc", "metrics.accuracy", "nn.MLP.loss_and_grads[sigmoid]",
                  "nn.MLP.loss_and_grads[softmax]", "regularization.l1_penalty_grad")


def _compiles(name):
    return name.split(".", 1)[0] in _COMPILE_FAMILIES or name in _COMPILE_EXTRA


# ------------------------------------------------------------ the registry
_CACHE: list = []


def cases():
    """All registered cases, sorted by name."""
    if not _CACHE:
        from . import _cases

        found = []
        for mod in pkgutil.iter_modules(_cases.__path__):
            module = importlib.import_module(f"{_cases.__name__}.{mod.name}")
            found.extend(getattr(module, "CASES", ()))
        names = [c.name for c in found]
        dupes = {n for n in names if names.count(n) > 1}
        if dupes:
            raise RuntimeError(f"duplicate registry names: {sorted(dupes)}")
        by_name = set(names)
        found = _link_gradients(found, _decorator_links({c.family for c in found}))
        for c in found:
            if c.grad_of is not None and c.grad_of not in by_name:
                raise RuntimeError(f"{c.name}: grad_of={c.grad_of!r} is not a registered case")
        _CACHE.extend(sorted(found, key=lambda c: c.name))
    return list(_CACHE)


def _decorator_links(families):
    """``{"family.gradient": ("family.formula", wrt)}`` from the ``@differentiable`` links of the public formulas.

    ``*_vjp`` links (``softmax``) are not gradients of a summed output and are left out.
    """
    from .._gradlink import linked_formulas

    links = {}
    for fam in sorted(families):
        try:
            module = importlib.import_module(f"portable_ml.{fam}")
        except ImportError:
            continue
        for name, _fn, gname, kind, wrt in linked_formulas(module):
            if kind != "vjp":
                links[f"{fam}.{gname}"] = (f"{fam}.{name}", wrt)
    return links


def _link_gradients(found, links):
    """``found`` with ``grad_of``/``wrt`` filled in from ``links`` (see :func:`_decorator_links`).

    A variant ``fam.f_grad[v]`` is the gradient of ``fam.f[v]``; a case that also states ``grad_of`` is an error.
    """
    out = []
    for c in found:
        base, bracket, rest = c.name.partition("[")
        if base in links:
            if c.grad_of is not None:
                raise RuntimeError(f"{c.name}: grad_of is stated by @differentiable at the formula's definition; "
                                   "drop it from the case")
            formula, wrt = links[base]
            c = dataclasses.replace(c, grad_of=formula + bracket + rest, wrt=wrt)
        out.append(c)
    return out


def case(name):
    """The case called ``name``."""
    for c in cases():
        if c.name == name:
            return c
    raise KeyError(name)


def gradient_cases():
    """``[(grad_case, case)]``: every case registered as the gradient of another."""
    return [(c, case(c.grad_of)) for c in cases() if c.grad_of is not None]


def inputs(c: Case, seed: int = 0):
    """Example positional arguments of case ``c`` (host NumPy / Python values)."""
    return tuple(c.make_args(np.random.default_rng(seed)))


def extreme_inputs(c: Case):
    """The extreme positional arguments of case ``c``, or ``None`` where it has none."""
    return None if c.extremes is None else tuple(c.extremes())


# ------------------------------------------------------------ support matrix
_MATRIX_BACKENDS = ("numpy", "cupy", "jax", "torch", "dask", "array_api_strict")


def support_matrix(family=None):
    """Rows of the per-function support matrix (the registry's static facts, nothing run).

    One row per public case: the function, its reference, the function it is
    the gradient of, one cell per backend (``yes``, or the known deviation
    with its dtypes) and one per transformation (``yes`` / ``no``).
    """
    from .conformance import load_deviations

    devs = load_deviations()
    rows = []
    for c in cases():
        if c.name.startswith("_") or (family is not None and c.family != family):
            continue
        row = {"function": f"`{c.name}`",
               "reference": c.reference.source if c.reference else "-",
               "gradient of": f"`{c.grad_of}`" if c.grad_of else "-"}
        for b in _MATRIX_BACKENDS:
            hits = [e for e in devs.get(b, ()) if "case" in e and _case_glob(e["case"], c.name)]
            row[b] = "yes" if not hits else "; ".join(
                f"deviation{' (' + ', '.join(e['dtypes']) + ')' if e.get('dtypes') else ''}: {e['reason']}"
                for e in hits)
        caps = c.capabilities
        for label, flag in (("jit", caps.jit), ("grad", caps.grad), ("vmap", caps.vmap),
                            ("torch.compile", caps.compile), ("lazy Dask", caps.lazy_dask)):
            row[label] = "yes" if flag else "no"
        rows.append(row)
    return rows


def _case_glob(pattern, name):
    from .conformance import deviation_matches

    return deviation_matches(pattern, name)


def support_matrix_markdown():
    """The support-matrix documentation page (``docs/support-matrix.md``), one table per family."""
    lines = [
        "# Support matrix",
        "",
        "<!-- Generated from the registry (portable_ml/testing/registry.py and _cases/): do not edit.",
        "     Regenerate with: python -m portable_ml.testing.registry --matrix docs/support-matrix.md -->",
        "",
        "Every public function, as the test registry records it: the independent reference its values",
        "are checked against (in float64, for every swept option), the function it is the gradient of",
        "(checked against central differences of that function), the backends it runs on (`yes`: no known",
        "deviation; values, dtype and device are checked against the float64 NumPy run, typical and extreme",
        "inputs, float32 and float64, on every backend installed -- CuPy where a GPU is, by `ci/gpu.sh`;",
        "otherwise the known deviation and its reason), and the program transformations the",
        "test suite asserts: `jax.jit`, `jax.grad` / `torch.func.grad`, `jax.vmap` / `torch.func.vmap`,",
        "`torch.compile(fullgraph=True)`, and a lazy Dask graph (nothing computed before `compute`).",
        "`portable-ml conformance` runs the same registry on the backends installed here",
        "(see [Conformance](conformance.md)); a function's facts are its `Case` in",
        "`portable_ml/testing/_cases/<family>.py`.",
        "",
    ]
    rows = support_matrix()
    families = sorted({r["function"].strip("`").split(".", 1)[0] for r in rows})
    for fam in families:
        sub = [r for r in rows if r["function"].strip("`").split(".", 1)[0] == fam]
        cols = list(sub[0])
        lines += [f"## {fam}", "", "| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
        lines += ["| " + " | ".join(str(r[k]).replace("|", "\\|") for k in cols) + " |" for r in sub]
        lines.append("")
    return "\n".join(lines)


# ------------------------------------------------------------ input makers
# Small helpers for the ``_cases`` modules: each returns a host array.

def normal(rng, *shape, scale=1.0):
    return rng.normal(0.0, scale, size=shape)


def positive(rng, *shape, low=0.1, high=2.0):
    return rng.uniform(low, high, size=shape)


def unit(rng, *shape):
    """Values in (0, 1), away from the ends."""
    return rng.uniform(0.05, 0.95, size=shape)


def simplex(rng, *shape):
    """Rows (last axis) on the probability simplex, all entries > 0."""
    p = rng.uniform(0.1, 1.0, size=shape)
    return p / p.sum(axis=-1, keepdims=True)


def labels(rng, n, k):
    """Integer labels in [0, k), every class present when n >= k."""
    y = rng.integers(0, k, size=n)
    y[: min(n, k)] = np.arange(min(n, k))
    return rng.permutation(y).astype(np.int64)


def one_hot(rng, n, k):
    return np.eye(k)[labels(rng, n, k)]


def binary(rng, n):
    """0/1 floats with both classes present."""
    return labels(rng, n, 2).astype(np.float64)


def pm1(rng, n):
    """-1/+1 floats with both signs present."""
    return 2.0 * binary(rng, n) - 1.0


def spd(rng, d):
    """A well-conditioned symmetric positive-definite matrix."""
    a = rng.normal(size=(d, d))
    return a @ a.T / d + np.eye(d)


def _main(argv=None):
    import argparse
    import pathlib

    parser = argparse.ArgumentParser(prog="python -m portable_ml.testing.registry",
                                     description="Write the per-function support matrix page.")
    parser.add_argument("--matrix", metavar="FILE", required=True, help="the Markdown page to write ('-': stdout)")
    args = parser.parse_args(argv)
    text = support_matrix_markdown()
    if args.matrix == "-":
        print(text)
    else:
        pathlib.Path(args.matrix).write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
