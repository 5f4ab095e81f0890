"""Plain-text and Markdown tables, shared by the command line and :mod:`portable_ml.testing`.

A leaf module (it imports nothing from the package), so that neither of its
users has to import the other.
"""

from __future__ import annotations

__all__ = ["format_table", "markdown_table"]


def format_table(rows, columns):
    """A plain-text table of ``rows`` (dicts) with the given ``columns``.

    Each column is as wide as its longest cell or header; cells are
    left-aligned and separated by two spaces, a rule of dashes follows the
    header, and a missing or ``None`` cell shows as ``-``.
    """
    text = [[str(r.get(c, "")) if r.get(c) is not None else "-" for c in columns] for r in rows]
    widths = [max(len(c), *(len(t[i]) for t in text)) if text else len(c) for i, c in enumerate(columns)]
    line = "  ".join(c.ljust(w) for c, w in zip(columns, widths)).rstrip()
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(v.ljust(w) for v, w in zip(t, widths)).rstrip() for t in text]
    return "\n".join(out)


def markdown_table(rows, columns):
    """A Markdown table of ``rows`` (dicts) under ``columns``; ``|`` in a cell is escaped."""
    esc = lambda v: str(v).replace("|", "\\|")  # noqa: E731
    out = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    out += ["| " + " | ".join(esc(r.get(c, "")) for c in columns) + " |" for r in rows]
    return "\n".join(out)
