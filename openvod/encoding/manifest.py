"""The ``.ism`` entries of an encode plan (which file carries which track)."""

from __future__ import annotations

from openvod.encoding.plan import AudioEncode, AudioOut, EncodePlan, StreamCopy, VideoEncode
from openvod.encoding.presets import DDAudio
from openvod.media.ism import IsmTrack, ServerManifest, audio_track_name


def build_server_manifest(plan: EncodePlan) -> ServerManifest:
    """Every MP4 video rendition, then each distinct audio once, from the first file with it.

    ffmpeg numbers MP4 tracks in ``-map`` order, and the command maps video
    first, so a file's video is track 1 and its audio follows.
    """
    tracks: list[IsmTrack] = []
    audio_tracks: list[IsmTrack] = []
    seen_audio: list[AudioOut] = []
    for media in plan.files:
        if media.container != "mp4":
            continue
        if media.video is not None:
            tracks.append(IsmTrack("video", media.name, _video_bitrate(media.video), 1))
        first_audio_id = 2 if media.video is not None else 1
        for offset, audio in enumerate(media.audios):
            if audio in seen_audio:
                continue
            seen_audio.append(audio)
            bitrate, name = _audio_entry(audio, plan)
            audio_tracks.append(
                IsmTrack("audio", media.name, bitrate, first_audio_id + offset, name)
            )
    return ServerManifest(tuple(tracks + audio_tracks))


def _video_bitrate(video: VideoEncode | StreamCopy) -> int:
    if isinstance(video, VideoEncode):
        return video.layer.bitrate_bps
    return video.bitrate_bps or 0


def _audio_entry(audio: AudioOut, plan: EncodePlan) -> tuple[int, str]:
    language = plan.source.audio_language
    if isinstance(audio, AudioEncode):
        codec = audio.codec
        name = "ac3" if isinstance(codec, DDAudio) else "aac"
        return codec.bitrate_bps, audio_track_name(
            name, language, codec.channels, codec.bitrate_bps
        )
    bitrate = audio.bitrate_bps or 0
    codec_name = plan.source.audio_codec or "aac"
    return bitrate, audio_track_name(codec_name, language, plan.source.audio_channels or 2, bitrate)
