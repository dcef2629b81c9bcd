"""Finish thumbnail outputs: PPM → PNG, final names, sprite WebVTT maps.

The static ffmpeg that openvod ships has no PNG encoder (it is built without
zlib), so PNG thumbnails are written by ffmpeg as PPM and encoded here with
the standard library's zlib: a PNG is a signature and three chunks.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

from openvod.encoding.plan import ImageJob
from openvod.errors import EncodeError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def read_ppm(data: bytes) -> tuple[int, int, bytes]:
    """Width, height and RGB24 pixels of a binary (P6, 8-bit) PPM."""
    fields: list[bytes] = []
    position = 0
    while len(fields) < 4:
        while position < len(data) and data[position : position + 1].isspace():
            position += 1
        if data[position : position + 1] == b"#":  # comment to end of line
            position = data.index(b"\n", position) + 1
            continue
        end = position
        while end < len(data) and not data[end : end + 1].isspace():
            end += 1
        fields.append(data[position:end])
        position = end
    magic, width, height, maxval = fields[0], int(fields[1]), int(fields[2]), int(fields[3])
    if magic != b"P6" or maxval != 255:
        raise EncodeError("ffmpeg wrote a thumbnail in an unexpected PPM flavour")
    pixels = data[position + 1 : position + 1 + width * height * 3]
    if len(pixels) != width * height * 3:
        raise EncodeError("ffmpeg wrote a truncated thumbnail")
    return width, height, pixels


def _chunk(kind: bytes, payload: bytes) -> bytes:
    body = kind + payload
    return struct.pack(">I", len(payload)) + body + struct.pack(">I", zlib.crc32(body))


def encode_png(width: int, height: int, rgb: bytes) -> bytes:
    """An 8-bit truecolour PNG of ``rgb`` (row-major RGB24)."""
    stride = width * 3
    # Filter type 0 (None) on every row: simple, and zlib still compresses well.
    raw = b"".join(b"\x00" + rgb[row * stride : (row + 1) * stride] for row in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        PNG_SIGNATURE
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(raw, 6))
        + _chunk(b"IEND", b"")
    )


def ppm_to_png(source: Path, target: Path) -> None:
    """Convert one PPM file to PNG."""
    width, height, pixels = read_ppm(source.read_bytes())
    target.write_bytes(encode_png(width, height, pixels))


def _timestamp(seconds: float) -> str:
    millis = int(round(seconds * 1000))
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    return f"{hours:02d}:{minutes:02d}:{rest // 1000:02d}.{rest % 1000:03d}"


def sprite_vtt(job: ImageJob, sprite_name: str, frame_rate: float, duration_seconds: float) -> str:
    """The WebVTT that maps each time span to its tile: ``sprite.jpg#xywh=x,y,w,h``."""
    lines = ["WEBVTT", ""]
    starts = [(job.start_frame + k * job.step_frames) / frame_rate for k in range(job.count)]
    end_of_range = min(duration_seconds, job.end_frame / frame_rate)
    columns = job.sprite_columns or 1
    for k, start in enumerate(starts):
        end = starts[k + 1] if k + 1 < len(starts) else max(end_of_range, start + 1 / frame_rate)
        x, y = (k % columns) * job.width, (k // columns) * job.height
        lines += [
            f"{_timestamp(start)} --> {_timestamp(end)}",
            f"{sprite_name}#xywh={x},{y},{job.width},{job.height}",
            "",
        ]
    return "\n".join(lines)


def finish_images(
    job: ImageJob,
    image_dir: Path,
    output_dir: Path,
    basename: str,
    *,
    frame_rate: float,
    duration_seconds: float,
) -> list[Path]:
    """Move (and convert) one job's numbered images to their final names in ``output_dir``."""
    suffix = "ppm" if job.kind == "png" else "jpg"
    produced = sorted(image_dir.glob(f"{job.key}_*.{suffix}"))
    if not produced:
        raise EncodeError("ffmpeg produced no thumbnail: the selected times are past the end")
    written: list[Path] = []
    for index, path in enumerate(produced, start=1):
        target = output_dir / job.file_name(basename, index)
        if job.kind == "png":
            ppm_to_png(path, target)
            path.unlink()
        else:
            path.replace(target)
        written.append(target)
    if job.sprite_columns:
        vtt = output_dir / job.file_name(basename, 1, extension=".vtt")
        vtt.write_text(
            sprite_vtt(job, written[0].name, frame_rate, duration_seconds), encoding="utf-8"
        )
        written.append(vtt)
    return written
