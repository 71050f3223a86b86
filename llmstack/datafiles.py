"""Reading the packaged data files (catalog, engine table, exporters): YAML with libyaml's C parser.

PyYAML's pure-Python parser takes most of a second for the catalog on a slow core; the C `CSafeLoader` (bundled in
PyYAML's wheels) is the same safe loader, 10-20x faster. Every `llmstack plan` pays this, so it matters.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

import yaml

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(package: str, name: str) -> Any:
    """Parse the data file `name` shipped in `package` (e.g. `llmstack.catalog`, `engines.yaml`)."""
    return yaml.load(resources.files(package).joinpath(name).read_text(), Loader=_Loader)
