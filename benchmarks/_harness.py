"""Timing and memory measurement, and the record of one benchmark result.

Timing rules (the same for our function and its reference, measured in the
same run and interleaved, so that a load change hits both sides alike):

* one warm-up call per side (JIT compilation, caches, page faults), then,
  unless the warm-up took over a quarter of a second, one more to estimate
  the cost of a call;
* calls shorter than ``batch_s`` are timed in batches of ``number`` calls and
  divided, so the clock's resolution and the loop cost do not count;
* ``repeats`` samples per side, interleaved: ours, reference, then
  reference, ours, and so on (ours is timed once for all the references of
  a case); the reported figure is the **median**;
* the backend is synchronised (``Backend.synchronize`` on the result) before
  the clock is read, so asynchronous devices (JAX, CuPy, CUDA PyTorch) are
  timed to completion, and lazy Dask results are computed.

Peak memory is measured in a separate, untimed call: ``tracemalloc`` for
host (NumPy) allocations, the allocator statistics of JAX / CuPy / PyTorch
on a GPU.  Where neither applies (JAX or PyTorch on the CPU) it is not
reported.
"""

from __future__ import annotations

import dataclasses
import gc
import math
import statistics
import time
import tracemalloc

__all__ = ["Result", "Timer", "measure", "measure_pair", "peak_memory"]

_clock = time.perf_counter
_SLOW = 0.25  # seconds: a warm-up call this slow needs no second call to estimate the cost


@dataclasses.dataclass
class Result:
    """One row of the report: our function against one reference on one backend."""

    id: str
    group: str
    backend: str
    dtype: str
    size: str
    reference: str = ""
    status: str = "ok"  # ok | mismatch | skipped | error
    ours_s: float | None = None
    ref_s: float | None = None
    ratio: float | None = None
    target: float | None = None
    met: bool | None = None
    ours_peak: int | None = None
    ref_peak: int | None = None
    max_err: float | None = None
    gbps: float | None = None  # our least memory traffic / our time (elementwise cases)
    repeats: int | None = None
    unit: str = "s"  # "s", or "us" for the per-call overhead rows
    note: str = ""
    wall_s: float | None = None  # time the whole case took: building, warm-up, timing, memory

    def to_dict(self):
        return dataclasses.asdict(self)


@dataclasses.dataclass
class Timer:
    """How hard to time: samples per side, time budget per case, batching."""

    repeats: int = 5
    min_repeats: int = 3
    budget_s: float = 2.0  # wall time per case, both sides together, after warm-up
    batch_s: float = 0.002  # calls shorter than this are batched

    def number(self, t_call):
        """Calls per sample for a call of about ``t_call`` seconds (batching short calls)."""
        return 1 if t_call >= self.batch_s else math.ceil(self.batch_s / max(t_call, 1e-7))

    def count(self, t_sample):
        """Samples per side when one sample of both sides takes ``t_sample`` seconds."""
        return max(self.min_repeats, min(self.repeats, int(self.budget_s / max(t_sample, 1e-9))))


def _sample(fn, sync, number):
    t0 = _clock()
    for _ in range(number):
        sync(fn())
    return (_clock() - t0) / number


def measure(ours, refs, *, sync_ours, sync_refs, timer, checks=None):
    """Median seconds per call of ``ours`` and of each reference in ``refs``.

    All are zero-argument callables; ``sync_*`` wait for a result to be
    ready.  ``checks[i](out_ours, out_ref_i)``, where given, compares the
    outputs of the warm-up calls; its return value (or the exception it
    raised) is the verdict for reference ``i``.  The outputs are dropped
    before the timing starts, so they do not add to the memory the timed
    calls run in.  Our function is timed once for all references; each
    round runs ours, ref 1, ref 2, ... and the next one the same in reverse
    order, so that no side always follows the same other one.

    Returns ``(t_ours, [t_ref, ...], repeats, [verdict, ...])``.
    """
    checks = checks or [None] * len(refs)
    t0 = _clock()
    out_ours = sync_ours(ours())
    warm = [_clock() - t0]
    verdicts = []
    for ref, sync, check in zip(refs, sync_refs, checks, strict=True):
        t0 = _clock()
        out_ref = sync(ref())
        warm.append(_clock() - t0)
        verdict = None
        if check is not None:
            try:
                verdict = check(out_ours, out_ref)
            except Exception as exc:  # noqa: BLE001 - reported by the caller
                verdict = exc
        verdicts.append(verdict)
        del out_ref
    del out_ours
    # a slow warm-up call is estimate enough (it can only overestimate: compilation);
    # a fast one is timed once more, warm
    fns, syncs = [ours, *refs], [sync_ours, *sync_refs]
    est = [w if w > _SLOW else _sample(f, s, 1) for w, f, s in zip(warm, fns, syncs)]
    numbers = [timer.number(e) for e in est]
    repeats = timer.count(sum(e * k for e, k in zip(est, numbers)))
    samples = [[] for _ in fns]
    rounds = list(zip(fns, syncs, numbers, samples))
    for r in range(repeats):
        # alternate the order, so that neither side always runs right after the other
        for f, s, k, out in (rounds if r % 2 == 0 else rounds[::-1]):
            out.append(_sample(f, s, k))
    medians = [statistics.median(t) for t in samples]
    return medians[0], medians[1:], repeats, verdicts


def measure_pair(ours, ref, *, sync_ours, sync_ref, timer, check=None):
    """:func:`measure` with one reference: ``(t_ours, t_ref, repeats, verdict)``."""
    t_ours, (t_ref,), repeats, (verdict,) = measure(ours, [ref], sync_ours=sync_ours, sync_refs=[sync_ref],
                                                    timer=timer, checks=[check])
    return t_ours, t_ref, repeats, verdict


def peak_memory(fn, sync, backend):
    """Peak bytes allocated during one call of ``fn`` (``None`` where not measurable).

    ``backend`` is the name of the array library whose allocations count:
    ``"numpy"`` (and host references such as scikit-learn) through
    ``tracemalloc``, which NumPy reports every array buffer to; on a GPU the
    allocator statistics of JAX, CuPy or PyTorch.  The figure includes the
    result, excludes the inputs.
    """
    gc.collect()
    if backend in ("numpy", "host"):
        started = not tracemalloc.is_tracing()
        if started:
            tracemalloc.start()
        try:
            base = tracemalloc.get_traced_memory()[0]
            tracemalloc.reset_peak()
            out = sync(fn())
            peak = tracemalloc.get_traced_memory()[1] - base
            del out
        finally:
            if started:
                tracemalloc.stop()
        return max(int(peak), 0)
    if backend == "cupy":
        import cupy

        pool = cupy.get_default_memory_pool()
        pool.free_all_blocks()
        base = pool.used_bytes()
        out = sync(fn())
        peak = pool.total_bytes() - base  # freed blocks stay cached: total is the high-water mark
        del out
        return max(int(peak), 0)
    if backend == "torch-cuda":
        import torch

        torch.cuda.synchronize()
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        out = sync(fn())
        peak = torch.cuda.max_memory_allocated() - base
        del out
        return max(int(peak), 0)
    if backend == "jax-gpu":
        import jax

        dev = jax.devices()[0]
        stats = dev.memory_stats() or {}
        if "peak_bytes_in_use" not in stats:
            return None
        base = stats.get("bytes_in_use", 0)
        before = stats["peak_bytes_in_use"]
        out = sync(fn())
        after = dev.memory_stats()["peak_bytes_in_use"]
        del out
        # JAX's peak cannot be reset: only a call that raises it is measured
        return int(after - base) if after > before else None
    return None
