"""Run an encode: probe, plan, one ffmpeg process, finish outputs, publish atomically.

:func:`run_logged` is the only place a subprocess is started for encoding: it
logs the command shell-quoted (paste it into a terminal to reproduce a job),
streams stdout lines to a callback, keeps the tail of stderr for the error
message, and on cancel terminates, then kills, the process and its group.
Children die with the worker (:mod:`openvod.encoding.processes`).

:func:`encode` writes everything into a private temporary directory and moves
the finished files into ``output_dir`` only on success, so a failed or
canceled job leaves ``output_dir`` as it found it.
"""

from __future__ import annotations

import logging
import re
import shlex
import shutil
import subprocess
import tempfile
import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openvod.encoding.analysis import measure_bits_per_pixel, source_keyframe_times
from openvod.encoding.builtin import (
    SourceAnalysis,
    expand_builtin,
    needs_complexity,
    needs_key_frames,
)
from openvod.encoding.command import build_command
from openvod.encoding.manifest import build_server_manifest
from openvod.encoding.overlays import OverlaySource
from openvod.encoding.plan import EncodePlan, build_plan
from openvod.encoding.presets import BuiltInPreset, Filters, StandardPreset, parse_preset
from openvod.encoding.probe import MediaInfo, probe
from openvod.encoding.processes import child_options, stop_group
from openvod.encoding.source import InputFile, SourceSpec, describe_source
from openvod.encoding.thumbnails import finish_images
from openvod.encoding.tools import ffmpeg
from openvod.errors import EncodeError, JobCanceledError, MediaError
from openvod.media.ism import build_ism

__all__ = ["InputFile", "ProcessResult", "encode", "run_logged"]

log = logging.getLogger(__name__)

MALFORMED = "ContentMalformed"  # AMS JobErrorCode for inputs that cannot be decoded
# On cancel ffmpeg gets SIGTERM, then SIGKILL: its graceful exit flushes every encoder and
# writes trailers we are about to delete, so it gets only a short grace.
KILL_GRACE_SECONDS = 0.5
POLL_SECONDS = 0.1
STDERR_TAIL_LINES = 40
# ffmpeg exits 0 on a cut-off input; these stderr phrases say the input was damaged.
_TRUNCATION_MARKERS = ("partial file", "moov atom not found", "Truncating packet")
# How much shorter than expected the output may be before the input counts as truncated.
SHORT_OUTPUT_TOLERANCE_SECONDS = 1.0
IMAGE_CODECS = frozenset({"png", "mjpeg", "bmp", "webp", "tiff"})  # overlays shown as stills
_LOG_PREFIX = re.compile(r"^(\[[^\]]*@ 0x[0-9a-f]+\]\s*)+")


@dataclass(frozen=True)
class ProcessResult:
    """How a process ended: its exit status and the last lines of its stderr."""

    returncode: int
    stderr_tail: tuple[str, ...]


def run_logged(
    argv: Sequence[str],
    *,
    cancel: threading.Event | None = None,
    on_stdout_line: Callable[[str], None] | None = None,
    kill_grace_seconds: float = KILL_GRACE_SECONDS,
) -> ProcessResult:
    """Run ``argv`` to completion; raise JobCanceledError (process gone) if ``cancel`` is set."""
    log.info("running: %s", shlex.join(argv))
    if cancel is not None and cancel.is_set():
        raise JobCanceledError("The job was canceled before the encode started")
    process = subprocess.Popen(
        list(argv),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
        **child_options(),  # dies with its worker; its own process group
    )
    tail: deque[str] = deque(maxlen=STDERR_TAIL_LINES)
    readers = [
        threading.Thread(target=_pump, args=(process.stdout, on_stdout_line), daemon=True),
        threading.Thread(target=_pump, args=(process.stderr, tail.append), daemon=True),
    ]
    for reader in readers:
        reader.start()
    try:
        returncode = _wait(process, cancel, kill_grace_seconds)
    finally:
        if process.poll() is None:
            _stop(process, kill_grace_seconds)
        for reader in readers:
            reader.join(timeout=5)
    return ProcessResult(returncode, tuple(line.rstrip() for line in tail if line.strip()))


def _pump(stream: Any, sink: Callable[[str], None] | None) -> None:
    for line in stream:
        if sink is None:
            continue
        try:
            sink(line)
        except Exception:  # a broken progress callback must not hang the pipe
            log.exception("output callback failed")


def _wait(process: subprocess.Popen[str], cancel: threading.Event | None, grace: float) -> int:
    while True:
        try:
            return process.wait(timeout=POLL_SECONDS)
        except subprocess.TimeoutExpired:
            pass
        if cancel is not None and cancel.is_set():
            log.info("canceling pid %d", process.pid)
            _stop(process, grace)
            raise JobCanceledError("The job was canceled")


