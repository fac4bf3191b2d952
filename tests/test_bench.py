"""``ticker bench``: its counting and statistics, and one short real run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import SMALL_CONFIG, TIME_UNIT
from ticker.bench.histogram import LatencyHistogram
from ticker.bench.recorder import ClientRecorder, Window
from ticker.clients.base import RESET, SNAPSHOT, TICKS, Event


def run_bench_cli(
    *args: str, timeout: float = 60 * TIME_UNIT, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ticker", "bench", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **env} if env else None,
    )


def ticks(*seqs: int, ts: float = 1000.0) -> list[dict[str, float]]:
    return [{"seq": seq, "ts": ts} for seq in seqs]


def test_histogram_percentiles_within_bucket_error() -> None:
    histogram = LatencyHistogram()
    for value in range(1, 1001):  # 1 ms to 1000 ms
        histogram.add(float(value))
    p50 = histogram.percentile(0.5)
    p99 = histogram.percentile(0.99)
    assert p50 is not None and p99 is not None
    assert p50 == pytest.approx(500.0, rel=0.013)
    assert p99 == pytest.approx(990.0, rel=0.013)
    assert histogram.percentile(1.0) == 1000.0
    assert histogram.max_ms == 1000.0


def test_histogram_empty_and_merge() -> None:
    first, second = LatencyHistogram(), LatencyHistogram()
    assert first.percentile(0.5) is None
    first.add(2.0)
    second.add(-1.0)
    second.add(8.0)
    first.merge(second)
    assert first.total == 3
    assert first.below_zero == 1
    assert first.max_ms == 8.0


def test_recorder_counts_missing_and_duplicates() -> None:
    window = Window()
    latencies = LatencyHistogram()
    recorder = ClientRecorder(window, latencies, clock_offset_ms=0.0)
    recorder.record(Event(SNAPSHOT, "e", 10, []), received_ms=0.0)
    recorder.record(Event(TICKS, "e", 12, ticks(11, 12)), received_ms=1005.0)
    window.start = 12
    recorder.record(Event(TICKS, "e", 14, ticks(13, 14)), received_ms=1005.0)
    recorder.record(Event(TICKS, "e", 14, ticks(14)), received_ms=1005.0)  # a repeat
    recorder.record(Event(TICKS, "e", 17, ticks(17)), received_ms=1005.0)  # 15 and 16 lost
    window.end = 17

    expected, delivered, duplicated = recorder.tally()
    assert expected == 5
    assert delivered == 3
    assert duplicated == 1
    assert latencies.total == 3  # inside the window, first copies only
    assert recorder.cursor == 17


def test_recorder_counts_resets() -> None:
    window = Window(start=0)
    recorder = ClientRecorder(window, LatencyHistogram(), clock_offset_ms=0.0)
    recorder.record(Event(SNAPSHOT, "e", 0, []), received_ms=0.0)
    recorder.record(Event(RESET, "e", 50, []), received_ms=0.0)
    assert recorder.resets == 1
    assert recorder.cursor == 50


def test_recorder_applies_clock_offset() -> None:
    window = Window(start=0)
    latencies = LatencyHistogram()
    recorder = ClientRecorder(window, latencies, clock_offset_ms=-400.0)
    recorder.record(Event(SNAPSHOT, "e", 0, []), received_ms=0.0)
    recorder.record(Event(TICKS, "e", 1, ticks(1, ts=1000.0)), received_ms=1410.0)
    assert latencies.max_ms == pytest.approx(10.0)


def test_bench_run_writes_table_and_json(tmp_path: Path) -> None:
    report_path = tmp_path / "bench.json"
    plot_path = tmp_path / "bench.png"
    result = run_bench_cli(
        "--clients", "3", "--duration", "1.5", "--warmup", "0.5", "--concurrent",
        "--rate", "200", "--symbols", "5", "--poll-interval", "0.1",
        "--json", str(report_path), "--plot", str(plot_path),
        timeout=120 * TIME_UNIT,
    )
    assert result.returncode == 0, result.stderr
    assert "transport" in result.stdout
    report = json.loads(report_path.read_text())
    assert set(report["transports"]) == {"websocket", "sse", "longpoll", "poll"}
    assert report["parameters"]["rate"] == 200
    for name, row in report["transports"].items():
        assert row["clients"] == 3, name
        assert row["expected"] > 0, name
        assert row["missing"] == 0, name
        assert row["duplicated"] == 0, name
        assert row["resets"] == 0, name
        assert set(row["latency_ms"]) == {"p50", "p90", "p99", "p999", "max"}
        assert row["bytes_per_update"] > 0
        assert row["server"]["cpu_percent"] is not None
        assert row["server"]["peak_rss_mb"] > 0
        assert row["server"]["feed_skipped_steps"] is not None
    assert report["transports"]["longpoll"]["requests_per_s"] > 0
    assert plot_path.read_bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--rate", "0"], "invalid --rate 0"),
        (["--clients", "0"], "invalid --clients 0"),
        (["--poll-interval", "-1"], "invalid --poll-interval -1"),
    ],
)
def test_bench_rejects_bad_options(option: list[str], message: str) -> None:
    result = run_bench_cli(*option)
    assert result.returncode == 2
    assert message in result.stderr


def test_bench_unknown_transport_is_error() -> None:
    result = run_bench_cli("--transports", "websocket,pigeon", "--duration", "1")
    assert result.returncode == 2
    assert "invalid --transports 'websocket,pigeon': unknown transport 'pigeon'" in result.stderr
    assert "Traceback" not in result.stderr


def test_recorder_without_snapshot_missed_all() -> None:
    recorder = ClientRecorder(Window(start=10, end=20), LatencyHistogram(), clock_offset_ms=0.0)
    assert recorder.tally() == (10, 0, 0)


def test_bench_url_without_server_is_clear() -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again below, so nothing listens there
    result = run_bench_cli("--url", f"http://127.0.0.1:{port}", "--duration", "1")
    assert result.returncode == 1
    assert f"cannot connect to 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--url", "127.0.0.1:8888"], "invalid --url '127.0.0.1:8888'"),
        (["--json", "/no/such/folder/out.json"], "invalid --json /no/such/folder/out.json"),
        (["--transports", ","], "invalid --transports ','"),
        (["--duration", "-5"], "invalid --duration -5"),
        (["--warmup", "-1"], "invalid --warmup -1"),
    ],
)
def test_bench_rejects_bad_arguments_early(option: list[str], message: str) -> None:
    result = run_bench_cli(*option)
    assert result.returncode == 2
    assert message in result.stderr


BENCH_KEY = "bench-key-0123456789abcdef"
LIMITED_KEY = "limited-key-0123456789abcdef"


def test_bench_sends_key_from_environment(ticker_process, tmp_path: Path) -> None:
    keyed = SMALL_CONFIG + f"""
