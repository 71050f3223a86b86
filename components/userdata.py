"""cloud-init user data for the nodes: ready Docker (and the NVIDIA container toolkit on GPU nodes), then prove it.

User data is plaintext in state (docs/pulumi.md §6): no secrets here. The script ends by writing a marker that the
node's readiness command waits for, so no container is created on a host whose runtime is not working.
"""

from __future__ import annotations

READY_MARKER = "/var/lib/llmstack/ready"
# A pinned small image to prove `--gpus all` works end to end (the toolkit injects nvidia-smi into it).
PROBE_IMAGE = "ubuntu:22.04"

_COMMON = """#!/bin/bash
set -euo pipefail
exec > >(tee -a /var/log/llmstack-init.log) 2>&1
mkdir -p /var/lib/llmstack
if ! command -v docker >/dev/null; then
  apt-get update && apt-get install -y --no-install-recommends docker.io
fi
systemctl enable --now docker
usermod -aG docker {user}
"""

# The Deep Learning Base OSS Nvidia Driver AMI ships the driver, Docker and the NVIDIA container toolkit; install the
# toolkit from NVIDIA's apt repository only if a different AMI lacks it
# (docs.nvidia.com/datacenter/cloud-native/container-toolkit/latest/install-guide.html).
_GPU = """if ! command -v nvidia-ctk >/dev/null; then
  curl -fsSL https://nvidia.github.io/libnvidia-container/gpgkey \\
    | gpg --dearmor -o /usr/share/keyrings/nvidia-container-toolkit-keyring.gpg
  curl -fsSL https://nvidia.github.io/libnvidia-container/stable/deb/nvidia-container-toolkit.list \\
    | sed 's#deb https://#deb [signed-by=/usr/share/keyrings/nvidia-container-toolkit-keyring.gpg] https://#g' \\
    > /etc/apt/sources.list.d/nvidia-container-toolkit.list
  apt-get update && apt-get install -y nvidia-container-toolkit
fi
nvidia-ctk runtime configure --runtime=docker
systemctl restart docker
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
docker run --rm --gpus all {probe} nvidia-smi -L
"""

_DONE = "touch {marker}\n"


def user_data(*, gpu: bool, user: str = "ubuntu") -> str:
    script = _COMMON.format(user=user)
    if gpu:
        script += _GPU.format(probe=PROBE_IMAGE)
    return script + _DONE.format(marker=READY_MARKER)


def wait_ready_command() -> str:
    """Run over SSH: succeeds once cloud-init finished and the runtime checks passed, fails if they failed."""
    return f"cloud-init status --wait >/dev/null; test -f {READY_MARKER}"
