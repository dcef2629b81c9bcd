"""ffprobe → :class:`MediaInfo`: what the encoder needs to know about an input.

:func:`probe` runs ffprobe; :func:`parse_probe_json` is the pure half, so it is
unit-tested on canned JSON.
"""

from __future__ import annotations

import json
import logging
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

from openvod.encoding.processes import child_options
from openvod.encoding.tools import ffprobe
from openvod.errors import MediaError

log = logging.getLogger(__name__)

StreamKind = Literal["video", "audio", "subtitle", "data", "attachment"]
# Demuxers that "read" any text or byte soup; a file only they accept is not media.
_NOT_MEDIA_FORMATS = frozenset({"tty", "data", "bin"})
_INTERLACED_ORDERS = frozenset({"tt", "bb", "tb", "bt"})


@dataclass(frozen=True)
class StreamInfo:
    """One stream of an input file, as ffprobe describes it."""

    index: int
    kind: str
    codec: str
    duration_seconds: float | None = None
    bitrate_bps: int | None = None
    width: int | None = None
    height: int | None = None
    frame_rate: Fraction | None = None
    sample_aspect_ratio: Fraction = Fraction(1)
    rotation_degrees: int = 0  # display-matrix rotation, as ffprobe reports it
    interlaced: bool = False
    sample_rate: int | None = None
    channels: int | None = None
    language: str | None = None
    is_cover_art: bool = False

    @property
    def display_size(self) -> tuple[int, int]:
        """Width and height as shown: square pixels, after the display-matrix rotation."""
        width = round((self.width or 0) * self.sample_aspect_ratio)
        height = self.height or 0
        return (height, width) if abs(self.rotation_degrees) % 180 == 90 else (width, height)


@dataclass(frozen=True)
class MediaInfo:
    """A probed input file."""

    name: str
    format_name: str
    duration_seconds: float
    bitrate_bps: int | None
    streams: tuple[StreamInfo, ...]

    @property
    def video(self) -> StreamInfo | None:
        """The first real video stream (cover art excluded)."""
        return next((s for s in self.streams if s.kind == "video" and not s.is_cover_art), None)

    @property
    def audio(self) -> StreamInfo | None:
        """The first audio stream."""
        return next((s for s in self.streams if s.kind == "audio"), None)

    @property
    def has_video(self) -> bool:
        """Whether the file has a video stream to encode."""
        return self.video is not None

    @property
    def has_audio(self) -> bool:
        """Whether the file has an audio stream."""
        return self.audio is not None


def probe(path: Path, *, timeout_seconds: float = 120.0, allow_still: bool = False) -> MediaInfo:
    """Probe ``path`` with ffprobe; raise MediaError if it is not media ffmpeg can read.

    ``allow_still`` accepts a still image (no duration: 0 s), as overlays may be.
    """
    argv = [
        str(ffprobe()),
        "-v", "error",  # only real problems on stderr; they become the error message
        "-print_format", "json",
        "-show_format",
        "-show_streams",
        str(path),
    ]  # fmt: skip
    log.debug("probing %s", path)
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=timeout_seconds, check=False,
            **child_options(),
        )
    except subprocess.TimeoutExpired as exc:
        raise MediaError(f"Probing the input file '{path.name}' took too long") from exc
    if done.returncode != 0:
        reason = _last_line(done.stderr)
        raise MediaError(
            f"The input file '{path.name}' is not a media file ffmpeg can read"
            + (f" ({reason})" if reason else "")
        )
    try:
        data = json.loads(done.stdout or "{}")
    except json.JSONDecodeError as exc:
        raise MediaError(f"ffprobe gave unreadable output for '{path.name}'") from exc
    return parse_probe_json(data, path.name, allow_still=allow_still)


def _last_line(stderr: str) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    if not lines:
        return ""
    # "path: Invalid data found..." → drop the path, it is in the message already.
    last = lines[-1]
    return last.split(": ", 1)[1] if ": " in last and last.count(": ") == 1 else last


