"""Achieved bandwidth of elementwise formulas on the GPU backends, against a plain copy.

Run by ci/gpu.sh on a CUDA machine. For each formula, bytes moved = its inputs
read once plus its output written once (the least any implementation moves);
GB/s = bytes / median time. The copy row is the device's practical ceiling.
"""

import statistics
import sys
import time

import portable_ml as pml
import portable_ml.random
from portable_ml.backend import get_backend

N = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else 1 << 27  # 512 MiB per float32 array

CASES = [
    ("copy (negation)", 1, lambda x, y: -x),
    ("activations.sigmoid", 1, lambda x, y: pml.activations.sigmoid(x)),
    ("activations.softplus", 1, lambda x, y: pml.activations.softplus(x)),
    ("activations.swish", 1, lambda x, y: pml.activations.swish(x)),
    ("activations.gelu", 1, lambda x, y: pml.activations.gelu(x)),
    ("activations.tanh_grad", 1, lambda x, y: pml.activations.tanh_grad(x)),
    ("losses.mse (none)", 2, lambda x, y: pml.losses.mse(y, x, reduction="none")),
    ("losses.mse_grad", 2, lambda x, y: pml.losses.mse_grad(y, x)),
    ("losses.log_cosh (none)", 2, lambda x, y: pml.losses.log_cosh(y, x, reduction="none")),
    ("losses.bce_with_logits (none)", 2,
     lambda x, y: pml.losses.binary_cross_entropy_with_logits(y, x, reduction="none")),
    ("losses.bce_with_logits_grad", 2,
     lambda x, y: pml.losses.binary_cross_entropy_with_logits_grad(y, x)),
]


def run(name):
    b = get_backend(name)
    xp = b.xp
    rng = pml.random.default_rng(0, backend=name, native=True)
    x = rng.normal((N,), dtype="float32")
    y = xp.astype(rng.uniform((N,), dtype="float32") > 0.5, xp.float32)
    if name == "jax":
        import jax
        fns = [(label, nin, jax.jit(f)) for label, nin, f in CASES]
    else:
        fns = CASES
    rows = []
    for label, n_in, f in fns:
        out = f(x, y)
        b.synchronize(out)
        times = []
        for _ in range(7):
            t0 = time.perf_counter()
            out = f(x, y)
            b.synchronize(out)
            times.append(time.perf_counter() - t0)
        nbytes = (n_in + 1) * N * 4
        rows.append((label, statistics.median(times), nbytes / statistics.median(times) / 1e9))
    copy = rows[0][2]
    print(f"\n{name}: n = {N}, float32, median of 7 after a warm-up")
    print(f"{'formula':34s} {'ms':>8s} {'GB/s':>8s} {'of copy':>8s}")
    for label, t, gbs in rows:
        print(f"{label:34s} {t * 1e3:8.3f} {gbs:8.0f} {gbs / copy:8.0%}")


if __name__ == "__main__":
    names = [a for a in sys.argv[1:] if not a.isdigit()]
    for name in names or ["cupy", "jax"]:
        run(name)
