"""Entry point the Pulumi CLI runs (`python -m pulumi.policy <engine> <pack dir>`, cwd = this folder).

It only builds the pack; constructing `PolicyPack` starts the analyzer's gRPC server, prints its port and blocks.
The repository root is put on sys.path so `import policies` and `import llmstack` work whether the project is
installed in the virtualenv (`uv sync`) or not.
"""

import sys
from pathlib import Path

_ROOT = str(Path(__file__).resolve().parent.parent)
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from pulumi_policy import PolicyPack  # noqa: E402

from policies import ALL_POLICIES, DESCRIPTION, PACK_LEVEL, PACK_NAME  # noqa: E402

PolicyPack(PACK_NAME, policies=list(ALL_POLICIES), enforcement_level=PACK_LEVEL, description=DESCRIPTION)
