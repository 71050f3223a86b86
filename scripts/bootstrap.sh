# Sourced by the other scripts: makes sure uv and the locked environment are there. Safe to run again.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if ! python3 -m uv --version >/dev/null 2>&1; then
  python3 -m pip install --quiet "uv>=0.9,<1" || python3 -m pip install --quiet --break-system-packages "uv>=0.9,<1"
fi
# --frozen: install exactly what uv.lock pins, verifying every hash; never re-resolve.
python3 -m uv sync --frozen --quiet
