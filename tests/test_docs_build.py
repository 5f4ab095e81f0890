"""The documentation site builds with warnings as errors, and works offline.

The site is built once per test session (about 15 s); the offline checks read
the built pages: no page loads a script, stylesheet, font or image from the
network, and every formula is MathML rendered at build time (no raw TeX left
for a CDN-loaded MathJax to typeset).
"""

import html.parser
import importlib.util
import pathlib
import re
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow  # the slow tier: run with -m slow (ci/test.sh does)

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    pytest.importorskip("sphinx")
    pytest.importorskip("myst_parser")
    pytest.importorskip("latex2mathml")
    out = tmp_path_factory.mktemp("html")
    res = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", str(ROOT / "docs"), str(out)],
        capture_output=True, text=True, timeout=300,
    )
    return out, res


def test_sphinx_build_without_warnings(site):
    out, res = site
    assert res.returncode == 0, res.stderr[-4000:]
    assert (out / "index.html").is_file()


# ------------------------------------------------------------------ offline
_EXTERNAL = re.compile(r"^\s*(https?:)?//", re.I)


class _Resources(html.parser.HTMLParser):
    """Every URL a page *loads* (not links it offers): scripts, stylesheets, images, frames..."""

    def __init__(self):
        super().__init__()
        self.loads = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "link":
            rel = (a.get("rel") or "").lower().split()
            if {"stylesheet", "preload", "modulepreload", "icon", "prefetch", "manifest"} & set(rel):
                self.loads.append(a.get("href") or "")
        elif tag in ("script", "img", "iframe", "source", "audio", "video", "embed", "track"):
            self.loads.append(a.get("src") or "")
        elif tag == "object":
            self.loads.append(a.get("data") or "")


def external_loads(page_text):
    parser = _Resources()
    parser.feed(page_text)
    inline_css = re.findall(r"""url\(\s*['"]?([^'")]*)""", page_text)
    return [u for u in parser.loads + inline_css if _EXTERNAL.match(u)]


def test_external_load_detector_catches_the_cdn_script():
    page = ('<html><head><script defer src="https://cdn.jsdelivr.net/npm/mathjax@4/tex-mml-chtml.js"></script>'
            '<link rel="stylesheet" href="//fonts.example.org/a.css"><link rel="stylesheet" href="_static/x.css">'
            '</head><body><a href="https://example.org">a link is fine</a>'
            '<math xmlns="http://www.w3.org/1998/Math/MathML"></math></body></html>')
    assert external_loads(page) == ["https://cdn.jsdelivr.net/npm/mathjax@4/tex-mml-chtml.js",
                                    "//fonts.example.org/a.css"]


def test_built_pages_load_nothing_from_the_network(site):
    out, res = site
    assert res.returncode == 0, res.stderr[-4000:]
    pages = sorted(out.rglob("*.html"))
    assert len(pages) > 20
    bad = {str(p.relative_to(out)): external_loads(p.read_text(encoding="utf-8")) for p in pages}
    assert not {k: v for k, v in bad.items() if v}
    for css in out.rglob("*.css"):
        text = css.read_text(encoding="utf-8")
        urls = re.findall(r"""(?:url\(\s*['"]?|@import\s+['"])([^'")]*)""", text)
        assert not [u for u in urls if _EXTERNAL.match(u)], css.name


def test_math_is_rendered_at_build_time(site):
    out, res = site
    assert res.returncode == 0, res.stderr[-4000:]
    n_math = 0
    for page in out.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        spans = re.findall(r'<(?:span|div) class="math notranslate nohighlight">(.*?)</(?:span|div)>', text, re.S)
        for body in spans:
            assert "<math" in body, f"{page.name}: formula not rendered: {body[:200]}"
        assert "\\(" not in text and "\\[" not in text, f"{page.name}: TeX delimiters left for MathJax"
        assert "math-error" not in text, page.name
        n_math += text.count("<math ")
    assert n_math > 300  # the API pages state their formulas
    losses = (out / "api" / "losses.html").read_text(encoding="utf-8")
    assert '<math xmlns="http://www.w3.org/1998/Math/MathML" display="block">' in losses
    assert "<mfrac>" in losses and "\u2211" in losses  # fractions and sums, not TeX source
    assert '<link rel="stylesheet" type="text/css" href="../_static/mathml.css' in losses  # a math font
    assert (out / "_static" / "mathml.css").is_file()


def _mathml_module():
    pytest.importorskip("latex2mathml")
    spec = importlib.util.spec_from_file_location("pml_docs_mathml", ROOT / "docs" / "_ext" / "mathml.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("tex, expected", [
    (r"\operatorname{var}(x)", "<mi>var</mi><mo stretchy=\"false\">(</mo>"),  # relu(x): no space before (
    (r"\tanh x", "<mi>tanh</mi><mspace width=\"0.1667em\" /><mi>x</mi>"),  # tanh x: a thin space
    (r"\log_2 x", "<msub><mi>log</mi><mn>2</mn></msub><mspace width=\"0.1667em\" /><mi>x</mi>"),
    (r"f'(x)", "<mrow><mi>f</mi><mo>\u2032</mo></mrow>"),  # the prime glyph is raised already
    (r"\hat y", "<mover accent=\"true\"><mi>y</mi><mo>\u02c6</mo></mover>"),
    (r"w = \arg\min \|y\|", "<mi mathvariant=\"normal\">a</mi>"),
    (r"\texttt{l1\_ratio}", '<mtext mathvariant="monospace">l1_ratio</mtext>'),
    (r"\operatorname*{arg\,min}_x f", "<mi mathvariant=\"normal\">g</mi>"),
    (r"\mathcal N", "<mi>\U0001D4A9</mi>"),  # MATHEMATICAL SCRIPT CAPITAL N
    (r"\mathcal L", "<mi>\u2112</mi>"),  # SCRIPT CAPITAL L (a hole in the script block)
    (r"a \\ b", "<mtable"),
])
def test_tex_to_mathml_rewrites(tex, expected):
    out = _mathml_module().tex_to_mathml(tex)
    assert out.startswith("<math") and expected in out
    assert "\\" not in re.sub(r"<[^>]*>", "", out)


def test_tex_to_mathml_unknown_macro_is_an_error():
    with pytest.raises(ValueError, match=r"unknown TeX macro.*\\frobnicate"):
        _mathml_module().tex_to_mathml(r"\frobnicate{x} + 1")
