"""Render math to MathML at build time, so the pages need no script and no network.

Sphinx's default (``sphinx.ext.mathjax``) leaves TeX in the page for MathJax to
typeset in the browser, loading MathJax from a CDN: offline, every formula shows
as raw TeX.  This extension converts each formula with ``latex2mathml`` while
the site is built; browsers draw MathML natively (MathML Core).  A formula that
uses a macro the converter does not know is a build warning (an error under
``-W``), never raw TeX on the page.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from docutils import nodes
from latex2mathml.converter import convert
from sphinx.locale import _
from sphinx.util import logging
from sphinx.util.math import get_node_equation_number

logger = logging.getLogger(__name__)

# Macros latex2mathml does not know, rewritten to ones it does.
_REWRITES = [
    # ``\operatorname{arg\,min}``: spacing inside becomes an empty <mo/>; plain names stay operators
    (re.compile(r"\\operatorname\*?\{([^{}]*\\[^{}]*)\}"), r"\\mathrm{\1}"),
    (re.compile(r"\\operatorname\*\{"), r"\\operatorname{"),
    (re.compile(r"\\arg(?![a-zA-Z])"), r"\\mathrm{arg}"),
]
_TEXT_ARG = re.compile(r"\\(texttt|text|mathrm)\{([^{}]*)\}")

# MathML Core draws only mathvariant="normal"; other variants become the
# Unicode mathematical letters, which every font with math coverage has.
_VARIANT_BASE = {"script": (0x1D49C, 0x1D4B6), "bold": (0x1D400, 0x1D41A),
                 "double-struck": (0x1D538, 0x1D552), "fraktur": (0x1D504, 0x1D51E)}
# Letters that live outside those blocks (the gaps in them).
_VARIANT_HOLES = {
    "script": {"B": "ℬ", "E": "ℰ", "F": "ℱ", "H": "ℋ", "I": "ℐ", "L": "ℒ", "M": "ℳ", "R": "ℛ",
               "e": "ℯ", "g": "ℊ", "o": "ℴ"},
    "double-struck": {"C": "ℂ", "H": "ℍ", "N": "ℕ", "P": "ℙ", "Q": "ℚ", "R": "ℝ", "Z": "ℤ"},
    "fraktur": {"C": "ℭ", "H": "ℌ", "I": "ℑ", "R": "ℜ", "Z": "ℨ"},
}
_VARIANT_MI = re.compile(r'<mi mathvariant="(script|bold|double-struck|fraktur)">([A-Za-z])</mi>')


def _letter(match):
    variant, ch = match.group(1), match.group(2)
    hole = _VARIANT_HOLES.get(variant, {}).get(ch)
    if hole is None:
        upper, lower = _VARIANT_BASE[variant]
        hole = chr((upper + ord(ch) - ord("A")) if ch.isupper() else (lower + ord(ch) - ord("a")))
    return f"<mi>{hole}</mi>"


# Accents drawn as spacing ASCII characters in fonts without a MATH table: use the modifier letters.
_ACCENTS = {"<mo>&#x0005E;</mo></mover>": "<mo>&#x002C6;</mo></mover>",
            '<mo stretchy="false">&#x0007E;</mo></mover>': '<mo stretchy="false">&#x002DC;</mo></mover>'}


_NS = "http://www.w3.org/1998/Math/MathML"
ET.register_namespace("", _NS)
_SCRIPTED = {f"{{{_NS}}}{t}" for t in ("msub", "msup", "msubsup", "munder", "mover", "munderover")}
_PRIMES = {"\u2032", "\u2033", "\u2034"}
_OPENING = {"(", "[", "{", "|", "\u2016", "\u27e8"}


def _tag(el):
    return el.tag.rsplit("}", 1)[-1]


def _opens_a_fence(el):
    while el is not None and _tag(el) == "mrow" and len(el):
        el = el[0]
    return el is not None and _tag(el) == "mo" and (el.text or "").strip() in _OPENING


def _polish(mathml):
    """Typographic fixes browsers need and the converter leaves out.

    A prime is a superscript glyph already: ``f'`` is ``f`` followed by the
    prime, not a prime in a superscript (which sits twice as high).  Function
    and operator names (``tanh``, ``log``, ``relu``, ``max``) are upright
    identifiers followed by a thin space, except before a parenthesis
    or an operator: ``tanh x``, ``relu(x)``.
    """
    root = ET.fromstring(mathml)
    parents = {child: parent for parent in root.iter() for child in parent}
    for el in list(root.iter(f"{{{_NS}}}msup")):
        if len(el) == 2 and (el[1].text or "").strip() in _PRIMES and not len(el[1]):
            el.tag, el[1].tag = f"{{{_NS}}}mrow", f"{{{_NS}}}mo"
    for el in list(root.iter()):
        text = (el.text or "").strip()
        if _tag(el) not in ("mi", "mo") or len(text) < 2 or not text.isalpha():
            continue
        el.tag = f"{{{_NS}}}mi"
        unit = el
        while unit in parents and parents[unit].tag in _SCRIPTED and parents[unit][0] is unit:
            unit = parents[unit]
        parent = parents.get(unit)
        if parent is None or parent.tag in _SCRIPTED:
            continue
        siblings = list(parent)
        nxt = siblings[siblings.index(unit) + 1] if siblings.index(unit) + 1 < len(siblings) else None
        if nxt is None or _tag(nxt) == "mo" or _opens_a_fence(nxt):
            continue
        space = ET.Element(f"{{{_NS}}}mspace", {"width": "0.1667em"})
        parent.insert(siblings.index(unit) + 1, space)
        parents[space] = parent
    return ET.tostring(root, encoding="unicode")


def tex_to_mathml(tex, display=False):
    """MathML for the TeX formula ``tex``; raises ``ValueError`` on a macro it cannot render."""
    for pattern, repl in _REWRITES:
        tex = pattern.sub(repl, tex)
    tex = _TEXT_ARG.sub(lambda m: "\\%s{%s}" % (m.group(1), m.group(2).replace("\\_", "_")), tex)
    if "\\\\" in tex and "\\begin" not in tex:
        tex = "\\begin{split}%s\\end{split}" % tex
    try:
        out = convert(tex, display="block" if display else "inline")
    except Exception as exc:  # the converter's own errors: say which formula
        raise ValueError(f"cannot convert {tex!r} to MathML: {type(exc).__name__}: {exc}") from None
    leftover = re.findall(r">[^<]*\\[A-Za-z]+[^<]*<", out)
    if leftover:
        raise ValueError(f"unknown TeX macro in {tex!r}: {leftover[0][1:-1]!r}")
    for ascii_accent, modifier in _ACCENTS.items():
        out = out.replace(ascii_accent, modifier)
    return _polish(_VARIANT_MI.sub(_letter, out))


def _render(self, node, tex, display):
    try:
        return tex_to_mathml(tex, display)
    except ValueError as exc:
        logger.warning(str(exc), location=node)
        return '<code class="math-error">' + self.encode(tex) + "</code>"


def html_visit_math(self, node):
    self.body.append(self.starttag(node, "span", "", CLASS="math notranslate nohighlight"))
    self.body.append(_render(self, node, node.astext(), False) + "</span>")
    raise nodes.SkipNode


def html_visit_displaymath(self, node):
    self.body.append(self.starttag(node, "div", CLASS="math notranslate nohighlight"))
    if node["number"]:
        number = get_node_equation_number(self, node)
        self.body.append('<span class="eqno">(%s)' % number)
        self.add_permalink_ref(node, _("Link to this equation"))
        self.body.append("</span>")
    for part in (p for p in node.astext().split("\n\n") if p.strip()):
        self.body.append(_render(self, node, part, True))
    self.body.append("</div>\n")
    raise nodes.SkipNode


def setup(app):
    app.add_html_math_renderer("mathml", inline_renderers=(html_visit_math, None),
                               block_renderers=(html_visit_displaymath, None))
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
