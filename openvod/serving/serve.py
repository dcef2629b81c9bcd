"""``openvod serve``: the API/origin listener, the blob listener and in-process workers.

Both listeners run on openvod's own HTTP server (:mod:`openvod.httpd`) in one
asyncio loop, so every port has the same limits (timeouts, connection cap,
header and body sizes); the workers run in threads beside it. SIGTERM or
SIGINT (when run in the main thread) stops accepting, lets in-flight
responses finish for ``graceful_seconds``, then returns.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import ssl
import threading

from openvod.api.app import create_api_app
from openvod.blob.app import MAX_PUT_BLOB_BYTES, create_blob_app
from openvod.context import Context
from openvod.httpd import serve
from openvod.httpd.protocol import ServerState
from openvod.httpd.server import fit_limits
from openvod.keydelivery.app import with_key_delivery
from openvod.origin.app import create_origin_app, create_root_app
from openvod.serving.limits import http_limits
from openvod.serving.tls import ensure_dev_certificate
from openvod.serving.tuning import tune_malloc
from openvod.worker.runner import Worker

log = logging.getLogger(__name__)


class Server:
    """All components of one openvod process; ``run`` blocks until ``stop`` is called."""

    def __init__(self, ctx: Context) -> None:
        tune_malloc()
        self.ctx = ctx
        self.stop_event = threading.Event()
        self.api_app = create_api_app(ctx)
        self.api_app.state.ready = False
        self.root_app = create_root_app(self.api_app, create_origin_app(ctx))
        # Key delivery answers /keydelivery/... on the same port, before the API and origin.
        self.listener_app = with_key_delivery(ctx, self.root_app)
        self.blob_app = create_blob_app(
            ctx.store,
            account_name=ctx.settings.storage_account_name,
            account_key=ctx.storage_key,
        )
        self._workers: list[threading.Thread] = []
        self.listeners: list[ServerState] = []  # of the HTTP server, once listening

    def _ssl_context(self) -> ssl.SSLContext | None:
        s = self.ctx.settings
        if not s.tls:
            return None
        cert, key = (s.tls_cert_file, s.tls_key_file)
        if cert is None or key is None:
            cert, key = ensure_dev_certificate(s.resolved_data_dir / "tls", s.host)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(cert), str(key))
        return context

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
        s = self.ctx.settings
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(signum, stop.set)
        api_limits = fit_limits(http_limits(s), listeners=2)
        blob_limits = fit_limits(http_limits(s, max_body_bytes=MAX_PUT_BLOB_BYTES), listeners=2)
        bound: list[int] = []
        tasks = [
            asyncio.create_task(serve(self.listener_app, s.host, s.port, stop, limits=api_limits,
                                      ssl_context=self._ssl_context(), ready=bound.append,
                                      state_ready=self.listeners.append)),
            asyncio.create_task(serve(self.blob_app, s.host, s.resolved_blob_port, stop,
                                      limits=blob_limits, ready=bound.append,
                                      state_ready=self.listeners.append)),
        ]  # fmt: skip
        watcher = asyncio.create_task(self._watch(stop))
        while len(bound) < len(tasks) and not any(t.done() for t in tasks):
            await asyncio.sleep(0.02)
        if len(bound) == len(tasks):
            self._start_workers()
            self.api_app.state.ready = True
            log.info("openvod ready at %s", s.resolved_public_url)
            await asyncio.wait([*tasks, watcher], return_when=asyncio.FIRST_COMPLETED)
        stop.set()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        watcher.cancel()
        self.stop_event.set()
        for result in results:
            if isinstance(result, BaseException):
                raise result
        if len(bound) < len(tasks):
            raise RuntimeError("a listener failed to start (is the port in use?)")

    async def _watch(self, stop: asyncio.Event) -> None:
        """Set ``stop`` when :meth:`stop` is called from another thread (or a signal came)."""
        while not self.stop_event.is_set() and not stop.is_set():
            await asyncio.sleep(0.1)
        stop.set()

    def run(self) -> None:
        """Serve until stopped (SIGTERM, Ctrl-C or ``stop``)."""
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
