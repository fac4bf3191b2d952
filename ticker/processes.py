"""Run one server in several processes that share one listening socket.

The parent binds the socket, forks the children and then only supervises them: it passes
SIGTERM and SIGINT on to every child and exits once all have exited. The kernel hands each new
connection to one child, so the children share the load without sticky sessions.
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Callable
from types import FrameType

logger = logging.getLogger("ticker.processes")

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def run_processes(count: int, child: Callable[[], int]) -> int:
    """Fork ``count`` children that each return ``child()`` as their exit status; supervise them.

    Call it before any event loop exists: a child must start its own. When a child exits
    before the parent was asked to stop, the parent stops the others and returns 1, so that
    a service manager detects the failure. Otherwise the parent returns 0 once every child has
    exited with 0 or was ended by the signal it passed on, and 1 if one failed.
    """
    stopping = False
    children: dict[int, int] = {}

    def pass_on(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for pid in children:
            _signal_child(pid, signum)

    previous = {signum: signal.signal(signum, pass_on) for signum in STOP_SIGNALS}
    try:
        for number in range(1, count + 1):
            pid = os.fork()
            if pid == 0:
                _run_child(child)
            children[pid] = number
        logger.info("started %d server processes: %s", count, ", ".join(map(str, children)))

        status = 0
        while children:
            pid, wait_status = os.wait()
            number = children.pop(pid, 0)
            if not number:
                continue
            code = os.waitstatus_to_exitcode(wait_status)
            if not stopping:
                logger.error(
                    "server process %d (pid %d) exited with status %d; stopping the others",
                    number,
                    pid,
                    code,
                )
                stopping = True
                status = 1
                for other in children:
                    _signal_child(other, signal.SIGTERM)
            elif code not in (0, -signal.SIGTERM, -signal.SIGINT):
                logger.error("server process %d (pid %d) exited with status %d", number, pid, code)
                status = 1
        return status
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _run_child(child: Callable[[], int]) -> None:
    """Run ``child`` in a forked process and leave through ``os._exit``, never returning."""
    status = 1
    try:
        for signum in STOP_SIGNALS:
            signal.signal(signum, signal.SIG_DFL)
        status = child()
    except BaseException:
        logger.exception("server process %d failed", os.getpid())
    finally:
        logging.shutdown()
        os._exit(status)


def _signal_child(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass  # it exited and os.wait will report it
