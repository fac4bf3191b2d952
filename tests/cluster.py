"""Real Redis, nginx, feed and server-node processes on free loopback ports, for the tests.

Redis and nginx are Debian's binaries, started with config files in the test's temporary
directory (never the system services), and stopped by PID. Without them the tests skip with the
reason, unless TICKER_REQUIRE_BACKPLANE=1 is set (as CI does), in which case they fail.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conftest import REPO_ROOT, SMALL_CONFIG, ServerProcess, start_process, start_server_process

REQUIRE_BACKPLANE = os.environ.get("TICKER_REQUIRE_BACKPLANE") == "1"
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
NGINX_SITE = REPO_ROOT / "deploy" / "nginx.conf"

REDIS_READY = re.compile(r"Ready to accept connections")
NGINX_READY = re.compile(r"start worker process")
FEED_READY = re.compile(r"feed publishing to stream")

BACKPLANE_CONFIG = (
    """
[server]
xheaders = true

[feed]
tick_interval = 0.02
seed = 11

[hub]
history_size = 300

[longpoll]
hold_timeout = 2.0
max_ticks_per_response = 1000

[websocket]
ping_interval = 0

"""
    + SMALL_CONFIG[SMALL_CONFIG.index("[[symbols]]") :]
)

# The nginx main context for a test: everything in the temporary directory, in the foreground,
# one worker so that round-robin is one sequence, notices on stderr to see it is ready.
NGINX_MAIN = """
daemon off;
master_process on;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log stderr notice;
events {{
    worker_connections 8192;
}}
http {{
    access_log {tmp}/access.log;
    client_body_temp_path {tmp}/client_body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    include {tmp}/ticker-site.conf;
}}
"""


def require_binary(path: str, package: str) -> None:
    """Skip the test when ``path`` is missing, or fail under TICKER_REQUIRE_BACKPLANE=1."""
    if os.access(path, os.X_OK):
        return
    reason = f"{path} not found; install it with: apt-get install {package}"
    if REQUIRE_BACKPLANE:
        pytest.fail(f"TICKER_REQUIRE_BACKPLANE=1 but {reason}")
    pytest.skip(f"backplane tests need {package}: {reason}")


def require_redis_server() -> None:
    require_binary(REDIS_SERVER, "redis-server")


def require_nginx() -> None:
    require_binary(NGINX, "nginx")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def start_redis(tmp_path: Path, port: int | None = None) -> tuple[ServerProcess, str]:
    """Start redis-server without persistence on a free port; return it and its URL."""
    port = port if port is not None else free_port()
    workdir = tmp_path / f"redis-{port}"
    workdir.mkdir(exist_ok=True)
    command = [
        REDIS_SERVER,
        "--port", str(port),
        "--bind", "127.0.0.1",
        "--save", "",
        "--appendonly", "no",
        "--dir", str(workdir),
    ]  # fmt: skip
    process = start_process(command, workdir, REDIS_READY)
    return process, f"redis://127.0.0.1:{port}/0"


def write_config(tmp_path: Path, text: str = BACKPLANE_CONFIG) -> Path:
    path = tmp_path / "backplane.toml"
    path.write_text(text, encoding="utf-8")
    return path


def start_feed(tmp_path: Path, config: Path, redis_url: str) -> ServerProcess:
    args = ["feed", "--config", str(config), "--backplane", redis_url]
    return start_process([sys.executable, "-m", "ticker", *args], tmp_path, FEED_READY)


def start_node(
    tmp_path: Path, config: Path, redis_url: str, port: int = 0, processes: int = 1
) -> ServerProcess:
    args = ["serve", "--config", str(config), "--host", "127.0.0.1", "--port", str(port)]
    args += ["--backplane", redis_url, "--processes", str(processes)]
    return start_server_process(args, tmp_path)


UPSTREAM_SERVER = re.compile(r"^ *server 127\.0\.0\.1:\d+(?P<options>[^;\n]*);\n", re.MULTILINE)
LISTEN = re.compile(r"listen 127\.0\.0\.1:\d+;")


def render_site(node_ports: list[int], listen_port: int) -> str:
    """Return deploy/nginx.conf with these node ports and this listen port, nothing else changed."""
    site = NGINX_SITE.read_text(encoding="utf-8")
    servers = list(UPSTREAM_SERVER.finditer(site))
    assert servers, "deploy/nginx.conf lists no `server 127.0.0.1:PORT ...;` upstream lines"
    options = servers[0]["options"]
    nodes = "".join(f"    server 127.0.0.1:{port}{options};\n" for port in node_ports)
    site = site[: servers[0].start()] + nodes + site[servers[-1].end() :]
    site, count = LISTEN.subn(f"listen 127.0.0.1:{listen_port};", site)
    assert count == 1, "deploy/nginx.conf has no single `listen 127.0.0.1:PORT;` line"
    return site


def start_nginx(tmp_path: Path, node_ports: list[int]) -> tuple[ServerProcess, str]:
    """Run nginx with deploy/nginx.conf in front of ``node_ports``; return it and its URL."""
    workdir = tmp_path / "nginx"
    workdir.mkdir(exist_ok=True)
    port = free_port()
    (workdir / "ticker-site.conf").write_text(render_site(node_ports, port), encoding="utf-8")
    main = workdir / "nginx.conf"
    main.write_text(NGINX_MAIN.format(tmp=workdir), encoding="utf-8")
    process = start_process([NGINX, "-p", str(workdir), "-c", str(main)], workdir, NGINX_READY)
    return process, f"http://127.0.0.1:{port}"


def port_of(process: ServerProcess) -> int:
    return int(process.base_url.rsplit(":", 1)[1])


@dataclass
class Cluster:
    """Redis, one feed, server nodes and nginx in front of them."""

    tmp_path: Path
    config: Path
    redis: ServerProcess
    redis_url: str
    feed: ServerProcess
    nodes: list[ServerProcess]
    nginx: ServerProcess
    url: str
    """nginx's base URL, which clients use."""
    stopped: list[ServerProcess] = field(default_factory=list)

    def stop(self) -> None:
        """Stop every process that is still running, nginx first and Redis last."""
        for process in [self.nginx, *self.nodes, self.feed, *self.stopped, self.redis]:
            stop_process(process)


def stop_process(process: ServerProcess) -> None:
    """Stop ``process`` with SIGTERM, which also ends the workers or children it started.

    SIGKILL would leave nginx's worker (or a ticker node's children) running with the output
    pipe open. Idempotent.
    """
    if process.process.stdout is not None and not process.process.stdout.closed:
        try:
            process.stop(signal.SIGTERM)
        except subprocess.TimeoutExpired:
            process.kill()


def start_cluster(tmp_path: Path, node_count: int = 2) -> Cluster:
    require_redis_server()
    require_nginx()
    config = write_config(tmp_path)
    redis, redis_url = start_redis(tmp_path)
    started = [redis]
    try:
        feed = start_feed(tmp_path, config, redis_url)
        started.append(feed)
        nodes = []
        for _ in range(node_count):
            nodes.append(start_node(tmp_path, config, redis_url))
            started.append(nodes[-1])
        nginx, url = start_nginx(tmp_path, [port_of(node) for node in nodes])
    except BaseException:
        for process in reversed(started):
            stop_process(process)
        raise
    return Cluster(tmp_path, config, redis, redis_url, feed, nodes, nginx, url)
