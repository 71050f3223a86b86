"""A stand-in for the `ssh` client `llmstack verify --via-ssh` starts: the part of ssh(1) verify relies on, `-N` with
`-L [bind_address:]port:host:hostport` local forwards, done for real over TCP (tests/verify/tcp_relay.py).

What can't exist here is the SSH server on the gateway's node and the network behind it; the forwards themselves are
real sockets, and they only ever reach loopback (a forward to any other host is refused, as the tests' traffic stays
on this machine). The arguments are written as JSON to `$SSH_STANDIN_LOG`; with `$SSH_STANDIN_FAIL` set it prints
that to stderr and exits 255, as ssh does when it can't log in. Run as `python -m tests.verify.ssh_standin`.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys

from tests.verify.tcp_relay import is_loopback, serve


def main(argv: list[str]) -> int:
    if log := os.environ.get("SSH_STANDIN_LOG"):
        with open(log, "w") as out:
            json.dump(argv, out)
    if failure := os.environ.get("SSH_STANDIN_FAIL"):
        print(failure, file=sys.stderr)
        return 255
    forwards = []
    for arg in argv:
        if arg.startswith("-L"):
            bind, local, host, port = arg.removeprefix("-L").split(":")
            if not is_loopback(host):
                print(f"ssh stand-in: refusing a forward to {host}: tests stay on loopback", file=sys.stderr)
                return 255
            forwards.append((bind, int(local), host, int(port)))
    asyncio.run(serve(forwards))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