[access]
enabled = true

[[access.keys]]
name = "bench"
key = "{BENCH_KEY}"
symbols = ["*"]

[[access.keys]]
name = "limited"
key = "{LIMITED_KEY}"
symbols = ["AAPL", "KO"]
"""
    server = ticker_process(keyed)
    report_path = tmp_path / "bench.json"
    arguments = ["--url", server.base_url, "--clients", "2", "--duration", "1", "--warmup", "0.5"]
    # Short polls would fall behind the small config's 50-tick history, so they sit this out.
    arguments += ["--transports", "websocket,sse,longpoll", "--concurrent", "--json", str(report_path)]

    refused = run_bench_cli(*arguments)
    assert refused.returncode == 1
    assert "HTTP 401" in refused.stderr
    assert "set TICKER_API_KEY or pass --key" in refused.stderr

    limited = run_bench_cli(*arguments, env={"TICKER_API_KEY": LIMITED_KEY})
    assert limited.returncode == 1
    assert "the API key may see only 2 symbols" in limited.stderr

    result = run_bench_cli(*arguments, env={"TICKER_API_KEY": BENCH_KEY})
    assert result.returncode == 0, result.stderr
    report = json.loads(report_path.read_text())
    for name, row in report["transports"].items():
        assert row["failed_clients"] == 0, name
        assert row["expected"] > 0, name
        assert row["missing"] == 0, name
    assert BENCH_KEY not in "".join(server.lines)
