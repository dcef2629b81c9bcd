"""Build the one ffmpeg command that produces a whole :class:`EncodePlan`. Pure.

The input is decoded once; a filtergraph splits the picture into one branch
per rendition and thumbnail job, and the sound into one branch per AAC
output; every output file is its own ffmpeg output with explicit ``-map``s.
Every flag carries a comment saying why it is there, so the logged command
can be read (and pasted) by a person.

Rules the origin relies on: keyframes forced at the same timestamps in every
rendition (``-force_key_frames`` on time, closed GOPs, no scene-cut
keyframes), constant frame rate equal to the source, square pixels, 4:2:0,
``moov`` before ``mdat``, audio starting at 0 like the video.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from fractions import Fraction
from pathlib import Path

from openvod.encoding.gop import gop_frame_count, key_frame_rule
from openvod.encoding.overlays import (
    OverlaySource,
    compose_audio,
    compose_video,
    overlay_input_options,
)
from openvod.encoding.plan import (
    AudioEncode,
    EncodePlan,
    ImageJob,
    MediaFile,
    StreamCopy,
    VideoEncode,
)
from openvod.encoding.presets import DDAudio, H264Layer, H265Video
from openvod.encoding.source import InputFile, Segment
from openvod.encoding.x265 import x265_options

X264_PRESETS = {"Speed": "veryfast", "Balanced": "medium", "Quality": "slow"}
CHANNEL_LAYOUTS = {
    1: "mono",
    2: "stereo",
    3: "2.1",
    4: "quad",
    5: "5.0",
    6: "5.1",
    7: "6.1",
    8: "7.1",
}
PARITIES = {"Auto": "auto", "TopFieldFirst": "tff", "BottomFieldFirst": "bff"}
STITCH_SAMPLE_RATE = 48000
BEST_WINDOW_SECONDS = 10.0  # {Best} looks at the first seconds, as AMS did
BEST_SAMPLES_PER_SECOND = 2  # ...at about two frames a second, to bound memory


def build_command(
    ffmpeg: str | Path,
    plan: EncodePlan,
    inputs: Sequence[InputFile],
    output_dir: Path,
    image_dir: Path,
    overlays: Mapping[str, OverlaySource] | None = None,
) -> list[str]:
    """The full argv: global options, inputs, filtergraph, then one output per file/image job.

    ``overlays`` maps job input labels to the extra inputs the preset's overlays read
    (numbered after ``inputs``).
    """
    argv = [str(ffmpeg), *global_options()]
    for item in inputs:
        argv += input_options(item, plan)
    for source in sorted((overlays or {}).values(), key=lambda o: o.index):
        argv += overlay_input_options(source)
    graph = filtergraph(plan, overlays)
    if graph:
        argv += ["-filter_complex", graph]  # one decode feeds every rendition
    branch = _BranchCounter()
    for media in plan.files:
        argv += media_output_options(media, plan, branch) + [str(output_dir / media.name)]
    for index, job in enumerate(plan.images):
        target = image_dir / f"{job.key}_%06d.{_image_ext(job)}"
        argv += image_output_options(job, index) + [str(target)]
    return argv


def global_options() -> list[str]:
    """Options that apply to the whole run."""
    return [
        "-hide_banner",  # the build banner is noise in job logs
        "-nostdin",  # never wait on (or be stopped by) a terminal
        "-y",  # outputs go to a fresh temporary directory; overwrite without asking
        "-loglevel", "error",  # stderr carries only errors: it becomes the job's error message
        "-nostats",  # progress comes from -progress instead of the \r status line
        "-progress", "pipe:1",  # machine-readable out_time_us=... blocks on stdout
        "-stats_period", "0.5",  # ...twice a second
    ]  # fmt: skip


def input_options(item: InputFile, plan: EncodePlan) -> list[str]:
    """Options placed before one ``-i``: clipping and rotation handling."""
    options: list[str] = []
    if plan.filters.rotation != "Auto":
        options.append("-noautorotate")  # the preset rotates explicitly (or not at all)
    if item.start_seconds:
        # Input-side seek: fast, and frame-accurate because ffmpeg decodes and drops up to it.
        options += ["-ss", _seconds(item.start_seconds)]
    if item.end_seconds is not None:
        options += ["-to", _seconds(item.end_seconds)]  # input timeline, so clip end = source time
    return [*options, "-i", str(item.path)]


def filtergraph(plan: EncodePlan, overlays: Mapping[str, OverlaySource] | None = None) -> str:
    """The -filter_complex text: source chains, split per rendition, per-branch scaling."""
    chains: list[str] = []
    video_branches = [f.video for f in plan.files if isinstance(f.video, VideoEncode)]
    audio_branches = [a for f in plan.files for a in f.audios if isinstance(a, AudioEncode)]
    n_video = len(video_branches) + len(plan.images)
    overlays = overlays or {}
    if n_video:
        outs = "".join(f"[vs{i}]" for i in range(n_video))
        chains.append(_video_source(plan, overlays) + f"split={n_video}" + outs)
        chains += [_video_branch(v, i) for i, v in enumerate(video_branches)]
        start = len(video_branches)
        chains += [_image_branch(job, start + i, i, plan) for i, job in enumerate(plan.images)]
    if audio_branches:
        n_audio = len(audio_branches)
        outs = "".join(f"[as{i}]" for i in range(n_audio))
        chains.append(_audio_source(plan, overlays) + f"asplit={n_audio}" + outs)
        chains += [_audio_branch(a, i) for i, a in enumerate(audio_branches)]
    return ";".join(chains)


def _video_source(plan: EncodePlan, overlays: Mapping[str, OverlaySource]) -> str:
    """Picture from the input(s) up to the split: stitch, deinterlace, rotate, crop, fps, fades."""
    source = plan.source
    steps: list[str] = []
    if source.input_count > 1:
        head = _stitch_video(plan) + "[vcat];[vcat]"
    else:
        head = f"[0:{_segment(plan, 0).video_pad}]"
        if source.sample_aspect_ratio != 1:
            # Square the pixels first so crop and scale work in display pixels.
            steps += ["scale=trunc(iw*sar/2)*2:ih", "setsar=1"]
    filters = plan.filters
    if filters.deinterlace_mode != "Off" and (
        source.interlaced or filters.deinterlace_parity != "Auto"
    ):
        parity = PARITIES[filters.deinterlace_parity]
        # Only frames flagged interlaced are touched; one frame out per frame in keeps the rate.
        steps.append(f"yadif=mode=send_frame:parity={parity}:deint=interlaced")
    steps += _rotation_filters(filters.rotation)
    if source.crop:
        w, h, x, y = source.crop
        steps.append(f"crop={w}:{h}:{x}:{y}")
    # Constant frame rate equal to the source, starting at 0 like the audio (pads or trims).
    steps.append(f"fps={_rate(source.frame_rate)}:start_time=0")
    steps += _fade_filters(plan)
    if overlays and any(o.video for o in filters.overlays):
        size = (source.width, source.height)
        composed = compose_video("vbase", filters.overlays, overlays, size,
                                 source.duration_seconds)  # fmt: skip
        return head + ",".join(steps) + "[vbase];" + composed + ","
    return head + ",".join(steps) + ","


def _segment(plan: EncodePlan, index: int) -> Segment:
    """Input ``index``'s segment (a bare SourceSpec, as in unit tests, has none: first streams)."""
    segments = plan.source.segments
    return segments[index] if index < len(segments) else Segment("", 0.0, True, True)


