#!/usr/bin/env bash
# Install promtool (Prometheus' rule/config checker) for tests/monitoring, only if it is missing.
# Debian/Ubuntu ship promtool in the `prometheus` package (bookworm: 2.42). Idempotent: a second run installs
# nothing. Usage: .ci/install-promtool.sh   (as root, or with passwordless sudo)
set -euo pipefail

if ! command -v promtool >/dev/null 2>&1; then
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "install-promtool: promtool is missing and apt-get is not available;" >&2
        echo "install Prometheus' promtool another way (https://prometheus.io/download/)." >&2
        exit 1
    fi
    SUDO=()
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1; then
            SUDO=(sudo)
        else
            echo "install-promtool: need root (or sudo) to run apt-get install prometheus." >&2
            exit 1
        fi
    fi
    echo "install-promtool: installing the prometheus package for promtool"
    "${SUDO[@]}" apt-get update
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus
fi

promtool --version