def _stop(process: subprocess.Popen[str], grace: float) -> None:
    """SIGTERM to its process group, then SIGKILL after ``grace`` seconds; always reaps it."""
    stop_group(process, grace)


class ProgressTracker:
    """Turns ffmpeg ``-progress`` lines into 0..100 percentages (monotonic, < 100 until done)."""

    def __init__(self, duration_seconds: float, callback: Callable[[float], None] | None) -> None:
        self.duration_us = max(1.0, duration_seconds * 1e6)
        self.callback = callback
        self.out_time_us = 0
        self.last_percent = -1.0

    def feed(self, line: str) -> None:
        """Consume one ``key=value`` line."""
        key, _, value = line.strip().partition("=")
        if key != "out_time_us" or not value.lstrip("-").isdigit():
            return
        self.out_time_us = max(self.out_time_us, int(value))
        percent = min(99.9, 100.0 * self.out_time_us / self.duration_us)
        if percent > self.last_percent and self.callback is not None:
            self.last_percent = percent
            self.callback(round(percent, 1))


def encode(
    inputs: Sequence[InputFile],
    preset: Mapping[str, Any],
    output_dir: Path,
    *,
    basename: str,
    on_progress: Callable[[float], None] | None = None,
    cancel: threading.Event | None = None,
    work_dir: Path | None = None,
) -> list[Path]:
    """Encode ``inputs`` with an AMS ``preset`` into ``output_dir``; return the files written.

    Raises InvalidPresetError for a bad preset, MediaError/EncodeError with a
    readable message for unusable input or a failed encode, JobCanceledError
    when ``cancel`` is set. On any error ``output_dir`` is left untouched.
    """
    parsed = parse_preset(preset)
    if not inputs:
        raise EncodeError("The job has no input file to encode")
    for item in inputs:
        if not item.path.is_file():
            raise EncodeError(f"The input file '{item.path.name}' does not exist")
    filters = parsed.filters if isinstance(parsed, StandardPreset) else Filters()
    inputs, overlays = _split_overlay_inputs(inputs, filters)
    infos = [_probe_input(item.path) for item in inputs]
    source = describe_source(inputs, infos, filters)
    plan = build_plan(_standard(parsed, source, inputs), source, basename, infos[0].name)
    tracker = ProgressTracker(source.duration_seconds, on_progress)
    output_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="openvod-encode-", dir=work_dir) as temp:
        staged, images = Path(temp) / "out", Path(temp) / "images"
        staged.mkdir()
        images.mkdir()
        argv = build_command(ffmpeg(), plan, inputs, staged, images, overlays)
        result = run_logged(argv, cancel=cancel, on_stdout_line=tracker.feed)
        _check_result(result, infos)
        names = _finish(plan, staged, images)
        _check_duration(plan, staged, infos)
        written = _publish(staged, names, output_dir)
    if on_progress is not None:
        on_progress(100.0)
    return written


def _split_overlay_inputs(
    inputs: Sequence[InputFile], filters: Filters
) -> tuple[list[InputFile], dict[str, OverlaySource]]:
    """The inputs to encode, and the inputs the overlays read (by label), numbered after them."""
    wanted = {o.input_label for o in filters.overlays}
    main = [item for item in inputs if item.label is None or item.label not in wanted]
    found = {item.label: item for item in inputs if item.label in wanted}
    for label in sorted(wanted - set(found)):
        raise EncodeError(f"The overlay's inputLabel '{label}' names no job input")
    if not main:
        raise EncodeError("Every job input is an overlay; there is nothing to overlay onto")
    sources = {}
    for offset, (label, item) in enumerate(sorted(found.items())):
        info = _probe_input(item.path, allow_still=True)
        still = bool(info.video and info.video.codec in IMAGE_CODECS and not info.has_audio)
        sources[str(label)] = OverlaySource(
            item.path, len(main) + offset, still, info.has_video, info.has_audio
        )
    return main, sources


def _probe_input(path: Path, *, allow_still: bool = False) -> MediaInfo:
    try:
        return probe(path, allow_still=allow_still)
    except EncodeError:
        raise
    except MediaError as exc:  # an input the encoder cannot read fails the job output
        raise EncodeError(exc.message, code=MALFORMED) from exc


