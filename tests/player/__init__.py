"""Support for the real-player tests: the media, the browser page, and what a run observed.

The players (hls.js, dash.js, shaka-player from ``.npm-deps/``, installed by
``scripts/test-deps.sh``) run in Debian's headless Chromium driven by
Playwright. A tiny static server on 127.0.0.1 serves the player page and the
libraries, so every stream request is a real cross-origin request (another
port) to the openvod origin, CORS included. The page must be on a loopback
address itself: Chromium's Local Network Access checks refuse requests from a
page it cannot place on the local network (such as one fulfilled by
``page.route``) to 127.0.0.1.
"""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.origin_support import make_ladder

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
NODE_MODULES = REPO / ".npm-deps" / "node_modules"
PAGE_FILE = Path(__file__).with_name("page.html")
PAGE_PATH = "/page.html"
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SECONDS = 20  # the asset's duration; its middle is where the tests seek to

# URL path on the static server -> file in .npm-deps (the minified browser builds).
LIBRARY_FILES = {
    "/lib/hls.min.js": "hls.js/dist/hls.min.js",
    "/lib/dash.all.min.js": "dashjs/dist/modern/umd/dash.all.min.js",
    "/lib/dash.mss.min.js": "dashjs/dist/modern/umd/dash.mss.min.js",
    "/lib/shaka-player.compiled.js": "shaka-player/dist/shaka-player.compiled.js",
}
# Player name (as page.html knows it) -> the scripts it needs, in load order.
PLAYER_SCRIPTS = {
    "hls": ["/lib/hls.min.js"],
    "dash": ["/lib/dash.all.min.js"],
    "dash+mss": ["/lib/dash.all.min.js", "/lib/dash.mss.min.js"],
    "shaka": ["/lib/shaka-player.compiled.js"],
}


def missing_requirements() -> str | None:
    """Why the player tests cannot run here (None when they can); names the fix."""
    install = "run `bash scripts/test-deps.sh` (as root) or `make test`"
    if importlib.util.find_spec("playwright") is None:
        return f"the playwright Python package is not installed: {install}"
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (Debian's chromium package): {install}"
    missing = [name for name in LIBRARY_FILES.values() if not (NODE_MODULES / name).is_file()]
    if missing:
        return f"player libraries missing from {NODE_MODULES}: {', '.join(missing)}: {install}"
    return None


def static_file(url_path: str) -> tuple[bytes, str] | None:
    """The body and media type the page origin serves at ``url_path`` (None: 404)."""
    if url_path == PAGE_PATH:
        return PAGE_FILE.read_bytes(), "text/html; charset=utf-8"
    name = LIBRARY_FILES.get(url_path)
    if name is None:
        return None
    return (NODE_MODULES / name).read_bytes(), "text/javascript; charset=utf-8"


class _StaticHandler(BaseHTTPRequestHandler):
    """GET of :func:`static_file`'s files; nothing else."""

    def do_GET(self) -> None:  # noqa: N802 (the name http.server dispatches to)
        found = static_file(self.path.split("?", 1)[0])
        if found is None:
            self.send_error(404)
            return
        body, content_type = found
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        """Quiet: the browser's console and the player's errors say what matters."""


@contextmanager
def serve_player_files() -> Iterator[str]:
    """Serve the page and the libraries on 127.0.0.1 (a free port); yields the base URL."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _StaticHandler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def make_long_ladder(folder: Path, seconds: int = SECONDS) -> list[Path]:
    """The origin tests' three-rendition ladder, ``seconds`` long, with sidecars."""
    return make_ladder(folder, seconds)


@dataclass(frozen=True)
class Snapshot:
    """What the page's ``snapshot()`` saw at one moment (see page.html)."""

    current_time: float
    duration: float | None
    paused: bool
    ended: bool
    ready_state: int
    playback_rate: float
    video_width: int
    video_height: int
    total_video_frames: int
    dropped_video_frames: int
    media_error: str | None
    errors: list[dict[str, str]]
    events: list[list[Any]]
    times: list[float]
    played: list[tuple[float, float]]
    buffered: list[tuple[float, float]]

    @classmethod
    def from_page(cls, data: dict[str, Any]) -> Snapshot:
        """Build from the JSON object that ``snapshot()`` returns."""
        return cls(
            current_time=float(data["currentTime"]),
            duration=None if data["duration"] is None else float(data["duration"]),
            paused=bool(data["paused"]),
            ended=bool(data["ended"]),
            ready_state=int(data["readyState"]),
            playback_rate=float(data["playbackRate"]),
            video_width=int(data["videoWidth"]),
            video_height=int(data["videoHeight"]),
            total_video_frames=int(data["totalVideoFrames"]),
            dropped_video_frames=int(data["droppedVideoFrames"]),
            media_error=data["mediaError"],
            errors=list(data["errors"]),
            events=list(data["events"]),
            times=[float(t) for t in data["times"]],
            played=[(float(a), float(b)) for a, b in data["played"]],
            buffered=[(float(a), float(b)) for a, b in data["buffered"]],
        )

    def is_buffered(self, seconds: float) -> bool:
        """Whether media time ``seconds`` lies in ``video.buffered``."""
        return any(start <= seconds < end for start, end in self.buffered)

    def was_played(self, seconds: float) -> bool:
        """Whether media time ``seconds`` lies in ``video.played``."""
        return any(start <= seconds < end for start, end in self.played)

    @property
    def played_seconds(self) -> float:
        """Media time played so far (the union of ``video.played``)."""
        return sum(end - start for start, end in self.played)

    def describe(self) -> str:
        """A one-paragraph account for assertion messages."""
        return (
            f"t={self.current_time:.2f}/{self.duration} paused={self.paused} "
            f"ended={self.ended} readyState={self.ready_state} rate={self.playback_rate} "
            f"size={self.video_width}x{self.video_height} frames={self.total_video_frames} "
            f"(dropped {self.dropped_video_frames}) mediaError={self.media_error} "
            f"errors={self.errors} played={self.played} buffered={self.buffered} "
            f"last events={self.events[-12:]}"
        )
