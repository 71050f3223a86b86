"""The TCP half of the ssh and kubectl stand-ins: listen on loopback ports and relay each connection to a loopback
target, for real, until SIGTERM or SIGINT. Anything but loopback is refused: the tests' traffic stays on this
machine."""

from __future__ import annotations

import asyncio
import ipaddress
import signal
from collections.abc import Callable
from functools import partial


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        writer.close()


async def serve(forwards: list[tuple[str, int, str, int]], on_listening: Callable[[], None] = lambda: None) -> None:
    """Each `(bind, local, host, port)`: listen on bind:local, relay to host:port."""
    for bind, _, host, _ in forwards:
        if not (is_loopback(bind) and is_loopback(host)):
            raise ValueError(f"refusing {bind} -> {host}: tests stay on loopback")

    async def handler(target: tuple[str, int], reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*target)
        except OSError:
            writer.close()
            return
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))

    servers = [await asyncio.start_server(partial(handler, (host, port)), bind, local)
               for bind, local, host, port in forwards]
    on_listening()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    await stop.wait()
    for server in servers:
        server.close()
