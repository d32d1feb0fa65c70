"""The docs site as a reader sees it: built with ``mkdocs build --strict`` and inspected.

One build (about 15 s, most of it mkdocstrings reading the three packages) into a temporary
directory, then checks on the generated HTML:

- no page shows a fast-mode figure (docs/hooks.py writes "last build, fast mode" above the key
  numbers of a fast run, and each figure's JSON says ``"fast": true``), and every page that
  embeds an example says how its figure was made (the ``build_figures.py --only`` command);
- every image a page references exists in the built site;
- the theory and API pages are in the navigation; the theory page has sections 1-11 and every
  equation number the code cites; the API page documents every public name of each package;
  every link of the equation map to the API page lands on an entry;
- equations are rendered: arithmatex spans in the pages, the vendored MathJax script referenced
  by a local path that exists in the site, and no script or stylesheet from a remote URL, so
  the site works offline.
"""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
sys.path.insert(0, str(DOCS))
from hooks import public_names  # noqa: E402

_EXAMPLE = re.compile(r"^<!-- example: (\w+) -->$", re.M)
#: equation numbers the code's docstrings cite (they must exist in docs/theory.md)
CITED = ("3.1", "3.2", "4.1", "4.2", "4.3", "4.4", "5.1", "5.2", "6.1", "6.2", "6.3",
          "3.7", "6.7", "11.1", "11.2", "11.3", "11.4", "11.5", "11.6", "11.7", "11.8", "11.9",
          "11.10")
API_PACKAGES = ("dmft", "simulate", "gnode", "gnode.tasks")


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "GNODE_DOCS_FAST": "1", "MPLBACKEND": "Agg",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict",
                           "-d", str(out)], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{proc.stderr[-4000:]}"
    return out


def pages(site: Path) -> dict[str, str]:
    """Rendered HTML of every page (404 and search excluded), keyed by its path in the site."""
    out = {}
    for f in sorted(site.rglob("index.html")):
        rel = f.relative_to(site).as_posix()
        if not rel.startswith(("search/", "examples/")):
            out[rel] = f.read_text()
    return out


def example_pages() -> dict[str, list[str]]:
    """{page.md: [example names]} for the Markdown sources with an example marker."""
    out = {}
    for md in sorted(DOCS.glob("*.md")):
        names = _EXAMPLE.findall(md.read_text())
        if names:
            out[md.name] = names
    return out


def page_html(site: Path, md_name: str) -> str:
    stem = md_name.removesuffix(".md")
    return (site / ("index.html" if stem == "index" else f"{stem}/index.html")).read_text()


def test_example_pages_found():
    # the marker regex must see the examples (a check over nothing passes nothing)
    assert sum(len(v) for v in example_pages().values()) == 10


def test_no_fast_mode_figure(site):
    for name, text in pages(site).items():
        assert "last build, fast mode" not in text, f"{name} shows a fast-mode build"
    for md, names in example_pages().items():
        for name in names:
            numbers = json.loads((DOCS / "figures" / f"{name}.json").read_text())
            assert numbers["fast"] is False, f"{md}: docs/figures/{name}.json is a fast run"


def test_example_pages_state_their_run():
    # each page says how its figure was made: the command (size and time are in the same
    # sentence by convention; the command is the part a reader needs to reproduce it)
    for md, names in example_pages().items():
        text = (DOCS / md).read_text()
        for name in names:
            assert f"build_figures.py --only {name}" in text, f"{md}: no command for {name}"


def test_every_referenced_figure_exists(site):
    n_images = 0
    for name, text in pages(site).items():
        base = (site / name).parent
        for src in re.findall(r'<img[^>]*\ssrc="([^"]+)"', text):
            url = urlsplit(html.unescape(src))
            assert not url.scheme and not url.netloc, f"{name}: remote image {src}"
            target = (base / unquote(url.path)).resolve()
            assert target.is_file(), f"{name}: image {src} missing from the site"
            n_images += 1
    assert n_images >= 8   # one figure per example page at least


def test_theory_and_api_in_navigation(site):
    home = (site / "index.html").read_text()
    start = home.index('<div id="navbar-collapse"')
    nav = home[start:home.index('<div id="toc-collapse"', start)]
    for href, label in (("theory/", "Theory"), ("api/", "API reference"),
                        ("equations/", "Theory to code")):
        assert re.search(rf'href="{re.escape(href)}"[^>]*>\s*{re.escape(label)}\s*<', nav), \
            f"navigation lacks {label} ({href})"


def test_theory_sections_and_cited_equations(site):
    text = (site / "theory" / "index.html").read_text()
    for n in range(1, 12):
        assert re.search(rf'<h2 id="{n}-[^"]*">{n}\. ', text), f"theory: no section {n}"
    for eq in CITED:
        assert rf"\tag{{{eq}}}" in text, f"theory: equation ({eq}) missing"


def test_api_documents_public_names(site):
    text = (site / "api" / "index.html").read_text()
    ids = set(re.findall(r'id="([^"]+)"', text))
    for package in API_PACKAGES:
        names = public_names(package)
        assert len(names) >= 3, (package, names)
        missing = [n for n in names if f"{package}.{n}" not in ids]
        assert not missing, f"API page lacks {package}: {missing}"


def test_equation_map_links_resolve(site):
    api_ids = set(re.findall(r'id="([^"]+)"', (site / "api" / "index.html").read_text()))
    links = re.findall(r'href="\.\./api/#([^"]+)"', (site / "equations" / "index.html").read_text())
    assert len(links) >= 40
    assert not sorted(set(links) - api_ids)


def test_math_rendered_offline(site):
    mathjax = site / "javascripts" / "mathjax" / "tex-svg.js"
    assert mathjax.is_file() and mathjax.stat().st_size > 1_000_000   # the full component
    all_pages = pages(site)
    for name, text in all_pages.items():
        for tag in re.findall(r"<(?:script|link)\b[^>]*>", text):
            m = re.search(r'\s(?:src|href)="([^"]*)"', tag)
            if m is None:
                continue
            url = urlsplit(html.unescape(m.group(1)))
            assert not url.scheme and not url.netloc, f"{name}: remote resource in {tag}"
        scripts = re.findall(r'<script\b[^>]*\ssrc="([^"]+)"', text)
        local = [s for s in scripts if s.endswith("javascripts/mathjax/tex-svg.js")]
        assert local, f"{name}: MathJax not loaded"
        assert ((site / name).parent / local[0]).resolve() == mathjax.resolve()
        config = [i for i, s in enumerate(scripts) if s.endswith("mathjax-config.js")]
        assert config and config[0] < scripts.index(local[0]), f"{name}: config after MathJax"
    # the equations are marked up for MathJax (generic arithmatex spans), in the theory page
    # and in the example pages that write formulas
    theory = all_pages["theory/index.html"]
    assert theory.count('class="arithmatex"') > 200
    for md in ("index.md", "critical_init.md", "autocorrelation.md", "gating.md", "nonleaky.md",
               "phase_diagram.md"):
        assert 'class="arithmatex"' in page_html(site, md), f"{md}: no rendered math"
    assert not re.search(r"<span class=\"arithmatex\">(?!\\\()", theory)


def test_docs_sources_refer_to_no_outside_file():
    for md in sorted(DOCS.glob("*.md")):
        assert "THEORY.md" not in md.read_text(), f"{md.name} cites THEORY.md (outside the repo)"
