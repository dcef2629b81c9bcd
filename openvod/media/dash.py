"""MPEG-DASH MPDs (ISO/IEC 23009-1) for a :class:`Presentation`.

One static Period; one AdaptationSet with every video rendition, and one per
audio language/codec/channel layout. Segments are addressed with
``SegmentTemplate`` + ``SegmentTimeline`` in the track's own timescale, with
AMS's URLs (``QualityLevels($Bandwidth$)/Fragments(video=$Time$,format=...)``),
so each Representation's ``bandwidth`` is its identifying bitrate. When all
Representations of a set share the template and timeline it is written once
on the AdaptationSet, else on each Representation. ``S`` elements are
run-length coded (``r`` = repeats after the first), so a 2-hour asset's
timeline is a few lines.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from html import escape

import numpy as np
import numpy.typing as npt

from openvod.media.presentation import Presentation, Rendition, remember
from openvod.media.urls import (
    INIT_TIME,
    NO_OPTIONS,
    DashFormat,
    ManifestOptions,
    fragment_name,
    quality_levels,
)

PROFILES: dict[DashFormat, str] = {
    "mpd-time-csf": "urn:mpeg:dash:profile:isoff-live:2011",
    "mpd-time-cmaf": "urn:mpeg:dash:profile:isoff-live:2011,urn:mpeg:dash:profile:cmaf:2019",
}
CHANNEL_SCHEME = "urn:mpeg:dash:23003:3:audio_channel_configuration:2011"
ROLE_SCHEME = "urn:mpeg:dash:role:2011"
_MIME = {"video": "video/mp4", "audio": "audio/mp4"}


def timeline_runs(start_ticks: npt.NDArray[np.int64]) -> list[tuple[int, int, int]]:
    """``(t, d, count)`` runs of equal consecutive durations of a contiguous timeline."""
    durations = np.diff(start_ticks)
    if not len(durations):
        return []
    changes = np.flatnonzero(durations[1:] != durations[:-1]) + 1
    firsts = np.concatenate(([0], changes))
    counts = np.diff(np.append(firsts, len(durations)))
    return list(
        zip(
            start_ticks[firsts].tolist(),
            durations[firsts].tolist(),
            counts.tolist(),
            strict=True,
        )
    )


def format_duration(seconds: float) -> str:
    """An xs:duration such as ``PT7200.000S``."""
    return f"PT{seconds:.3f}S"


def _frame_rate(rate: Fraction) -> str:
    return str(rate.numerator) if rate.denominator == 1 else f"{rate.numerator}/{rate.denominator}"


def _segment_timeline(rendition: Rendition, indent: str) -> str:
    """The SegmentTimeline element (cached on the rendition)."""
    key = ("dash-timeline", indent)
    cached = rendition.cache.get(key)
    if cached is not None:
        return str(cached)
    lines = [f"{indent}<SegmentTimeline>"]
    for index, (start, duration, count) in enumerate(timeline_runs(rendition.start_ticks)):
        t = f' t="{start}"' if index == 0 else ""
        r = f' r="{count - 1}"' if count > 1 else ""
        lines.append(f'{indent}  <S{t} d="{duration}"{r}/>')
    lines.append(f"{indent}</SegmentTimeline>")
    text = "\n".join(lines)
    remember(rendition.cache, key, text)
    return text


def _segment_template(
    rendition: Rendition, fmt: DashFormat, options: ManifestOptions, indent: str
) -> str:
    name = rendition.track_name
    media = quality_levels("$Bandwidth$") + fragment_name(name, "$Time$", fmt, options)
    init = quality_levels("$Bandwidth$") + fragment_name(name, INIT_TIME, fmt, options)
    offset = rendition.presentation_offset_ticks
    pto = f'presentationTimeOffset="{offset}" ' if offset else ""
    return (
        f'{indent}<SegmentTemplate timescale="{rendition.timescale}" {pto}'
        f'initialization="{escape(init)}" media="{escape(media)}">\n'
        f"{_segment_timeline(rendition, indent + '  ')}\n"
        f"{indent}</SegmentTemplate>"
    )


def _shares_template(renditions: Sequence[Rendition]) -> bool:
    first = renditions[0]
    return all(
        r.track_name == first.track_name
        and r.timescale == first.timescale
        and np.array_equal(r.start_ticks, first.start_ticks)
        for r in renditions[1:]
    )


def representation_id(rendition: Rendition) -> str:
    """The ``id`` of a rendition's Representation (unescaped)."""
    return f"{rendition.track_name}_{rendition.bitrate_bps}"