def _rotation_filters(rotation: str) -> list[str]:
    return {
        "Rotate90": ["transpose=clock"],
        "Rotate180": ["hflip", "vflip"],
        "Rotate270": ["transpose=cclock"],
    }.get(rotation, [])


def _fade_filters(plan: EncodePlan) -> list[str]:
    fps = float(plan.source.frame_rate)
    duration = plan.source.duration_seconds
    steps = []
    fade_in, fade_out = plan.filters.fade_in, plan.filters.fade_out
    if fade_in is not None:
        start = fade_in.start.to_frames(fps, duration) / fps if fade_in.start else 0.0
        steps.append(
            f"fade=t=in:st={_seconds(start)}:d={_seconds(fade_in.duration_seconds)}:c={fade_in.color}"
        )
    if fade_out is not None:
        if fade_out.start is None:
            start = max(0.0, duration - fade_out.duration_seconds)  # end black at the very end
        else:
            start = fade_out.start.to_frames(fps, duration) / fps
        steps.append(
            f"fade=t=out:st={_seconds(start)}:d={_seconds(fade_out.duration_seconds)}:c={fade_out.color}"
        )
    return steps


def _stitch_video(plan: EncodePlan) -> str:
    """Stitch a JobInputSequence: each input scaled to the first one's size and rate, joined."""
    s = plan.source
    w, h, rate = s.width, s.height, _rate(s.frame_rate)
    parts = []
    labels = []
    for i in range(s.input_count):
        # Fit inside the first input's frame (letterboxed), square pixels, its rate, 4:2:0.
        parts.append(
            f"[{i}:{_segment(plan, i).video_pad}]"
            f"scale={w}:{h}:force_original_aspect_ratio=decrease,"
            f"pad={w}:{h}:(ow-iw)/2:(oh-ih)/2,setsar=1,fps={rate},format=yuv420p[cv{i}]"
        )
        labels.append(f"[cv{i}]")
    return ";".join(parts) + ";" + "".join(labels) + f"concat=n={s.input_count}:v=1:a=0"


