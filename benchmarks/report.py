"""The report of a run: a plain-text table, Markdown for ``docs/``, JSON for machines."""

from __future__ import annotations

import json
import shutil
import textwrap

from portable_ml._table import markdown_table

__all__ = ["format_table", "to_markdown", "to_json", "summary", "GROUPS"]

#: report sections, in order
GROUPS = {
    "elementwise": "Activations and losses (forward and gradient)",
    "optimizers": "Optimizer update",
    "metrics": "Metrics",
    "distances": "Distances",
    "models": "Models",
    "training": "Training",
    "overhead": "Per-call overhead at n = 10 (microseconds per call)",
}


def _time(v, unit):
    if v is None:
        return "-"
    if unit == "us":
        return f"{v:.1f} µs"
    for scale, name in ((1, "s"), (1e-3, "ms"), (1e-6, "µs")):
        if v >= scale:
            return f"{v / scale:.3g} {name}"
    return f"{v * 1e9:.3g} ns"


def _bytes(v):
    if v is None:
        return "-"
    for scale, name in ((2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
        if v >= scale:
            return f"{v / scale:.3g} {name}"
    return f"{v} B"


def _ratio(r):
    if r["ratio"] is None:
        return "-"
    mark = {True: " ✓", False: " ✗"}.get(r["met"], "")
    return f"{r['ratio']:.2f}{mark}"


def _status(r):
    if r["status"] == "ok":
        return r["note"]
    return f"{r['status'].upper()}: {r['note']}" if r["note"] else r["status"].upper()


def _err(r):
    return "-" if r["max_err"] is None else f"{r['max_err']:.1e}"


_COLUMNS = ("case", "size", "backend", "ours", "reference", "ref time", "ratio", "target",
            "peak ours", "peak ref", "error", "note")


def _row(r):
    return {
        "case": r["id"], "size": r["size"], "backend": r["backend"], "ours": _time(r["ours_s"], r["unit"]),
        "reference": r["reference"] or "-", "ref time": _time(r["ref_s"], r["unit"]), "ratio": _ratio(r),
        "target": "-" if r["target"] is None else f"≤ {r['target']:g}",
        "GB/s": "-" if r.get("gbps") is None else f"{r['gbps']:.3g}",
        "peak ours": _bytes(r["ours_peak"]), "peak ref": _bytes(r["ref_peak"]), "error": _err(r),
        "note": _status(r),
    }


def _columns(rows):
    """The report's columns; ``GB/s`` only where a row has a throughput."""
    cols = list(_COLUMNS)
    if any(r.get("gbps") is not None for r in rows):
        cols.insert(cols.index("ratio") + 1, "GB/s")
    return cols


def summary(report):
    """Counts and the list of missed targets (``{"met", "missed", "no_target", "problems"}``)."""
    rows = report["results"]
    with_target = [r for r in rows if r["target"] is not None]
    return {
        "met": [r for r in with_target if r["met"] is True],
        "missed": [r for r in with_target if r["met"] is not True],
        "no_target": [r for r in rows if r["target"] is None and r["status"] == "ok"],
        "problems": [r for r in rows if r["status"] != "ok"],
    }


def _label(r):
    return f"{r['id']} [{r['size']}] on {r['backend']}"


def _why(r):
    if r["status"] != "ok":
        return f"{r['status']}: {r['note']}"
    return f"ratio {r['ratio']:.2f} > {r['target']:g}"


#: widest plain-text report, whatever the terminal
MAX_WIDTH = 100


def _text_columns(rows):
    """The plain-text table's columns: the figures first, the reference's name and the note last."""
    cols = [c for c in _columns(rows) if c not in ("reference", "note")]
    return [*cols, "reference", "note"]


def _skipped_lines(skipped):
    """One line per reason: ``skipped (reason): a, b, ...``."""
    by_reason = {}
    for r in skipped:
        by_reason.setdefault(r["note"] or "not available", []).append(f"{r['id']} [{r['size']}] on {r['backend']}")
    return [f"  skipped ({why}): {len(which)}: {', '.join(which)}" for why, which in by_reason.items()]


def format_table(report, width=None):
    """Plain-text report: one table per section, then the targets, skipped cases and warnings.

    No line is wider than ``width`` (default: the terminal's width, at most
    :data:`MAX_WIDTH`): table columns that do not fit go to an indented
    continuation line under their row, and long lines wrap.
    """
    if width is None:
        width = min(shutil.get_terminal_size((MAX_WIDTH, 24)).columns, MAX_WIDTH)
    out = []
    rows = report["results"]
    for group, title in GROUPS.items():
        sel = [r for r in rows if r["group"] == group]
        if sel:
            out += [f"== {title}", table([_row(r) for r in sel], _text_columns(sel), width=width), ""]
    s = summary(report)
    tail = [f"targets met: {len(s['met'])} of {len(s['met']) + len(s['missed'])}"]
    tail += [f"  missed: {_label(r)}: {_why(r)}" for r in s["missed"]]
    skipped = [r for r in s["problems"] if r["status"] == "skipped"]
    broken = [r for r in s["problems"] if r["status"] != "skipped"]
    tail += [f"  {r['status'].upper()}: {_label(r)}: {r['note']}" for r in broken]
    tail += _skipped_lines(skipped)
    m = report["meta"]
    tail.append(f"{m['profile']} run, {m['dtype']}, {m['wall_s']} s; malloc settings "
                f"{'set' if m['malloc_env_set'] else 'NOT set'}; load {m['load_start']} -> {m['load_end']}")
    if m.get("load_warning"):
        tail.append(f"WARNING: {m['load_warning']}")
    for line in tail:
        out += textwrap.wrap(line, width, subsequent_indent="    ", break_on_hyphens=False) or [""]
    return "\n".join(out)


def table(rows, columns, width=None):
    """A plain-text table of ``rows`` (dicts) with the given ``columns``.

    With ``width``, the leading columns that fit in it form the table and the
    others go, as ``column: value`` pairs, to indented lines under each row,
    wrapped at ``width``.
    """
    text = [[str(r.get(c, "")) for c in columns] for r in rows]
    widths = [max(len(c), *(len(t[i]) for t in text)) for i, c in enumerate(columns)]
    keep = len(columns)
    if width is not None:
        keep, used = 0, -2
        while keep < len(columns) and used + 2 + widths[keep] <= width:
            used += 2 + widths[keep]
            keep += 1
        keep = max(keep, 1)
    head, cut = columns[:keep], columns[keep:]
    out = ["  ".join(c.ljust(w) for c, w in zip(head, widths)).rstrip(), "  ".join("-" * w for w in widths[:keep])]
    for t in text:
        out.append("  ".join(v.ljust(w) for v, w in zip(t[:keep], widths)).rstrip())
        rest = "; ".join(f"{c}: {v}" for c, v in zip(cut, t[keep:]) if v not in ("", "-"))
        if rest:
            out += textwrap.wrap(rest, width, initial_indent="    ", subsequent_indent="      ",
                                 break_on_hyphens=False)
    return "\n".join(out)


def to_json(report):
    return json.dumps(report, indent=1, ensure_ascii=False)


def _matrix(report):
    """Case × backend: the ratio of each, in one table."""
    rows = report["results"]
    backends = list(dict.fromkeys(r["backend"] for r in rows))
    table = {}
    for r in rows:
        key = (r["id"], r["size"])
        table.setdefault(key, {"case": f"{r['id']} [{r['size']}]"})
        cell = _ratio(r) if r["status"] in ("ok", "mismatch") else r["status"]
        if r["status"] == "mismatch":
            cell += " (mismatch)"
        table[key][r["backend"]] = cell
    return markdown_table(list(table.values()), ["case", *backends])


def to_markdown(report, title="Benchmark results"):
    """The Markdown report that ``docs/benchmarks.md`` includes."""
    m = report["meta"]
    s = summary(report)
    v = m["versions"]
    blas = ", ".join(f"{b['internal_api']} {b['version']} ({b['architecture']}, {b['num_threads']} threads)"
                     for b in m["blas"]) or "unknown"
    env = ", ".join(f"`{k}={val}`" for k, val in m["env"].items() if val is not None) or "none"
    out = [
        f"# {title}",
        "",
        f"*{m['profile']}* run of `python -m benchmarks` on {', '.join(m['backends'])}, inputs in "
        f"{m['dtype']}, {m['date']}"
        + (f", commit `{m['commit']}`" if m.get("commit") else "") + f"; {m['wall_s']} s in all.",
        "",
        f"- Machine: {m['cpu']}, {m['cores']} cores; {m['platform']}; Python {m['python']}.",
        "- Versions: " + ", ".join(f"{k} {val}" for k, val in v.items()) + ".",
        f"- BLAS: {blas}.",
        f"- Environment: {env}. The glibc malloc settings were "
        + ("set (the benchmark process re-executes itself with them when they are missing)"
           if m["malloc_env_set"] else "**not** set")
        + ": large temporaries are then reused instead of being returned to the OS after every call.",
        f"- Load average at start {m['load_start']}, at end {m['load_end']}."
        + (f" **Warning: {m['load_warning']}.**" if m.get("load_warning") else ""),
        "",
        "Each figure is the median of several timed calls after a warm-up call, our function and its "
        "reference interleaved in the same process; the device is synchronised before the clock is read. "
        "**ratio = ours / reference** (below 1: we are faster). ✓ / ✗: target met / missed. "
        "*error*: normwise relative difference between our result and the reference's "
        "(models: inertia, explained variance or objective). *GB/s*: the least memory traffic of one call "
        "(inputs read, result written) over our time.",
        "",
        f"**Targets met: {len(s['met'])} of {len(s['met']) + len(s['missed'])}.**",
        "",
    ]
    if s["missed"]:
        out += ["Missed:", ""] + [f"- {_label(r)}: {_why(r)}" for r in s["missed"]] + [""]
    broken = [r for r in s["problems"] if r["status"] not in ("skipped",)]
    if broken:
        out += ["Problems:", ""] + [f"- {_label(r)}: {_status(r)}" for r in broken] + [""]
    skipped = [r for r in s["problems"] if r["status"] == "skipped"]
    if skipped:
        out += ["Skipped (not available in this installation):", ""]
        out += [f"- {_label(r)}: {r['note']}" for r in skipped] + [""]
    out += ["## Ratios at a glance", "", _matrix(report), ""]
    for group, gtitle in GROUPS.items():
        sel = [r for r in report["results"] if r["group"] == group]
        if not sel:
            continue
        out += [f"## {gtitle}", "", markdown_table([_row(r) for r in sel], _columns(sel)), ""]
    return "\n".join(out)
