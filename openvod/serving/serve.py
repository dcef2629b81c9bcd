"""``openvod serve``: the API/origin listener, the blob listener and in-process workers."""

from __future__ import annotations

import asyncio
import logging
import threading

import uvicorn

from openvod.api.app import create_api_app
from openvod.blob.app import create_blob_app
from openvod.context import Context
from openvod.origin.app import create_origin_app, create_root_app
from openvod.serving.tls import ensure_dev_certificate
from openvod.serving.tuning import tune_malloc
from openvod.worker.runner import Worker

log = logging.getLogger(__name__)


class Server:
    """All components of one openvod process; ``run`` blocks until ``stop`` is set."""

    def __init__(self, ctx: Context) -> None:
        tune_malloc()
        self.ctx = ctx
        self.stop_event = threading.Event()
        self.api_app = create_api_app(ctx)
        self.api_app.state.ready = False
        self.root_app = create_root_app(self.api_app, create_origin_app(ctx))
        self.blob_app = create_blob_app(
            ctx.store,
            account_name=ctx.settings.storage_account_name,
            account_key=ctx.storage_key,
        )
        self._servers: list[uvicorn.Server] = []
        self._workers: list[threading.Thread] = []

    def _api_config(self) -> uvicorn.Config:
        s = self.ctx.settings
        kwargs: dict[str, object] = {}
        if s.tls:
            cert, key = (s.tls_cert_file, s.tls_key_file)
            if cert is None or key is None:
                cert, key = ensure_dev_certificate(s.resolved_data_dir / "tls", s.host)
            kwargs = {"ssl_certfile": str(cert), "ssl_keyfile": str(key)}
        return uvicorn.Config(
            self.root_app, host=s.host, port=s.port, log_level=s.log_level.lower(),
            access_log=False, lifespan="off", **kwargs,  # type: ignore[arg-type]
        )

    def _blob_config(self) -> uvicorn.Config:
        s = self.ctx.settings
        return uvicorn.Config(
            self.blob_app, host=s.host, port=s.resolved_blob_port,
            log_level=s.log_level.lower(), access_log=False, lifespan="off",
        )

    def _start_workers(self) -> None:
        if not self.ctx.settings.run_worker:
            return
        for index in range(self.ctx.settings.worker_concurrency):
            worker = Worker(self.ctx)
            thread = threading.Thread(
                target=worker.run_forever, args=(self.stop_event,), daemon=True,
                name=f"worker-{index}",
            )
            thread.start()
            self._workers.append(thread)

    async def _serve(self) -> None:
        self._servers = [uvicorn.Server(self._api_config()), uvicorn.Server(self._blob_config())]
        tasks = [asyncio.create_task(s.serve()) for s in self._servers]
        while not all(s.started for s in self._servers):
            if any(t.done() for t in tasks):
                break
            await asyncio.sleep(0.05)
        if all(s.started for s in self._servers):
            self._start_workers()
            self.api_app.state.ready = True
            log.info("openvod ready at %s", self.ctx.settings.resolved_public_url)
        while not self.stop_event.is_set() and not any(t.done() for t in tasks):
            await asyncio.sleep(0.2)
        for server in self._servers:
            server.should_exit = True
        results = await asyncio.gather(*tasks, return_exceptions=True)
        self.stop_event.set()
        for result in results:
            if isinstance(result, BaseException):
                raise result
        if not all(s.started for s in self._servers):
            raise RuntimeError("a listener failed to start (is the port in use?)")

    def run(self) -> None:
        """Serve until stopped (Ctrl-C or ``stop``)."""
        try:
            asyncio.run(self._serve())
        except KeyboardInterrupt:
            self.stop_event.set()
        finally:
            self.stop_event.set()
            for thread in self._workers:
                thread.join(timeout=10)

    def stop(self) -> None:
        """Ask the server to stop."""
        self.stop_event.set()
