"""cloud-init user data for the nodes: ready Docker (and the NVIDIA container toolkit on GPU nodes), then prove it;
and the readiness check that waits for it over SSH.

User data is plaintext in state (docs/pulumi.md §6): no secrets here. The script ends by writing a marker that the
node's readiness command waits for, so no container is created on a host whose runtime is not working. It is safe to
run again: when the first boot failed (a package mirror down, say), the readiness check runs it once more before it
gives up, and a failure names the log to read (docs/aws.md, "When a node does not come up").
"""

from __future__ import annotations

READY_MARKER = "/var/lib/llmstack/ready"
INIT_LOG = "/var/log/llmstack-init.log"
CLOUD_INIT_LOG = "/var/log/cloud-init-output.log"
# cloud-init keeps the user data it ran here (cloudinit.readthedocs.io, "Boot stages": /var/lib/cloud/instance).
USER_DATA_COPY = "/var/lib/cloud/instance/user-data.txt"
# A pinned small image to prove `--gpus all` works end to end (the toolkit injects nvidia-smi into it).
PROBE_IMAGE = "ubuntu:22.04"
# Ubuntu runs unattended-upgrades on first boot and holds the dpkg lock meanwhile ("Could not get lock", see
# saveriomiroddi.github.io/Handling-the-apt-lock-on-ubuntu-server-installations, 2020): apt waits for the lock for up
# to 10 minutes (apt.conf(5) `DPkg::Lock::Timeout`, apt >= 1.9.11; blog.sinjakli.co.uk/2021/10/25) and retries
# downloads (`Acquire::Retries`); `retry` covers the lists lock of `apt-get update` and mirror hiccups.
APT_LOCK_TIMEOUT_S = 600
RETRIES = 5

_COMMON = """#!/bin/bash
# llmstack node setup. Safe to run again: the readiness check re-runs it once if the first boot failed.
set -euo pipefail
exec > >(tee -a {log}) 2>&1
echo "llmstack: node setup started $(date -Is)"
mkdir -p /var/lib/llmstack
retry() {{  # retry CMD...: {retries} attempts, 10 s, 20 s, ... apart
  local n
  for n in $(seq 1 {retries}); do
    "$@" && return 0
    echo "llmstack: attempt $n of {retries} failed: $*" >&2
    sleep $((n * 10))
  done
  return 1
}}
export DEBIAN_FRONTEND=noninteractive
APT="apt-get -o DPkg::Lock::Timeout={lock_timeout} -o Acquire::Retries={retries}"
if ! command -v docker >/dev/null; then
  retry $APT update
  retry $APT install -y --no-install-recommends docker.io
fi
systemctl enable --now docker
usermod -aG docker {user}
"""

# The Deep Learning Base OSS Nvidia Driver AMI ships the driver, Docker and the NVIDIA container toolkit; install the
# toolkit from NVIDIA's apt repository only if a different AMI lacks it
# (docs.nvidia.com/datacenter/cloud-native/container-toolkit/latest/install-guide.html).
_GPU = """if ! command -v nvidia-ctk >/dev/null; then
  retry curl -fsSL --retry {retries} https://nvidia.github.io/libnvidia-container/gpgkey -o /tmp/nvidia.gpg
  gpg --batch --yes --dearmor -o /usr/share/keyrings/nvidia-container-toolkit-keyring.gpg /tmp/nvidia.gpg
  retry curl -fsSL --retry {retries} \\
    https://nvidia.github.io/libnvidia-container/stable/deb/nvidia-container-toolkit.list -o /tmp/nvidia.list
  sed 's#deb https://#deb [signed-by=/usr/share/keyrings/nvidia-container-toolkit-keyring.gpg] https://#g' \\
    /tmp/nvidia.list > /etc/apt/sources.list.d/nvidia-container-toolkit.list
  retry $APT update
  retry $APT install -y nvidia-container-toolkit
fi
nvidia-ctk runtime configure --runtime=docker
systemctl restart docker
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
retry docker pull {probe}
docker run --rm --gpus all {probe} nvidia-smi -L
"""

_DONE = """echo "llmstack: node setup finished $(date -Is)"
touch {marker}
"""


def user_data(*, gpu: bool, user: str = "ubuntu") -> str:
    script = _COMMON.format(user=user, log=INIT_LOG, retries=RETRIES, lock_timeout=APT_LOCK_TIMEOUT_S)
    if gpu:
        script += _GPU.format(probe=PROBE_IMAGE, retries=RETRIES)
    return script + _DONE.format(marker=READY_MARKER)


# What the readiness check prints last: the node's SSH host keys, which the Docker provider is then pinned to
# (components/nodes.py, `known_hosts`).
HOST_KEYS = "/etc/ssh/ssh_host_*_key.pub"


def wait_ready_command(host: str = "<node>", user: str = "ubuntu") -> str:
    """Run over SSH: wait for cloud-init, re-run the setup once if it did not finish, then print the host keys.

    `cloud-init status --wait` exits non-zero when a stage failed (cloud-init >= 23.4: 1 error, 2 recoverable), so
    its status is judged by the marker instead. On failure the last lines of the setup log go to stderr, which
    `pulumi up` shows, with the command to read the whole log."""
    read_logs = f"ssh {user}@{host} sudo tail -n 200 {INIT_LOG} {CLOUD_INIT_LOG}"
    return f"""set -u
cloud-init status --wait >/dev/null 2>&1 || true
if [ ! -f {READY_MARKER} ]; then
  echo "llmstack: the node setup did not finish on first boot; running it once more" >&2
  sudo bash {USER_DATA_COPY} >/dev/null 2>&1 || true
fi
if [ ! -f {READY_MARKER} ]; then
  echo "llmstack: the node setup failed. Last lines of {INIT_LOG}:" >&2
  sudo tail -n 40 {INIT_LOG} >&2 || true
  echo "llmstack: read the whole log with: {read_logs}" >&2
  exit 1
fi
cat {HOST_KEYS}
"""
