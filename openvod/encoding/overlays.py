"""Filter chains of a preset's overlays (``VideoOverlay``, ``AudioOverlay``). Pure.

An overlay names another job input by its label; that input is an extra
ffmpeg input (an image is read with ``-loop 1``). Each overlay is shifted to
start at its ``start`` on the output timeline, trimmed to ``end``, faded in
and out (alpha fades for pictures, volume fades for sound), and composed:
pictures with ``overlay`` at ``position`` (pixels or % of the main picture,
scaled to its width/height) with ``opacity``; sound with ``amix`` at
``audioGainLevel`` (the main sound keeps its level, as AMS mixed it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from openvod.encoding.filters import Overlay, Rectangle
from openvod.encoding.gop import seconds_text as sec
from openvod.resources.preset_values import Dimension


@dataclass(frozen=True)
class OverlaySource:
    """The ffmpeg input an overlay reads."""

    path: Path
    index: int  # ffmpeg input number
    still: bool  # an image, read with -loop 1
    has_video: bool
    has_audio: bool


def overlay_input_options(source: OverlaySource) -> list[str]:
    """Options and ``-i`` of an overlay input (an image loops until its trim)."""
    return [*(["-loop", "1"] if source.still else []), "-i", str(source.path)]


def _window(overlay: Overlay, duration_seconds: float) -> tuple[float, float]:
    start = min(overlay.start_seconds, duration_seconds)
    end = duration_seconds if overlay.end_seconds is None else overlay.end_seconds
    return start, max(start, min(end, duration_seconds))


def _crop(rect: Rectangle) -> str:
    """crop= in the overlay's own pixels (percentages of its size via iw/ih)."""

    def part(dim: Dimension | None, axis: str, default: str) -> str:
        if dim is None:
            return default
        return f"{axis}*{dim.value / 100:g}" if dim.is_percent else f"{dim.value:g}"

    return (
        f"crop={part(rect.width, 'iw', 'iw')}:{part(rect.height, 'ih', 'ih')}"
        f":{part(rect.left, 'iw', '0')}:{part(rect.top, 'ih', '0')}"
    )


def _picture_chain(
    overlay: Overlay, source: OverlaySource, n: int, size: tuple[int, int], duration: float
) -> str:
    start, end = _window(overlay, duration)
    steps = []
    if overlay.crop is not None:
        steps.append(_crop(overlay.crop))
    pos = overlay.position
    if pos is not None and (pos.width is not None or pos.height is not None):
        w = -2 if pos.width is None else max(2, int(pos.width.resolve(size[0])) // 2 * 2)
        h = -2 if pos.height is None else max(2, int(pos.height.resolve(size[1])) // 2 * 2)
        steps.append(f"scale={w}:{h}")
    steps += [
        "format=yuva420p",  # an alpha plane for opacity and fades
        f"colorchannelmixer=aa={overlay.opacity:g}",
        f"trim=duration={sec(end - start)}",  # a looped image is endless: stop at end
        f"setpts=PTS-STARTPTS+{sec(start)}/TB",  # start at 'start' on the output timeline
    ]
    if overlay.fade_in_seconds:
        steps.append(f"fade=t=in:st={sec(start)}:d={sec(overlay.fade_in_seconds)}:alpha=1")
    if overlay.fade_out_seconds:
        at = max(start, end - overlay.fade_out_seconds)
        steps.append(f"fade=t=out:st={sec(at)}:d={sec(overlay.fade_out_seconds)}:alpha=1")
    return f"[{source.index}:v:0]" + ",".join(steps) + f"[ov{n}]"


def compose_video(
    base: str,
    overlays: Sequence[Overlay],
    sources: Mapping[str, OverlaySource],
    size: tuple[int, int],
    duration_seconds: float,
) -> str:
    """Chains drawing every picture overlay over ``[base]``; the text ends at the last overlay
    filter without an output label, so the caller continues the chain with ``,``."""
    pictures = [o for o in overlays if o.video and sources[o.input_label].has_video]
    if not pictures:
        return f"[{base}]null"
    chains, current = [], base
    for n, overlay in enumerate(pictures):
        chains.append(_picture_chain(overlay, sources[overlay.input_label], n,
                                     size, duration_seconds))  # fmt: skip
    draws = []
    for n, overlay in enumerate(pictures):
        start, end = _window(overlay, duration_seconds)
        pos = overlay.position
        x = int(pos.left.resolve(size[0])) if pos and pos.left else 0
        y = int(pos.top.resolve(size[1])) if pos and pos.top else 0
        label = "" if n == len(pictures) - 1 else f"[vo{n}]"
        draws.append(
            f"[{current}][ov{n}]overlay=x={x}:y={y}:eof_action=pass"
            f":enable='between(t,{sec(start)},{sec(end)})'{label}"
        )
        current = f"vo{n}"
    return ";".join(chains + draws)


def compose_audio(
    base: str,
    overlays: Sequence[Overlay],
    sources: Mapping[str, OverlaySource],
    duration_seconds: float,
) -> str:
    """Chains mixing every overlay's sound into ``[base]``; ends without an output label."""
    sounds = [o for o in overlays if sources[o.input_label].has_audio]
    if not sounds:
        return f"[{base}]anull"
    chains = []
    for n, overlay in enumerate(sounds):
        start, end = _window(overlay, duration_seconds)
        steps = [
            f"atrim=duration={sec(end - start)}",
            "asetpts=PTS-STARTPTS",
            "aresample=48000",
            "aformat=sample_fmts=fltp:channel_layouts=stereo",
            f"volume={overlay.audio_gain:g}",
        ]
        if overlay.fade_in_seconds:
            steps.append(f"afade=t=in:st=0:d={sec(overlay.fade_in_seconds)}")
        if overlay.fade_out_seconds:
            at = max(0.0, end - start - overlay.fade_out_seconds)
            steps.append(f"afade=t=out:st={sec(at)}:d={sec(overlay.fade_out_seconds)}")
        steps.append(f"adelay={int(start * 1000)}:all=1")  # start at 'start'
        chains.append(f"[{sources[overlay.input_label].index}:a:0]" + ",".join(steps) + f"[ao{n}]")
    inputs = f"[{base}]" + "".join(f"[ao{n}]" for n in range(len(sounds)))
    # duration=first: the main sound sets the length; normalize=0 keeps its level.
    mix = f"{inputs}amix=inputs={len(sounds) + 1}:duration=first:normalize=0"
    return ";".join([*chains, mix])
