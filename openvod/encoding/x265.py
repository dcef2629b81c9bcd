"""Encoder options of an HEVC rendition (``H265Video``, libx265). Pure.

Same GOP rules as H.264 (keyframes forced on the clock as IDR frames, closed
GOPs, no scene-cut keyframes, a maximum GOP of the interval), so HEVC
renditions segment at the same times; ``-tag:v hvc1`` gives the MP4 sample
entry Apple and browsers expect (parameter sets in ``hvcC``, not in-band).
"""

from __future__ import annotations

from openvod.encoding.gop import gop_frame_count, key_frame_rule
from openvod.encoding.plan import VideoEncode

X265_PRESETS = {"Speed": "veryfast", "Balanced": "medium", "Quality": "slow"}
PROFILES = {"Main": "main", "Main10": "main10"}
PIXEL_FORMATS = {"Main": "yuv420p", "Main10": "yuv420p10le"}


def x265_options(video: VideoEncode) -> list[str]:
    """libx265 options of one H.265 rendition."""
    layer, codec = video.layer, video.codec
    gop_frames = gop_frame_count(codec, video.frame_rate)
    params = [
        f"keyint={gop_frames}",  # x265's own maximum GOP, never shorter than the forced one
        f"min-keyint={gop_frames}",  # no extra keyframes in between
        "open-gop=0",  # closed GOPs: every segment decodes on its own
        "repeat-headers=0",  # parameter sets live in hvcC (hvc1), not in every keyframe
        "log-level=error",  # x265 prints its banner to stderr otherwise; stderr is the job error
    ]
    if not codec.scene_change_detection:
        params.append("scenecut=0")  # scene-cut keyframes would differ between renditions
    profile = layer.profile if layer.profile in PROFILES else "Main"
    options = [
        "-c:v", "libx265",
        "-tag:v", "hvc1",  # sample entry hvc1, what HLS fMP4 and DASH players ask for
        "-preset:v", X265_PRESETS[codec.complexity],  # AMS complexity → x265 speed/quality
        "-force_key_frames", key_frame_rule(codec, video.frame_rate),
        "-forced-idr", "1",  # forced keyframes are IDR frames (a clean switch point)
        "-profile:v", PROFILES[profile],
        "-pix_fmt", PIXEL_FORMATS[profile],  # Main10 encodes 10-bit 4:2:0
    ]  # fmt: skip
    options += _rate_options(video)
    params += _tools(video)
    return [*options, "-x265-params", ":".join(params)]


def _rate_options(video: VideoEncode) -> list[str]:
    layer = video.layer
    peak = layer.max_bitrate_bps or layer.bitrate_bps
    buffer_bits = int(peak * layer.buffer_window_seconds)  # bufferWindow = VBV size in time
    return [
        "-b:v", str(layer.bitrate_bps),
        "-maxrate:v", str(peak),
        "-bufsize:v", str(buffer_bits),
    ]  # fmt: skip


def _tools(video: VideoEncode) -> list[str]:
    layer = video.layer
    params: list[str] = []
    if layer.level:
        params.append(f"level-idc={layer.level}")
    if layer.b_frames is not None:
        params.append(f"bframes={layer.b_frames}")
    if layer.adaptive_b_frame is False:
        params.append("b-adapt=0")  # fixed B-frame pattern, as asked
    if layer.reference_frames is not None:
        params.append(f"ref={layer.reference_frames}")
    if layer.slices:
        params.append(f"slices={layer.slices}")
    return params
