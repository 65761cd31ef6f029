"""An asyncio door (RADIUS server, station link) on its own event loop in a background
thread, as ``ficha serve`` and the tests run them.

The server object needs two coroutines: ``start()`` (bind the sockets; raising says why
not) and ``stop()``. :meth:`DoorThread.start` returns once the sockets are bound, or
raises the server's error.
"""

from __future__ import annotations

import asyncio
import threading


class DoorThread:
    def __init__(self, server, name: str):
        self.server = server
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._stopped: asyncio.Event | None = None

    def _main(self):
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self.server.start())
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            return
        # made before ready is signalled, so a stop() right after start() is never lost
        self._stopped = asyncio.Event()
        self._ready.set()
        self._loop.run_until_complete(self._stopped.wait())
        self._loop.run_until_complete(self.server.stop())
        # whatever is still pending (a handler waiting on a peer that never closed) ends here
        pending = [t for t in asyncio.all_tasks(self._loop) if not t.done()]
        for task in pending:
            task.cancel()
        if pending:
            self._loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        self._loop.close()

    def start(self):
        self._thread.start()
        self._ready.wait(30)
        if self._error is not None:
            raise self._error
        return self

    def stop(self, timeout: float = 10) -> None:
        if self._stopped is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stopped.set)
        self._thread.join(timeout)