def _standard(
    parsed: BuiltInPreset | StandardPreset, source: SourceSpec, inputs: Sequence[InputFile]
) -> StandardPreset:
    if isinstance(parsed, StandardPreset):
        return parsed
    return expand_builtin(
        parsed,
        width=source.width,
        height=source.height,
        frame_rate=source.frame_rate,
        video_bitrate_bps=source.video_bitrate_bps,
        analysis=_analyse(parsed.name, source, inputs),
    )


def _analyse(name: str, source: SourceSpec, inputs: Sequence[InputFile]) -> SourceAnalysis:
    """The measurements the built-in ``name`` needs (none for most), of the first input."""
    if not source.has_video:
        return SourceAnalysis()
    first = inputs[0]
    bits = None
    if needs_complexity(name):
        bits = measure_bits_per_pixel(
            first.path,
            start_seconds=first.start_seconds or 0.0,
            duration_seconds=source.segments[0].duration_seconds
            if source.segments
            else source.duration_seconds,
            frame_rate=float(source.frame_rate),
        )
        log.info("%s: the source needs %.4f bits/pixel at CRF 23", name, bits)
    times = None
    if needs_key_frames(name) and source.video_stream_index is not None:
        times = source_keyframe_times(first.path, source.video_stream_index)
    return SourceAnalysis(bits, times)


def _input_name(infos: Sequence[MediaInfo]) -> str:
    """The input as messages name it: ``'a.mp4'`` or ``'a.mp4' (and 2 more inputs)``."""
    more = f" (and {len(infos) - 1} more inputs)" if len(infos) > 1 else ""
    return f"'{infos[0].name}'{more}"


def _check_result(result: ProcessResult, infos: Sequence[MediaInfo]) -> None:
    """Turn ffmpeg's exit status and stderr into a readable EncodeError, if they call for one."""
    name = _input_name(infos)
    reason = _summarise(result.stderr_tail)
    if result.returncode != 0:
        detail = reason or f"ffmpeg exit status {result.returncode}"
        raise EncodeError(f"Encoding {name} failed: {detail}", code=MALFORMED)
    text = "\n".join(result.stderr_tail)
    if any(marker in text for marker in _TRUNCATION_MARKERS):
        raise EncodeError(
            f"The input file {name} is truncated or corrupt ({reason})", code=MALFORMED
        )
    if text:
        log.warning("ffmpeg reported problems but finished: %s", reason)


def _check_duration(plan: EncodePlan, staged: Path, infos: Sequence[MediaInfo]) -> None:
    """An output much shorter than the source means ffmpeg ran out of readable input."""
    if not plan.files:
        return
    encoded = probe(staged / plan.files[0].name).duration_seconds
    expected = plan.source.duration_seconds
    if encoded < expected - SHORT_OUTPUT_TOLERANCE_SECONDS:
        raise EncodeError(
            f"The input file {_input_name(infos)} is truncated or corrupt: ffmpeg could "
            f"decode {encoded:.1f} s of its {expected:.1f} s",
            code=MALFORMED,
        )


def _summarise(lines: Sequence[str], limit: int = 3) -> str:
    """The last distinct error lines, without ffmpeg's ``[codec @ 0x...]`` prefixes."""
    cleaned: list[str] = []
    for line in reversed(lines):
        text = _LOG_PREFIX.sub("", line).strip()
        if text and text not in cleaned:
            cleaned.append(text)
        if len(cleaned) == limit:
            break
    return "; ".join(reversed(cleaned))


def _finish(plan: EncodePlan, staged: Path, images: Path) -> list[str]:
    """Check the media files, finish thumbnails, write the .ism; return the output names."""
    names = []
    for media in plan.files:
        path = staged / media.name
        if not path.is_file() or path.stat().st_size == 0:
            raise EncodeError(f"ffmpeg did not write the output file '{media.name}'")
        names.append(media.name)
    for job in plan.images:
        written = finish_images(
            job,
            images,
            staged,
            plan.basename,
            frame_rate=float(plan.source.frame_rate),
            duration_seconds=plan.source.duration_seconds,
        )
        names += [path.name for path in written]
    if plan.ism_name:
        manifest = build_server_manifest(plan)
        (staged / plan.ism_name).write_text(build_ism(manifest), encoding="utf-8")
        names.append(plan.ism_name)
    return names


def _publish(staged: Path, names: Sequence[str], output_dir: Path) -> list[Path]:
    """Move the finished files into ``output_dir``; on failure take back what was moved."""
    moved: list[Path] = []
    try:
        for name in names:
            target = output_dir / name
            shutil.move(str(staged / name), str(target))
            moved.append(target)
    except OSError as exc:
        for path in moved:
            path.unlink(missing_ok=True)
        raise EncodeError(f"Could not store the encoded files: {exc}") from exc
    return sorted(moved)
