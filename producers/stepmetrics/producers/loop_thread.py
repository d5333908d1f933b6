"""A daemon thread hosting one asyncio loop, for the SDK's background sender.

Step code is synchronous; the aiokafka producer needs a loop. The loop runs
one main coroutine in its own thread, and other threads talk to it only with
`call()` (`call_soon_threadsafe`), which says False once the loop is closed.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable, Coroutine
from typing import Any


class _InlineExecutor(concurrent.futures.ThreadPoolExecutor):
    """Runs the loop's blocking helpers (DNS lookups) in the loop's thread itself.

    asyncio's default executor starts threads, which the interpreter refuses
    once it shuts down: exactly when the exit flush may need to resolve the
    broker's host name to reconnect.
    """

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> concurrent.futures.Future[Any]:
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001 - handed to the awaiting caller
            future.set_exception(exc)
        return future


class LoopThread:
    """Runs `main()` on a fresh loop in a daemon thread; `start()` once.

    When `main()` ends (returns, raises, or is cancelled), `on_stop(error)`
    runs in the thread with what it raised (None if it returned), then the
    loop is closed, then `on_exit()` runs, still in the thread.
    """

    def __init__(
        self,
        name: str,
        main: Callable[[], Coroutine[Any, Any, None]],
        on_stop: Callable[[BaseException | None], None],
        on_exit: Callable[[], None],
    ) -> None:
        self._main = main
        self._on_stop = on_stop
        self._on_exit = on_exit
        self._loop = asyncio.new_event_loop()
        self._loop.set_default_executor(_InlineExecutor(max_workers=1))
        self._task: asyncio.Task[None] | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        """Start the thread (and so `main()`)."""
        self._thread.start()

    def call(self, callback: Callable[..., object], *args: Any) -> bool:
        """Run `callback(*args)` on the loop, from any thread; False when the loop is gone."""
        try:
            self._loop.call_soon_threadsafe(callback, *args)
        except RuntimeError:  # the loop is closed: the thread has stopped
            return False
        return True

    def cancel(self) -> bool:
        """Cancel `main()` (e.g. stuck on an unresponsive peer); False when the loop is gone."""
        return self.call(self._cancel_main)

    def is_alive(self) -> bool:
        """Whether the thread still runs."""
        return self._thread.is_alive()

    def join(self, timeout: float | None = None) -> None:
        """Wait up to `timeout` seconds for the thread to end."""
        self._thread.join(timeout)

    def _cancel_main(self) -> None:
        if self._task is not None:
            self._task.cancel()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        error: BaseException | None = None
        try:
            self._task = self._loop.create_task(self._main())
            self._loop.run_until_complete(self._task)
        except BaseException as exc:  # noqa: BLE001 - handed to on_stop, which reports it
            error = exc
        try:
            self._on_stop(error)
        finally:
            self._loop.close()
            self._on_exit()