def _representation(rendition: Rendition, template: str | None, indent: str) -> str:
    track = rendition.track
    attributes = (
        f'id="{escape(representation_id(rendition))}" '
        f'bandwidth="{rendition.bitrate_bps}" codecs="{escape(track.codec_string)}"'
    )
    children: list[str] = []
    if rendition.kind == "video":
        attributes += f' width="{track.width}" height="{track.height}" sar="1:1"'
        if track.frame_rate:
            attributes += f' frameRate="{_frame_rate(track.frame_rate)}"'
    else:
        attributes += f' audioSamplingRate="{track.sample_rate_hz}"'
        children.append(
            f'{indent}  <AudioChannelConfiguration schemeIdUri="{CHANNEL_SCHEME}" '
            f'value="{track.channels}"/>'
        )
    if template is not None:
        children.append(template)
    if not children:
        return f"{indent}<Representation {attributes}/>"
    body = "\n".join(children)
    return f"{indent}<Representation {attributes}>\n{body}\n{indent}</Representation>"


def _adaptation_set(
    set_id: int,
    renditions: Sequence[Rendition],
    fmt: DashFormat,
    options: ManifestOptions,
    role: str | None,
) -> str:
    first = renditions[0]
    kind = first.kind
    attributes = (
        f'id="{set_id}" contentType="{kind}" mimeType="{_MIME[kind]}" '
        'segmentAlignment="true" startWithSAP="1"'
    )
    if kind == "video":
        attributes += (
            f' maxWidth="{max(r.track.width for r in renditions)}"'
            f' maxHeight="{max(r.track.height for r in renditions)}"'
        )
        rates = [r.track.frame_rate for r in renditions if r.track.frame_rate]
        if rates:
            attributes += f' maxFrameRate="{_frame_rate(max(rates))}"'
    else:
        attributes += f' lang="{escape(first.language)}"'
    lines = [f"    <AdaptationSet {attributes}>"]
    if first.title:  # the .ism's title: the name players list the language under
        lines.append(f"      <Label>{escape(first.title)}</Label>")
    if role is not None:
        lines.append(f'      <Role schemeIdUri="{ROLE_SCHEME}" value="{role}"/>')
    shared = _shares_template(renditions)
    if shared:
        lines.append(_segment_template(first, fmt, options, "      "))
    for rendition in renditions:
        own = None if shared else _segment_template(rendition, fmt, options, "        ")
        lines.append(_representation(rendition, own, "      "))
    lines.append("    </AdaptationSet>")
    return "\n".join(lines)


def _audio_sets(audio: Sequence[Rendition]) -> list[list[Rendition]]:
    """Audio renditions grouped by language, title, codec and channel count (in listing
    order): one AdaptationSet per language of a multi-language asset."""
    groups: dict[tuple[str, str, str, int], list[Rendition]] = {}
    for rendition in audio:
        track = rendition.track
        key = (rendition.language, rendition.title, track.codec_string, track.channels)
        groups.setdefault(key, []).append(rendition)
    return list(groups.values())


def build_mpd(p: Presentation, fmt: DashFormat, options: ManifestOptions = NO_OPTIONS) -> str:
    """The static MPD at ``manifest(format=mpd-time-csf|mpd-time-cmaf)``; URLs are relative."""
    key = ("mpd", fmt, options)
    cached = p.cache.get(key)
    if cached is not None:
        return str(cached)
    children = options.for_children()
    sets: list[str] = []
    if p.video:
        sets.append(_adaptation_set(len(sets), p.video, fmt, children, None))
    for index, group in enumerate(_audio_sets(p.audio)):
        role = "main" if index == 0 else "alternate"
        sets.append(_adaptation_set(len(sets), group, fmt, children, role))
    longest = max((float(r.durations_ticks.max()) / r.timescale for r in p.renditions), default=2.0)
    text = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" '
        f'profiles="{PROFILES[fmt]}" type="static" '
        f'mediaPresentationDuration="{format_duration(p.duration_seconds)}" '
        f'minBufferTime="{format_duration(longest)}">\n'
        '  <Period id="0" start="PT0S">\n' + "\n".join(sets) + "\n  </Period>\n</MPD>\n"
    )
    remember(p.cache, key, text)
    return text
