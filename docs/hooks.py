"""mkdocs hooks: build missing figures before the build; expand example markers in pages.

A page line ``<!-- example: NAME -->`` becomes the example's key numbers (from
``docs/figures/NAME.json``) and its source (``docs/examples/NAME.py``) in a code block.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
_MARK = re.compile(r"^<!-- example: (\w+) -->$", re.M)


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


def on_page_markdown(markdown, page, config, files, **kwargs):
    return _MARK.sub(_expand, markdown)