def _video_branch(video: VideoEncode, index: int) -> str:
    steps = []
    if video.layer.frame_rate is not None:
        steps.append(f"fps={_rate(video.frame_rate)}")  # this layer asks for its own rate
    steps.append(f"scale={video.content_width}:{video.content_height}")
    if (video.content_width, video.content_height) != (video.width, video.height):
        steps.append(f"pad={video.width}:{video.height}:(ow-iw)/2:(oh-ih)/2")  # AutoFit letterbox
    steps += ["setsar=1", "format=yuv420p"]  # square pixels; 4:2:0 plays everywhere
    return f"[vs{index}]" + ",".join(steps) + f"[v{index}]"


def _image_branch(job: ImageJob, split_index: int, index: int, plan: EncodePlan) -> str:
    steps = [_best_filters(plan) if job.best else _select_filter(job)]
    full_range = ":out_range=full" if job.kind == "jpg" else ""  # JPEG is full-range YUV
    steps.append(f"scale={job.content_width}:{job.content_height}{full_range}")
    if (job.content_width, job.content_height) != (job.width, job.height):
        steps.append(f"pad={job.width}:{job.height}:(ow-iw)/2:(oh-ih)/2")
    steps += ["setsar=1", "format=rgb24" if job.kind == "png" else "format=yuv420p"]
    if job.sprite_columns:
        steps.append(f"tile={job.sprite_columns}x{job.sprite_rows}")  # one sprite sheet
    return f"[vs{split_index}]" + ",".join(steps) + f"[i{index}]"


def _select_filter(job: ImageJob) -> str:
    """Frames start, start+step, ... before end; n counts CFR frames after the fps filter."""
    return (
        f"select='gte(n,{job.start_frame})*lt(n,{job.end_frame})"
        f"*not(mod(n-{job.start_frame},{job.step_frames}))'"
    )


def _best_filters(plan: EncodePlan) -> str:
    """{Best}: the most representative frame of the first seconds (ffmpeg's thumbnail filter)."""
    fps = float(plan.source.frame_rate)
    window = min(BEST_WINDOW_SECONDS, plan.source.duration_seconds)
    step = max(1, round(fps / BEST_SAMPLES_PER_SECOND))
    candidates = max(1, math.ceil(window * fps / step))
    return f"trim=duration={_seconds(window)},framestep={step},thumbnail=n={candidates}"


def _audio_source(plan: EncodePlan, overlays: Mapping[str, OverlaySource]) -> str:
    """Sound up to the split, starting at 0 with gaps filled so it lines up with the video."""
    if plan.source.input_count > 1:
        head = _stitch_audio(plan) + "[acat];[acat]"
    else:
        head = f"[0:{_segment(plan, 0).audio_pad}]aresample=async=1:first_pts=0,"
    if overlays and plan.filters.overlays:
        mixed = compose_audio("abase", plan.filters.overlays, overlays,
                              plan.source.duration_seconds)  # fmt: skip
        return head + "anull[abase];" + mixed + ","
    return head


