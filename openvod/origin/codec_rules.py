"""Which stored codecs each streaming format can carry.

MPEG-TS HLS (``m3u8-aapl``, ``m3u8-aapl-v3``) is H.264 and AAC only, as AMS
served it: HEVC is streamed as HLS fMP4 (``m3u8-cmaf``) and DASH, never TS,
and Dolby Digital audio needs fMP4 too. A TS request for such an asset gets a
400 that names the format to use instead of a playlist players cannot play.
"""

from __future__ import annotations

from openvod import errors
from openvod.media.presentation import Presentation

TS_FORMATS = frozenset({"m3u8-aapl", "m3u8-aapl-v3"})
TS_VIDEO = frozenset({"avc1", "avc3"})
TS_AUDIO = frozenset({"mp4a"})
_CACHE_KEY = "codec_not_in_ts"
_NAMES = {"hvc1": "HEVC", "hev1": "HEVC", "ac-3": "Dolby Digital", "ec-3": "Dolby Digital Plus"}


class FormatNotCarriedError(errors.InvalidRequestError):
    """The asset's codecs cannot be streamed in the requested format."""


def check_format_carries(presentation: Presentation, fmt: str) -> None:
    """Raise FormatNotCarriedError when ``fmt`` is TS and a track is not H.264/AAC."""
    if fmt not in TS_FORMATS:
        return
    codec = _first_not_in_ts(presentation)
    if codec:
        name = _NAMES.get(codec, codec)
        raise FormatNotCarriedError(
            f"format={fmt} (MPEG-TS) carries H.264 and AAC only; this asset has "
            f"{name} ({codec}): use format=m3u8-cmaf (HLS fMP4) or format=mpd-time-cmaf"
        )


def _first_not_in_ts(presentation: Presentation) -> str:
    """The first codec TS cannot carry ('' for none), memoised on the presentation."""
    cache = getattr(presentation, "cache", None)
    if cache is not None and _CACHE_KEY in cache:
        return str(cache[_CACHE_KEY])
    found = ""
    for rendition in presentation.renditions:
        allowed = TS_VIDEO if rendition.kind == "video" else TS_AUDIO
        if rendition.track.codec not in allowed:
            found = rendition.track.codec
            break
    if cache is not None:
        cache[_CACHE_KEY] = found
    return found
