"""A Docker Engine API look-alike on a unix socket, wired to stand-ins as its "containers".

`GET /_ping` ("OK"), `GET /version`, `GET /containers/{id}/json` (`State.Running`/`Status`),
`POST /containers/{id}/stop` and `POST /containers/{id}/start`, optionally under a `/v1.NN` version
prefix, with the Engine API's status codes: 204 done, 304 already stopped/started, 404
`{"message": "No such container: x"}`.
Stopping a container stops its stand-in (listening socket closed, connections reset); starting it restarts the
stand-in on the same port.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from tests.standins._server import StandIn


class DockerStandIn(StandIn):
    kind = "docker"

    def __init__(self, socket_path: str, containers: dict[str, StandIn]) -> None:
        super().__init__(unix_path=socket_path)
        self.containers = containers

    def routes(self, app: web.Application) -> None:
        for prefix in ("", "/{version:v[0-9.]+}"):
            app.router.add_get(prefix + "/_ping", self.ping)
            app.router.add_get(prefix + "/version", self.version)
            app.router.add_get(prefix + "/containers/{id}/json", self.inspect)
            app.router.add_post(prefix + "/containers/{id}/stop", self.stop_container)
            app.router.add_post(prefix + "/containers/{id}/start", self.start_container)

    async def ping(self, request: web.Request) -> web.Response:
        return web.Response(text="OK", headers={"Api-Version": "1.47"})

    async def version(self, request: web.Request) -> web.Response:
        return web.json_response({"Version": "27.5.1", "ApiVersion": "1.47", "MinAPIVersion": "1.24"})

    def _container(self, request: web.Request) -> tuple[str, StandIn | None]:
        cid = request.match_info["id"]
        return cid, self.containers.get(cid)

    @staticmethod
    def _missing(cid: str) -> web.Response:
        return web.json_response({"message": f"No such container: {cid}"}, status=404)

    async def inspect(self, request: web.Request) -> web.Response:
        cid, target = self._container(request)
        if target is None:
            return self._missing(cid)
        running = target.running
        return web.json_response(
            {
                "Id": cid,
                "Name": "/" + cid,
                "State": {"Status": "running" if running else "exited", "Running": running},
            }
        )

    async def stop_container(self, request: web.Request) -> web.Response:
        cid, target = self._container(request)
        if target is None:
            return self._missing(cid)
        if not target.running:
            return web.Response(status=304)
        await asyncio.get_running_loop().run_in_executor(None, target.stop)
        return web.Response(status=204)

    async def start_container(self, request: web.Request) -> web.Response:
        cid, target = self._container(request)
        if target is None:
            return self._missing(cid)
        if target.running:
            return web.Response(status=304)
        await asyncio.get_running_loop().run_in_executor(None, target.start)
        return web.Response(status=204)
