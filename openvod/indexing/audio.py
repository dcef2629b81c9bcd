"""Audio for speech recognition: ffmpeg decodes the input to 16 kHz mono, read in windows.

ffmpeg writes raw float32 samples to a pipe; :func:`read_audio_windows` reads
them into windows of at most ``window_seconds``, each cut at the quietest
100 ms within its last ``search_seconds`` (where a word is least likely to be
split), and carries the rest over into the next window. So memory stays bounded
by one window whatever the length of the input, and no stretch of audio is
transcribed twice: each word belongs to exactly one window.
"""

from __future__ import annotations

import logging
import shlex
import subprocess
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np

from openvod.encoding.tools import ffmpeg
from openvod.errors import JobCanceledError, MediaError
from openvod.indexing.speech import SAMPLE_RATE

log = logging.getLogger(__name__)

BYTES_PER_SAMPLE = 4  # float32
CUT_FRAME_SECONDS = 0.1


@dataclass(frozen=True)
class AudioWindow:
    """A stretch of the input's audio starting ``offset_seconds`` into it."""

    offset_seconds: float
    samples: np.ndarray  # float32, 16 kHz mono

    @property
    def end_seconds(self) -> float:
        """Where the window ends in the input."""
        return self.offset_seconds + len(self.samples) / SAMPLE_RATE


def extraction_command(ffmpeg_path: Path, input_path: Path) -> list[str]:
    """The ffmpeg command that writes the input's first audio track as 16 kHz mono f32le."""
    return [
        str(ffmpeg_path),
        "-nostdin",
        "-v", "error",  # only real problems on stderr; they become the error message
        "-i", str(input_path),
        "-map", "0:a:0",  # the first audio track (AMS indexes one language track)
        "-vn", "-sn", "-dn",  # decode nothing else
        "-ac", "1",  # Whisper listens in mono: downmix
        "-ar", str(SAMPLE_RATE),  # and at 16 kHz
        "-f", "f32le", "-acodec", "pcm_f32le",  # raw samples, no header to parse
        "pipe:1",
    ]  # fmt: skip


def quietest_cut(samples: np.ndarray, search_from: int) -> int:
    """The sample index, at or after ``search_from``, that starts the quietest 100 ms frame."""
    frame = int(SAMPLE_RATE * CUT_FRAME_SECONDS)
    tail = samples[search_from:]
    count = len(tail) // frame
    if count == 0:
        return len(samples)
    energy = (tail[: count * frame].astype(np.float64).reshape(count, frame) ** 2).mean(axis=1)
    # The middle of the quietest frame: a pause, or at least the softest sound near the end.
    return search_from + int(np.argmin(energy)) * frame + frame // 2


def read_audio_windows(input_path: Path, *, window_seconds: float = 30.0,
                       search_seconds: float = 5.0,
                       cancel: threading.Event | None = None) -> Iterator[AudioWindow]:
    """Decode ``input_path``'s audio and yield consecutive windows that cover it exactly."""
    argv = extraction_command(ffmpeg(), input_path)
    log.info("running: %s", shlex.join(argv))
    process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, start_new_session=True)
    assert process.stdout is not None and process.stderr is not None
    tail: deque[bytes] = deque(maxlen=20)
    reader = threading.Thread(target=_drain, args=(process.stderr, tail), daemon=True)
    reader.start()
    try:
        yield from _windows(process.stdout, window_seconds, search_seconds, cancel)
        returncode = process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        reader.join(timeout=5)
    if returncode != 0:
        reason = b" ".join(tail).decode(errors="replace").strip()
        raise MediaError(f"ffmpeg could not decode the audio of '{input_path.name}'"
                         + (f": {reason[-300:]}" if reason else ""))


def _windows(stream: IO[bytes], window_seconds: float, search_seconds: float,
             cancel: threading.Event | None) -> Iterator[AudioWindow]:
    window = int(window_seconds * SAMPLE_RATE)
    search = min(int(search_seconds * SAMPLE_RATE), window // 2)
    offset = 0
    pending = np.zeros(0, dtype=np.float32)
    ended = False
    while not ended or len(pending):
        if cancel is not None and cancel.is_set():
            raise JobCanceledError("The job was canceled while reading the audio")
        if not ended:
            data = _read_exactly(stream, (window - len(pending)) * BYTES_PER_SAMPLE)
            usable = len(data) - len(data) % BYTES_PER_SAMPLE
            ended = usable < (window - len(pending)) * BYTES_PER_SAMPLE
            pending = np.concatenate([pending, np.frombuffer(data[:usable], dtype="<f4")])
        cut = len(pending) if ended else quietest_cut(pending, window - search)
        if cut:
            yield AudioWindow(offset / SAMPLE_RATE, pending[:cut].copy())
        offset += cut
        pending = pending[cut:]


def _read_exactly(stream: IO[bytes], size: int) -> bytes:
    """Up to ``size`` bytes: fewer only at the end of the stream."""
    parts = []
    remaining = size
    while remaining > 0:
        part = stream.read(remaining)
        if not part:
            break
        parts.append(part)
        remaining -= len(part)
    return b"".join(parts)


def _drain(stream: IO[bytes], tail: deque[bytes]) -> None:
    for line in stream:
        tail.append(line.strip())
