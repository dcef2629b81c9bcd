"""Where keyframes go: the one rule every video encoder of an encode shares. Pure."""

from __future__ import annotations

import math
from fractions import Fraction

from openvod.encoding.presets import H264Video


def seconds_text(value: float) -> str:
    """A time for an ffmpeg option: up to microseconds, no trailing zeros."""
    return f"{value:.6f}".rstrip("0").rstrip(".") or "0"


def key_frame_rule(codec: H264Video, frame_rate: Fraction) -> str:
    """``-force_key_frames``: on the interval's clock, or at the source's own keyframe times.

    On the clock, not on frame counts, so every rendition (even at another
    frame rate) has keyframes at the same timestamps; the origin cuts there.
    """
    if codec.key_frame_times:
        # Saas*Aligned presets: the proxy's GOPs line up with the copied source's.
        return ",".join(seconds_text(t) for t in codec.key_frame_times)
    return f"expr:gte(t,n_forced*{seconds_text(codec.key_frame_interval_seconds)})"


def gop_frame_count(codec: H264Video, frame_rate: Fraction) -> int:
    """The encoder's own maximum GOP in frames: never shorter than the forced one."""
    if codec.key_frame_times:
        times = codec.key_frame_times
        gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
        longest = max(gaps, default=codec.key_frame_interval_seconds)
        return max(1, math.ceil(longest * float(frame_rate)) + 1)
    return max(1, math.ceil(codec.key_frame_interval_seconds * float(frame_rate)))
