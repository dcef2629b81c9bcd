"""bench/origin.py's load side: the processes under test, wrk, CPU/RSS sampling, py-spy.

A server under test is a process tree: ``openvod origin --workers W`` (a parent and the
processes that serve) or nginx (a master and W workers). Its CPU time is the sum over
the tree's root and all its descendants, read from ``/proc``; its serving processes are
the descendants holding its listening socket (the root itself when it serves alone),
and their ``VmRSS`` is sampled under load (the largest one, and the sum).
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

WRK_THREADS, WRK_CONNECTIONS = 2, 32
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
OPENVOD = Path(sys.executable).with_name("openvod")


# --- processes ------------------------------------------------------------------------------


class Processes:
    """Every process the benchmark starts, stopped (TERM, then KILL) however the run ends."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self._started: list[tuple[subprocess.Popen[bytes], Path]] = []

    def start(
        self, name: str, argv: Sequence[str], env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        """Start ``argv`` in its own process group, output to ``{name}.log``."""
        log = self.log_dir / f"{name}.log"
        with log.open("wb") as sink:
            proc = subprocess.Popen(argv, stdout=sink, stderr=subprocess.STDOUT, env=env,
                                    start_new_session=True)  # fmt: skip
        self._started.append((proc, log))
        return proc

    def check_alive(self) -> None:
        """Raise, with the tail of its log, if a started process has exited."""
        for proc, log in self._started:
            if proc.poll() is not None:
                tail = log.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"{log.stem} exited with {proc.returncode}:\n{tail}")

    def stop(self, proc: subprocess.Popen[bytes]) -> None:
        """Stop one started process and whatever is left of its process group."""
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        with suppress(ProcessLookupError, PermissionError):  # workers, if orphaned
            os.killpg(proc.pid, signal.SIGKILL)
        self._started = [(p, log) for p, log in self._started if p is not proc]

    def stop_all(self) -> None:
        """Stop what was started, newest first."""
        for proc, _ in reversed(list(self._started)):
            self.stop(proc)

    def __enter__(self) -> Processes:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop_all()


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(port: int, path: str, procs: Processes, timeout_s: float = 60) -> None:
    """Wait until 127.0.0.1:``port`` answers ``path`` with any status."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        procs.check_alive()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            conn.request("GET", path)
            conn.getresponse().read()
            return
        except OSError:
            time.sleep(0.1)
        finally:
            conn.close()
    raise TimeoutError(f"port {port} did not answer within {timeout_s} s")


# --- process trees in /proc -----------------------------------------------------------------


def _stat_fields(pid: int) -> list[str]:
    """``/proc/{pid}/stat`` after the command name: field 3 of proc(5) is item 0."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def descendants(pid: int) -> list[int]:
    """Every live descendant of ``pid``, from the ppid links in ``/proc/*/stat``."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with suppress(OSError, IndexError, ValueError):
                children.setdefault(int(_stat_fields(int(entry.name))[1]), []).append(
                    int(entry.name)
                )
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return sorted(found)


def cpu_seconds(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of ``pid`` and all its live descendants."""
    user = system = 0.0
    for member in [pid, *descendants(pid)]:
        with suppress(OSError, IndexError, ValueError):
            stat = _stat_fields(member)
            user += int(stat[11]) / CLOCK_TICKS  # utime, field 14 of proc(5)
            system += int(stat[12]) / CLOCK_TICKS  # stime, field 15
    return user, system


def rss_mb(pid: int) -> float:
    """VmRSS of a process, in MB (10^6 bytes); 0 if it is gone."""
    with suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024 / 1e6
    return 0.0


def memfd_mb(pid: int) -> float:
    """Bytes a process holds in memfds (openvod's response cache), in MB; 0 if none.

    memfd pages are shared memory the process never maps, so VmRSS leaves them out;
    they still take the machine's memory.
    """
    total = 0
    with suppress(OSError):
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with suppress(OSError):
                if os.readlink(fd).startswith("/memfd:"):
                    total += fd.stat().st_size
    return total / 1e6


def listening_inodes(port: int) -> set[str]:
    """Socket inodes listening on TCP ``port`` (IPv4 or IPv6, any address)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                cols = line.split()
                if cols[3] == "0A" and int(cols[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add(cols[9])
    return inodes


def holds_socket(pid: int, inodes: set[str]) -> bool:
    """Whether one of ``pid``'s file descriptors is one of the socket ``inodes``."""
    wanted = {f"socket:[{inode}]" for inode in inodes}
    with suppress(OSError):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with suppress(OSError):
                if os.readlink(f"/proc/{pid}/fd/{fd}") in wanted:
                    return True
    return False


def serving_processes(pid: int, port: int) -> list[int]:
    """The processes of ``pid``'s tree that accept on ``port``: the descendants holding the
    listening socket (not helpers such as a resource tracker), else ``pid`` itself."""
    inodes = listening_inodes(port)
    found = [child for child in descendants(pid) if holds_socket(child, inodes)]
    return found or [pid]


