"""Plugin entry point: the Pulumi CLI runs `python <this folder> <engine address>` (the explicit layout of a Python
component package, docs/pulumi.md §3.2) in the plugin's virtualenv, which `requirements.txt` fills with this project
at the release tag.

Python puts this folder itself first on sys.path when it runs a directory; it is dropped before importing, so
`components` and `llmstack` resolve as packages (from the installed project) and the modules in here cannot shadow
top-level modules of other distributions. `import components` never runs this file, and nothing is hosted unless it is
run as the main module.
"""

import sys
from pathlib import Path


def main() -> None:
    here = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != here]
    from components.package import serve

    serve()


if __name__ == "__main__":
    main()
