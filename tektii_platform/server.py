"""Serve the platform with waitress (threaded, production-grade) on loopback."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

from .app import App, create_app
from .hosts import OwnAddress
from .ids import now_db, rfc3339

log = logging.getLogger(__name__)

STATE_FILE = "platform.json"
DEFAULT_THREADS = 8
_POLL_SECONDS = 0.5  # how quickly a stop request is noticed by the serving loop
DRAIN_SECONDS = 10.0


class RunningServer:
    """A bound waitress server. ``run()`` serves until ``stop()`` (from any thread or a
    signal handler); in-flight requests finish before ``run()`` returns."""

    def __init__(
        self,
        data_dir: Path,
        host: str = "127.0.0.1",
        port: int = 0,
        threads: int = DEFAULT_THREADS,
    ):
        from waitress.server import create_server

        self.app: App = create_app(data_dir)
        try:
            self._server = create_server(
                self.app,
                host=host,
                port=port,
                threads=threads,
                ident="tektii-platform",
                clear_untrusted_proxy_headers=True,
            )
        except BaseException:
            self.app.close()
            raise
        self._map = getattr(self._server, "_map", None) or self._server.map
        self._stopping = threading.Event()
        self._finished = False
        self.host, self.port = self._server.effective_host, self._server.effective_port
        try:
            self.app.bind(OwnAddress.bound(self.host, self.port))
        except BaseException:
            self.close()
            raise

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in str(self.host) else self.host
        return f"http://{host}:{self.port}"

    def run(self) -> None:
        from waitress import wasyncore

        try:
            while not self._stopping.is_set():
                wasyncore.loop(timeout=_POLL_SECONDS, map=self._map, use_poll=True, count=1)
            self._drain(wasyncore)
        finally:
            self._finished = True
            if hasattr(self._server, "task_dispatcher"):
                self._server.task_dispatcher.shutdown(cancel_pending=True, timeout=5)
            wasyncore.close_all(self._map)
            self.app.close()

    def _drain(self, wasyncore) -> None:
        """Stop accepting, then keep the loop turning (it writes the responses) until every
        request in flight is answered, for at most DRAIN_SECONDS."""
        from waitress.server import BaseWSGIServer

        # One listener per bound address (a host name may resolve to several). Closing
        # only the listening socket keeps the trigger that the workers wake the loop with.
        listeners = [d for d in self._map.values() if isinstance(d, BaseWSGIServer)]
        for listener in listeners:
            wasyncore.dispatcher.close(listener)
        deadline = time.monotonic() + DRAIN_SECONDS
        while time.monotonic() < deadline and any(
            getattr(ch, "requests", None) or getattr(ch, "total_outbufs_len", 0) for ch in list(self._map.values())
        ):
            wasyncore.loop(timeout=0.05, map=self._map, use_poll=True, count=1)

    def stop(self) -> None:
        """Ask ``run()`` to return; safe from any thread and from a signal handler."""
        self._stopping.set()
        pull = getattr(self._server, "pull_trigger", None)
        if pull is not None and not self._finished:  # once finished, its pipe is closed
            # Wakes the loop now rather than at its next poll timeout (one byte to a pipe).
            with contextlib.suppress(OSError):
                pull()

    def close(self) -> None:
        """Release the socket and database of a server whose run() never started (no-op
        after run(); not for a server running in another thread: use stop() there)."""
        if not self._finished:
            self.stop()
            self.run()

    def start_thread(self) -> threading.Thread:
        """Serve in a daemon thread (tests, embedding); pair with stop() and join()."""
        thread = threading.Thread(target=self.run, name="tektii-platform", daemon=True)
        thread.start()
        return thread


def write_state(data_dir: Path, url: str, database: str | None = None, backend: str | None = None) -> Path:
    """Record where this process serves, for tektii_platform.daemon.status()."""
    from . import __version__

    path = Path(data_dir) / STATE_FILE
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(
        json.dumps(
            {
                "url": url,
                "pid": os.getpid(),
                "dataDir": str(data_dir),
                "database": database,  # Database.describe(): never a password
                "executionBackend": backend,
                "startedAt": rfc3339(now_db()),
                "version": __version__,
            },
            indent=2,
        )
        + "\n"
    )
    os.replace(tmp, path)  # atomic: readers never see half a file
    return path


def remove_state(data_dir: Path) -> None:
    """Remove the state file if it is still this process's."""
    path = Path(data_dir) / STATE_FILE
    try:
        if json.loads(path.read_text()).get("pid") == os.getpid():
            path.unlink()
    except (OSError, ValueError):
        pass


def serve(
    data_dir: Path,
    host: str = "127.0.0.1",
    port: int = 0,
    ready_callback: Callable[[RunningServer], None] | None = None,
    *,
    threads: int = DEFAULT_THREADS,
    state_file: bool = True,
) -> None:
    """Serve in the foreground until SIGTERM/SIGINT (or ``stop()``). ``port=0`` picks a free
    port; ``ready_callback`` receives the bound server (``.url``, ``.stop()``) once it
    accepts connections. With ``state_file`` the address is recorded in
    ``<data_dir>/platform.json`` while serving, so that ``daemon.status`` finds it.
    Requests are logged to stderr unless logging is configured already."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Everything the platform and its children (workers, the registry) create is theirs alone:
    # files 0600, directories 0700 (runs' logs and results, market data, the registry's storage).
    os.umask(0o077)
    data_dir = Path(data_dir)
    server = RunningServer(data_dir, host, port, threads)
    log.info("platform (pid %s) serving %s, data in %s, database %s", os.getpid(), server.url, data_dir,
             server.app.db.describe())
    restore_signals = _install_signal_handlers(server)
    try:
        if state_file:
            scheduler = server.app.ctx.extras.get("scheduler")
            write_state(data_dir, server.url, server.app.db.describe(),
                        scheduler.backend.name if scheduler is not None else None)
        if ready_callback is not None:
            ready_callback(server)
        server.run()
    finally:
        server.close()  # no-op after run(); releases the socket and database if it never ran
        if state_file:
            remove_state(data_dir)
        restore_signals()
        log.info("platform stopped")


def _install_signal_handlers(server: RunningServer) -> Callable[[], None]:
    """SIGTERM and SIGINT stop the server cleanly (handlers can only be set in the main
    thread; elsewhere the caller stops the server itself)."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def handle(signum: int, frame: object) -> None:
        log.info("received %s, shutting down", signal.Signals(signum).name)
        server.stop()

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGTERM, signal.SIGINT)}

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    return restore