def wait_settled(pid: int, timeout_s: float = 30, window_s: float = 0.5) -> None:
    """Wait until the tree's CPU time stops growing (every serving process done starting)."""
    deadline = time.monotonic() + timeout_s
    before = sum(cpu_seconds(pid))
    while time.monotonic() < deadline:
        time.sleep(window_s)
        now = sum(cpu_seconds(pid))
        if now - before < 0.03:
            return
        before = now


# --- targets --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """A server under test: its port, the root of its process tree (CPU is summed over the
    tree) and its serving processes (RSS watched under load when ``watch_rss``)."""

    name: str
    port: int
    pid: int
    serving: tuple[int, ...]
    watch_rss: bool

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:{port}``."""
        return f"http://127.0.0.1:{self.port}"


def ready_target(
    procs: Processes, name: str, port: int, pid: int, workers: int, watch_rss: bool,
    timeout_s: float = 60,
) -> Target:  # fmt: skip
    """Once ``port`` answers: wait for ``workers`` serving processes and for the tree to
    settle (the first answer only proves one is up)."""
    deadline = time.monotonic() + timeout_s
    serving = serving_processes(pid, port)
    while len(serving) < workers and time.monotonic() < deadline:
        procs.check_alive()
        time.sleep(0.2)
        serving = serving_processes(pid, port)
    if len(serving) != workers:
        print(f"  warning: {name} has {len(serving)} serving processes, not {workers}", flush=True)
    wait_settled(pid)
    return Target(name, port, pid, tuple(serving), watch_rss)


def start_serve(
    procs: Processes, name: str, data_dir: Path
) -> tuple[Target, subprocess.Popen[bytes]]:
    """``openvod serve --no-worker`` (management API, origin, blobs) on free ports; the
    process is returned for :meth:`Processes.stop`."""
    port, blob_port = free_port(), free_port()
    argv = [str(OPENVOD), "serve", "--no-worker", "--data-dir", str(data_dir),
            "--port", str(port), "--blob-port", str(blob_port)]  # fmt: skip
    proc = procs.start(name, argv, dict(os.environ))
    wait_http(port, "/healthz", procs)
    return Target(name, port, proc.pid, (proc.pid,), True), proc


def start_origin(
    procs: Processes, name: str, data_dir: Path, workers: int, cache_bytes: int | None
) -> Target:
    """``openvod origin --workers W`` on a free port; ``cache_bytes`` None keeps the default.

    The dedicated origin has no /healthz (that is the management API's): any answer to
    GET / (404) means it listens."""
    port = free_port()
    env = {**os.environ, "OPENVOD_LOG_LEVEL": "warning"}
    if cache_bytes is not None:
        env["OPENVOD_ORIGIN_CACHE_BYTES"] = str(cache_bytes)
    argv = [str(OPENVOD), "origin", "--data-dir", str(data_dir), "--port", str(port),
            "--workers", str(workers)]  # fmt: skip
    proc = procs.start(name, argv, env)
    wait_http(port, "/", procs)
    return ready_target(procs, name, port, proc.pid, workers, watch_rss=True)


NGINX_CONF = """\
{user}worker_processes {workers};
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
daemon off;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    open_file_cache max=1000 inactive=60s;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    types {{ video/mp4 mp4 m4s; video/mp2t ts; application/dash+xml mpd;
             application/vnd.apple.mpegurl m3u8; }}
    server {{
        listen 127.0.0.1:{port};
        root {root};
    }}
}}
"""


def start_nginx(procs: Processes, root: Path, tmp: Path, workers: int) -> Target:
    """nginx in the foreground on a generated config and a free port."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    port = free_port()
    user = "user root;\n" if os.geteuid() == 0 else ""  # else workers run as 'nobody'
    conf = tmp / "nginx.conf"
    conf.write_text(NGINX_CONF.format(user=user, workers=workers, tmp=tmp, port=port, root=root))
    proc = procs.start("nginx", [nginx, "-p", str(tmp), "-e", str(tmp / "nginx-error.log"),
                                 "-c", str(conf)])  # fmt: skip
    wait_http(port, "/", procs)
    return ready_target(procs, "nginx", port, proc.pid, workers, watch_rss=False)


def fetch(host: str, port: int, path: str, conn: http.client.HTTPConnection | None = None) -> bytes:
    """GET ``path``; raises unless 200 (pass ``conn`` to reuse a keep-alive connection)."""
    own = conn is None
    conn = conn or http.client.HTTPConnection(host, port, timeout=30)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"GET {path}: {response.status} {body[:200]!r}")
        return body
    finally:
        if own:
            conn.close()


# --- wrk ------------------------------------------------------------------------------------

WRK_LUA = """\
local paths = {{
{paths}
}}
local count = #paths
local next_index = 1
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("ordinal", threads)
end

function init(args)
  -- each thread starts at its own share of the list, then walks all of it
  next_index = ((ordinal - 1) * math.floor(count / {threads})) % count + 1
end

function request()
  local path = paths[next_index]
  next_index = next_index % count + 1
  return wrk.format("GET", path)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{{"requests": %d, "bytes": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, '
    .. '"errors": %d}}\\n',
    summary.requests, summary.bytes, summary.duration, latency:percentile(50),
    latency:percentile(99), e.connect + e.read + e.write + e.status + e.timeout))