def _stitch_audio(plan: EncodePlan) -> str:
    """Concatenate the inputs' sound in one format; an input without sound adds silence."""
    parts = []
    for i, segment in enumerate(plan.source.segments):
        if segment.has_audio:
            head = f"[{i}:{segment.audio_pad}]aresample={STITCH_SAMPLE_RATE}:async=1:first_pts=0,"
        else:
            length = _seconds(segment.duration_seconds)
            head = f"anullsrc=r={STITCH_SAMPLE_RATE}:cl=stereo,atrim=duration={length},"
        parts.append(head + f"aformat=sample_fmts=fltp:channel_layouts=stereo[ca{i}];")
    count = len(plan.source.segments)
    return "".join(parts) + "".join(f"[ca{i}]" for i in range(count)) + f"concat=n={count}:v=0:a=1"


def _audio_branch(audio: AudioEncode, index: int) -> str:
    codec = audio.codec
    layout = CHANNEL_LAYOUTS.get(codec.channels, f"{codec.channels}c")
    return (
        f"[as{index}]aformat=sample_rates={codec.sampling_rate}:channel_layouts={layout}[a{index}]"
    )


class _BranchCounter:
    """Hands out filtergraph branch numbers in the order filtergraph() created them."""

    def __init__(self) -> None:
        self.video = 0
        self.audio = 0

    def next_video(self) -> int:
        self.video += 1
        return self.video - 1

    def next_audio(self) -> int:
        self.audio += 1
        return self.audio - 1


def media_output_options(media: MediaFile, plan: EncodePlan, branch: _BranchCounter) -> list[str]:
    """Maps, codecs and muxer options of one MP4/TS file (video first: track 1)."""
    options: list[str] = []
    if isinstance(media.video, VideoEncode):
        encoder = x265_options if isinstance(media.video.codec, H265Video) else x264_options
        options += ["-map", f"[v{branch.next_video()}]", *encoder(media.video)]
    elif isinstance(media.video, StreamCopy):
        options += ["-map", f"0:{media.video.stream_index}", "-c:v", "copy"]  # as in the source
    for j, audio in enumerate(media.audios):
        if isinstance(audio, AudioEncode):
            encode_audio = ac3_options if isinstance(audio.codec, DDAudio) else aac_options
            options += ["-map", f"[a{branch.next_audio()}]", *encode_audio(audio, j)]
        else:
            options += ["-map", f"0:{audio.stream_index}", f"-c:a:{j}", "copy"]
        if plan.source.audio_language:
            options += [f"-metadata:s:a:{j}", f"language={plan.source.audio_language}"]
    options += [
        "-map_metadata", "-1",  # source tags (titles, encoder, GPS) do not belong on renditions
        "-map_chapters", "-1",  # chapters would differ per file; keep renditions alike
    ]  # fmt: skip
    if media.container == "mp4":
        # moov first: progressive download starts at once and the origin indexes with one read.
        options += ["-movflags", "+faststart", "-f", "mp4"]
    else:
        options += ["-f", "mpegts"]
    return options


def x264_options(video: VideoEncode) -> list[str]:
    """Encoder options of one H.264 rendition."""
    layer, codec = video.layer, video.codec
    gop_frames = gop_frame_count(codec, video.frame_rate)
    params = ["open-gop=0"]  # closed GOPs: every segment decodes on its own
    options = [
        "-c:v", "libx264",
        "-preset:v", X264_PRESETS[codec.complexity],  # AMS complexity → x264 speed/quality
        # Keyframes on the clock, not on frame counts, so every rendition (even at another
        # frame rate) has them at the same timestamps; the origin cuts segments there.
        "-force_key_frames", key_frame_rule(codec, video.frame_rate),
        "-forced-idr", "1",  # forced keyframes are IDR frames (a clean switch point)
        "-g", str(gop_frames),  # x264's own maximum GOP, never shorter than the forced one
        "-keyint_min", str(gop_frames),  # no extra keyframes in between
        "-flags", "+cgop",  # closed GOP in libavcodec terms too
    ]  # fmt: skip
    if not codec.scene_change_detection:
        options += ["-sc_threshold", "0"]  # scene-cut keyframes would differ between renditions
    options += rate_control(video, params)
    options += _h264_tools(layer, params)
    return [*options, "-x264-params", ":".join(params)]