def parse_probe_json(
    data: Mapping[str, Any], name: str, *, allow_still: bool = False
) -> MediaInfo:
    """Turn ffprobe's ``-show_format -show_streams`` JSON into a MediaInfo."""
    fmt = data.get("format") or {}
    format_name = str(fmt.get("format_name") or "")
    streams = tuple(_parse_stream(s) for s in data.get("streams") or [])
    usable = [s for s in streams if s.kind in ("video", "audio") and not s.is_cover_art]
    if not usable or format_name in _NOT_MEDIA_FORMATS:
        raise MediaError(
            f"The input file '{name}' is not a media file ffmpeg can read "
            "(it has no audio or video stream)"
        )
    duration = _float(fmt.get("duration"))
    if duration is None:
        durations = [s.duration_seconds for s in usable if s.duration_seconds]
        duration = max(durations) if durations else None
    if allow_still and not duration:
        duration = 0.0
    elif duration is None or duration <= 0:
        raise MediaError(f"The input file '{name}' has no duration; is it a still image?")
    return MediaInfo(
        name=name,
        format_name=format_name,
        duration_seconds=duration,
        bitrate_bps=_int(fmt.get("bit_rate")),
        streams=streams,
    )


def _parse_stream(s: Mapping[str, Any]) -> StreamInfo:
    kind = str(s.get("codec_type") or "data")
    disposition = s.get("disposition") or {}
    tags = s.get("tags") or {}
    language = tags.get("language")
    return StreamInfo(
        index=int(s.get("index", 0)),
        kind=kind,
        codec=str(s.get("codec_name") or "unknown"),
        duration_seconds=_float(s.get("duration")),
        bitrate_bps=_int(s.get("bit_rate")),
        width=_int(s.get("width")),
        height=_int(s.get("height")),
        frame_rate=_frame_rate(s) if kind == "video" else None,
        sample_aspect_ratio=_ratio(s.get("sample_aspect_ratio")) or Fraction(1),
        rotation_degrees=_rotation(s),
        interlaced=str(s.get("field_order") or "") in _INTERLACED_ORDERS,
        sample_rate=_int(s.get("sample_rate")),
        channels=_int(s.get("channels")),
        language=language if isinstance(language, str) and language != "und" else None,
        is_cover_art=bool(disposition.get("attached_pic")),
    )


def _frame_rate(s: Mapping[str, Any]) -> Fraction | None:
    """The stream's frame rate: r_frame_rate unless it is implausible, then avg_frame_rate."""
    real = _ratio(s.get("r_frame_rate"))
    average = _ratio(s.get("avg_frame_rate"))
    if real and 1 <= real <= 240 and (not average or abs(real - average) / real < Fraction(1, 10)):
        return real
    if average and 1 <= average <= 240:
        return average.limit_denominator(1001)
    return real if real and 1 <= real <= 240 else None


def _rotation(s: Mapping[str, Any]) -> int:
    for side in s.get("side_data_list") or []:
        if "rotation" in side:
            try:
                return int(round(float(side["rotation"])))
            except (TypeError, ValueError):
                return 0
    rotate = (s.get("tags") or {}).get("rotate")
    return int(rotate) if isinstance(rotate, str) and rotate.lstrip("-").isdigit() else 0


def _ratio(value: Any) -> Fraction | None:
    if not isinstance(value, str) or value in ("0/0", "N/A", "0:1", "0/1"):
        return None
    try:
        ratio = Fraction(value.replace(":", "/"))
    except (ValueError, ZeroDivisionError):
        return None
    return ratio if ratio > 0 else None


def _float(value: Any) -> float | None:
    try:
        return float(value) if value not in (None, "N/A") else None
    except (TypeError, ValueError):
        return None


def _int(value: Any) -> int | None:
    number = _float(value)
    return int(number) if number is not None else None
