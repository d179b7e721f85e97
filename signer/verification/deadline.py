"""A per-call time limit that works in any thread, without a child process.

One daemon watchdog thread keeps the deadlines of all guarded calls. When a deadline passes it
raises an exception asynchronously in the guarded thread (`PyThreadState_SetAsyncExc`). The
exception derives from BaseException so library code that catches `Exception` cannot swallow it,
and the watchdog re-raises it every 10 ms until the call leaves the guarded block, in case some
code catches BaseException or it lands in a finaliser, where Python ignores it. Cost per call: a
heap push and pop under a lock (microseconds), which a child process per file (milliseconds)
could not match. Limitation: the exception lands
between bytecodes, so one long C call (hashing a huge range, inflating a stream) finishes first;
pyHanko's decode limits bound those.
"""

from __future__ import annotations

import ctypes
import heapq
import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from signer.errors import VerificationTimeoutError
from signer.messages import time_limit_message

_RETRY_SECONDS = 0.01
T = TypeVar("T")


class DeadlineExceeded(BaseException):
    """Raised inside the guarded thread when its time is up; converted on the way out."""


@dataclass(order=True)
class _Guard:
    deadline: float
    order: int
    thread_id: int = field(compare=False)
    active: bool = field(default=True, compare=False)
    fired: bool = field(default=False, compare=False)


def _set_async_exc(thread_id: int, exception: type[BaseException] | None) -> None:
    target = ctypes.py_object(exception) if exception is not None else None
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), target)


class _Watchdog:
    """The one thread that fires deadlines."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._heap: list[_Guard] = []
        self._counter = itertools.count()
        self._thread: threading.Thread | None = None

    def arm(self, seconds: float) -> _Guard:
        guard = _Guard(time.monotonic() + seconds, next(self._counter), threading.get_ident())
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="congvan-verify-watchdog", daemon=True
                )
                self._thread.start()
            heapq.heappush(self._heap, guard)
            if self._heap[0] is guard:
                self._lock.notify()
        return guard

    def disarm(self, guard: _Guard) -> None:
        with self._lock:
            guard.active = False
            if guard.fired:
                # An exception may still be pending for this thread; clear it so it cannot
                # surface later in the caller's unrelated code.
                _set_async_exc(guard.thread_id, None)
        # Inactive guards are dropped lazily by the watchdog; no O(n) removal here.

    def _run(self) -> None:
        with self._lock:
            while True:
                while self._heap and not self._heap[0].active:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._lock.wait()
                    continue
                guard = self._heap[0]
                delay = guard.deadline - time.monotonic()
                if delay > 0:
                    self._lock.wait(delay)
                    continue
                heapq.heappop(self._heap)
                guard.fired = True
                _set_async_exc(guard.thread_id, DeadlineExceeded)
                guard.deadline = time.monotonic() + _RETRY_SECONDS
                heapq.heappush(self._heap, guard)


_WATCHDOG = _Watchdog()


def call_with_time_limit(function: Callable[[], T], seconds: float | None, what: str) -> T:
    """Call `function`; raise VerificationTimeoutError if it runs longer than `seconds`.

    ``what`` names the work in the Vietnamese message ("kiểm tra chữ ký").
    """
    if seconds is None:
        return function()
    if seconds <= 0:
        raise ValueError("a time limit must be positive")
    guard = _WATCHDOG.arm(seconds)
    try:
        try:
            result = function()
        finally:
            _WATCHDOG.disarm(guard)
    except DeadlineExceeded:
        # Disarm again: the exception may have landed in the finally clause before it ran.
        _WATCHDOG.disarm(guard)
        raise VerificationTimeoutError(time_limit_message(what, seconds)) from None
    if guard.fired:
        # The exception landed where Python ignores it (a __del__ finaliser) and the call then
        # finished: it still overran its limit, so say so rather than return a late result.
        raise VerificationTimeoutError(time_limit_message(what, seconds))
    return result