def rate_control(video: VideoEncode, params: list[str]) -> list[str]:
    """Bitrate options of a rendition (``params`` gets encoder-private additions)."""
    layer, mode = video.layer, video.codec.rate_control_mode
    bitrate = layer.bitrate_bps
    peak = layer.max_bitrate_bps or bitrate
    buffer_bits = int(peak * layer.buffer_window_seconds)  # bufferWindow = VBV size in time
    if mode == "CRF":
        options = ["-crf", f"{layer.crf if layer.crf is not None else 23:g}"]  # AMS default CRF 23
        if layer.max_bitrate_bps:
            options += ["-maxrate:v", str(peak), "-bufsize:v", str(buffer_bits)]  # capped CRF
        return options
    options = ["-b:v", str(bitrate), "-maxrate:v", str(peak), "-bufsize:v", str(buffer_bits)]
    if mode == "CBR":
        options += ["-minrate:v", str(bitrate)]
        params.append("nal-hrd=cbr")  # pad to a constant rate, signalled in the stream
    return options


def _h264_tools(layer: H264Layer, params: list[str]) -> list[str]:
    options: list[str] = []
    if layer.profile != "Auto":
        options += ["-profile:v", layer.profile.lower()]  # the preset pins the profile
    if layer.level:
        options += ["-level:v", layer.level]
    if layer.b_frames is not None:
        options += ["-bf", str(layer.b_frames)]
    if layer.reference_frames is not None:
        options += ["-refs", str(layer.reference_frames)]
    if layer.slices:
        options += ["-slices", str(layer.slices)]
    if layer.adaptive_b_frame is False:
        params.append("b-adapt=0")  # fixed B-frame pattern, as asked
    if layer.entropy_mode == "Cavlc":
        params.append("cabac=0")
    return options


def ac3_options(audio: AudioEncode, index: int) -> list[str]:
    """Dolby Digital (AC-3) options of audio stream ``index`` (DDAudio)."""
    return [
        f"-c:a:{index}", "ac3",  # ffmpeg's native AC-3 encoder; MP4 sample entry 'ac-3' + dac3
        f"-b:a:{index}", str(audio.codec.bitrate_bps),
    ]  # fmt: skip


def aac_options(audio: AudioEncode, index: int) -> list[str]:
    """Encoder options of audio stream ``index`` of a file."""
    codec = audio.codec
    return [
        f"-c:a:{index}", "aac",  # ffmpeg's native AAC encoder
        # AAC-LC always: the native encoder has no HE-AAC (that needs libfdk_aac, which this
        # build lacks), so HeAacV1/V2 presets get LC at the bitrate they asked for.
        f"-profile:a:{index}", "aac_low",
        f"-b:a:{index}", str(codec.bitrate_bps),
    ]  # fmt: skip


def image_output_options(job: ImageJob, index: int) -> list[str]:
    """Options of thumbnail job number ``index``: a numbered image sequence."""
    options = [
        "-map", f"[i{index}]",
        "-fps_mode", "vfr",  # write only the selected frames, never duplicates
        "-f", "image2",
        "-start_number", "1",  # {Index} counts from 1
    ]  # fmt: skip
    if job.kind == "png":
        # This ffmpeg build has no PNG encoder: write PPM, converted to PNG afterwards.
        options += ["-c:v", "ppm"]
    else:
        options += ["-c:v", "mjpeg", "-q:v", str(jpeg_qscale(job.quality))]
    if job.best:
        options += ["-frames:v", "1"]
    return options


def jpeg_qscale(quality: int | None) -> int:
    """AMS JPEG quality 0..100 (default 70) → mjpeg qscale 31..2 (lower is better)."""
    q = 70 if quality is None else quality
    return max(2, min(31, round(2 + (100 - q) * 29 / 100)))


def _image_ext(job: ImageJob) -> str:
    return "ppm" if job.kind == "png" else "jpg"


def _seconds(value: float) -> str:
    return f"{value:.6f}".rstrip("0").rstrip(".") or "0"


def _rate(rate: Fraction) -> str:
    return str(rate)  # "25" or "30000/1001": exact, no float drift