end
"""


def write_lua(path: Path, paths: Sequence[str]) -> Path:
    """A wrk script that cycles through ``paths``."""
    listed = ",\n".join(json.dumps(p) for p in paths)  # JSON strings are valid Lua strings here
    path.write_text(WRK_LUA.format(paths=listed, threads=WRK_THREADS))
    return path


@dataclass(frozen=True)
class WrkResult:
    """One wrk run: throughput, latency, failures, the server's CPU per request and peak RSS."""

    requests_per_s: float
    mb_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int
    cpu_us_per_request: float  # user + system CPU of the server's whole process tree
    kernel_share: float  # the system part of it
    peak_rss_mb: float  # the largest serving process's VmRSS; 0 when not watched
    peak_rss_sum_mb: float  # all serving processes' VmRSS together; 0 when not watched
    peak_memfd_mb: float  # the largest serving process's response-cache memfds


def serving_rss_mb(target: Target) -> tuple[float, float, float]:
    """(largest, sum) of the serving processes' VmRSS, and the largest memfd total, in MB."""
    each = [rss_mb(pid) for pid in target.serving]
    memfds = [memfd_mb(pid) for pid in target.serving]
    return max(each, default=0.0), sum(each), max(memfds, default=0.0)


@contextmanager
def watching_rss(
    target: Target, every_s: float = 0.2
) -> Iterator[list[tuple[float, float, float]]]:
    """Sample :func:`serving_rss_mb` while the block runs."""
    samples: list[tuple[float, float, float]] = []
    stop = threading.Event()

    def sample() -> None:
        while target.watch_rss and not stop.wait(every_s):
            samples.append(serving_rss_mb(target))

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield samples
    finally:
        stop.set()
        thread.join()


def wrk_command(target: Target, script: Path, seconds: int) -> list[str]:
    """``wrk -t2 -c32 -d{seconds}s`` with the cycling script."""
    return ["wrk", f"-t{WRK_THREADS}", f"-c{WRK_CONNECTIONS}", f"-d{seconds}s", "--timeout", "5s",
            "-s", str(script), target.base_url + "/"]  # fmt: skip


def run_wrk(target: Target, script: Path, seconds: int) -> WrkResult:
    """One measurement: CPU over the target's process tree, RSS of its serving processes."""
    user, system = cpu_seconds(target.pid)
    with watching_rss(target) as samples:
        done = subprocess.run(wrk_command(target, script, seconds), check=True,
                              capture_output=True, text=True, timeout=seconds + 60)  # fmt: skip
    user_after, system_after = cpu_seconds(target.pid)
    line = next(x for x in done.stdout.splitlines() if x.startswith('{"requests"'))
    data = json.loads(line)
    duration_s = data["duration_us"] / 1e6
    cpu_s = user_after - user + system_after - system
    return WrkResult(
        requests_per_s=data["requests"] / duration_s,
        mb_per_s=data["bytes"] / duration_s / 1e6,
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        errors=data["errors"],
        cpu_us_per_request=cpu_s / max(data["requests"], 1) * 1e6,
        kernel_share=(system_after - system) / cpu_s if cpu_s else 0.0,
        peak_rss_mb=max((s[0] for s in samples), default=0.0),
        peak_rss_sum_mb=max((s[1] for s in samples), default=0.0),
        peak_memfd_mb=max((s[2] for s in samples), default=0.0),
    )


# --- profile --------------------------------------------------------------------------------


def _frame(text: str) -> str:
    """``func (file:line)`` without the line number."""
    return re.sub(r":\d+\)$", ")", text)


def hot_spots(raw: Path, top: int = 12) -> dict[str, Any]:
    """Self and inclusive sample counts per function from py-spy's collapsed stacks."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        count, frames = int(count_text), [_frame(f) for f in stack.split(";")]
        total += count
        own[frames[-1]] += count
        for name in set(frames):
            inclusive[name] += count
    ours = [(n, c) for n, c in inclusive.most_common() if re.search(r"openvod/(origin|media)/", n)]
    return {"samples": total, "self": own.most_common(top), "openvod": ours[:top]}


def profile(
    procs: Processes, target: Target, script: Path, seconds: int, raw: Path
) -> dict[str, Any]:
    """py-spy's view of ``target``'s first serving process while wrk loads it with ``script``."""
    spy = Path(sys.executable).with_name("py-spy")
    if not spy.exists():
        return {"skipped": "py-spy not installed (.venv/bin/pip install py-spy)"}
    pid = target.serving[0]
    load = procs.start(f"wrk-{raw.stem}", wrk_command(target, script, seconds + 2))
    time.sleep(1)
    subprocess.run([str(spy), "record", "--pid", str(pid), "--duration", str(seconds),
                    "--rate", "100", "--nonblocking", "--format", "raw", "--output", str(raw)],
                   check=True, capture_output=True, timeout=seconds + 60)  # fmt: skip
    load.wait(timeout=30)
    return {**hot_spots(raw), "expected": seconds * 100, "file": raw.name, "pid": pid,
            "of": len(target.serving)}  # fmt: skip
