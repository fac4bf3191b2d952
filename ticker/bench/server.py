"""The server a benchmark starts for itself, and what it costs the machine."""

from __future__ import annotations

import asyncio
import collections
import os
import re
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

LISTENING = re.compile(r"listening on (http://\S+)/")
START_TIMEOUT = 30.0


def bench_config(
    symbols: int, rate: float, clients: int, hold: float, transports: Sequence[str]
) -> str:
    """Return a config for ``symbols`` symbols and ``rate`` ticks per second in total.

    Each symbol updates every ``tick_interval`` seconds on average, at random moments, so an
    interval of symbols / rate gives ``rate`` ticks per second in total on average.
    The history keeps two minutes of ticks, so that a lagging client resumes instead of
    resetting. Exactly ``transports`` are enabled, so an installed plug-in can be measured.
    """
    interval = symbols / rate
    history = max(10_000, int(rate * 120))
    lines = [
        "[server]",
        f"max_clients = {max(1000, clients * 2 + 100)}",
        "[feed]",
        f"tick_interval = {interval!r}",
        "time_scale = 60.0",
        "seed = 1",
        "[hub]",
        f"history_size = {history}",
        "[longpoll]",
        f"hold_timeout = {hold!r}",
        f"max_hold_timeout = {max(hold, 60.0)!r}",
        "[websocket]",
        "ping_interval = 0",
        "max_pending_messages = 10000",
        "[sse]",
        "max_pending_messages = 10000",
        "[transports]",
        "enabled = [" + ", ".join(f'"{name}"' for name in transports) + "]",
    ]
    for index in range(symbols):
        lines += [
            "[[symbols]]",
            f'symbol = "S{index:03d}"',
            f'name = "Symbol {index}"',
            "price = 100.0",
            "volatility = 0.3",
            "drift = 0.05",
        ]
    return "\n".join(lines) + "\n"


class ServerProcess:
    """``ticker serve`` in a child process on a free loopback port."""

    def __init__(self, process: asyncio.subprocess.Process, url: str, config_path: Path):
        self.process = process
        self.url = url
        self.config_path = config_path
        self.log: collections.deque[str] = collections.deque(maxlen=200)
        self._drain = asyncio.ensure_future(self._read_log())

    @classmethod
    async def start(cls, config_text: str) -> ServerProcess:
        handle = tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False)
        with handle:
            handle.write(config_text)
        config_path = Path(handle.name)
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "ticker",
            "serve",
            "--config",
            str(config_path),
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            stderr=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.DEVNULL,
        )
        assert process.stderr is not None
        seen: list[str] = []
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            line = await asyncio.wait_for(process.stderr.readline(), START_TIMEOUT)
            if not line:
                break
            text = line.decode(errors="replace")
            seen.append(text)
            match = LISTENING.search(text)
            if match:
                return cls(process, match.group(1), config_path)
        try:
            process.kill()
        except ProcessLookupError:
            pass  # it exited on its own, as it does for an invalid config
        await process.wait()
        config_path.unlink(missing_ok=True)
        raise RuntimeError("ticker serve did not start:\n" + "".join(seen[-20:]))

    async def _read_log(self) -> None:
        assert self.process.stderr is not None
        while line := await self.process.stderr.readline():
            self.log.append(line.decode(errors="replace"))

    def cpu_seconds(self) -> float:
        """Return the CPU time the server used so far, user plus system, in seconds."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        # After the command name: state is field 3, utime and stime are fields 14 and 15.
        user, system = int(fields[11]), int(fields[12])
        return (user + system) / os.sysconf("SC_CLK_TCK")

    def peak_rss_mb(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
        return 0.0

    async def stop(self) -> int:
        """Stop the server with SIGINT and return its exit status."""
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGINT)
        try:
            status = await asyncio.wait_for(self.process.wait(), 15.0)
        except TimeoutError:
            self.process.kill()
            status = await self.process.wait()
        await self._drain
        self.config_path.unlink(missing_ok=True)
        return status
