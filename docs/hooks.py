"""mkdocs hooks: build missing figures before the build; expand example and API markers in pages.

A page line ``<!-- example: NAME -->`` becomes the example's key numbers (from
``docs/figures/NAME.json``) and its source (``docs/examples/NAME.py``) in a code block.

A page line ``<!-- api: PACKAGE -->`` becomes one mkdocstrings block (``::: PACKAGE.NAME``) per
public name of the package, in the order its ``__init__.py`` lists them: ``__all__`` where the
package defines it, otherwise the names it re-exports as ``from .module import NAME as NAME``
(the explicit re-export form).  The API page therefore follows the packages' own export lists:
a name added to or removed from an ``__init__.py`` appears on or leaves the page without an edit
here, and each entry is documented under its public path (``dmft.sampled``), never under the
private module that happens to define it.
"""

from __future__ import annotations

import ast
import json
import os
import re
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
_MARK = re.compile(r"^<!-- example: (\w+) -->$", re.M)
_API = re.compile(r"^<!-- api: ([\w.]+) -->$", re.M)


def on_pre_build(config, **kwargs):
    sys.path.insert(0, str(DOCS))
    from build_figures import build

    build(fast=os.environ.get("GNODE_DOCS_FAST", "1") != "0", missing=True)


def _expand(match: re.Match) -> str:
    name = match.group(1)
    js = DOCS / "figures" / f"{name}.json"
    numbers = json.loads(js.read_text()) if js.is_file() else {}
    numbers.pop("figure", None)
    src = (DOCS / "examples" / f"{name}.py").read_text()
    return ("**Key numbers** (last build"
            f"{', fast mode' if numbers.get('fast') else ''}):\n\n```json\n"
            f"{json.dumps(numbers, indent=1)}\n```\n\n"
            f"Source, `docs/examples/{name}.py` (run it with `--fast` for the reduced "
            f"version):\n\n```python\n{src}```\n")


def _str_list(node: ast.AST) -> list[str]:
    if isinstance(node, ast.List | ast.Tuple):
        return [e.value for e in node.elts if isinstance(e, ast.Constant)
                and isinstance(e.value, str)]
    return []


def public_names(package: str) -> list[str]:
    """The public names of ``package`` read from its ``__init__.py`` (module docstring)."""
    init = ROOT.joinpath(*package.split(".")) / "__init__.py"
    tree = ast.parse(init.read_text(), filename=str(init))
    listed: list[str] = []
    reexported: list[str] = []
    has_all = False
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            has_all, listed = True, _str_list(node.value)
        elif isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name) \
                and node.target.id == "__all__":
            listed += _str_list(node.value)
        elif isinstance(node, ast.ImportFrom):
            reexported += [a.name for a in node.names if a.asname == a.name]
    names = listed if has_all else reexported
    return list(dict.fromkeys(n for n in names if not n.startswith("_")))


def _api(match: re.Match) -> str:
    package = match.group(1)
    return "\n\n".join(f"::: {package}.{name}" for name in public_names(package)) + "\n"


def on_page_markdown(markdown, page, config, files, **kwargs):
    return _API.sub(_api, _MARK.sub(_expand, markdown))


# Sphinx roles in the numpy-style docstrings (":func:`x`") are not Markdown: mkdocstrings renders
# them as ":func:" followed by the code span.  The role prefix is dropped; the code span stays.
_ROLE = re.compile(r":(?:func|meth|class|mod|attr|data|exc|obj):(?=<code>)")


def on_page_content(html, page, config, files, **kwargs):
    return _ROLE.sub("", html)
