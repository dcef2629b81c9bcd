"""Media the indexing tests generate with ffmpeg, and text normalisation for WER."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from openvod.encoding.tools import ffmpeg

FIXTURES = Path(__file__).parent / "fixtures"


def run_ffmpeg(*args: str) -> None:
    """Run ffmpeg quietly; fail the test on error."""
    subprocess.run([str(ffmpeg()), "-v", "error", "-y", *args], check=True, timeout=120)


def make_bursts(path: Path, seconds: float, period: float = 2.0, on: float = 0.5) -> Path:
    """A 16 kHz mono WAV: a 440 Hz tone for ``on`` seconds every ``period`` seconds."""
    expr = f"if(lt(mod(t\\,{period})\\,{on})\\,0.5*sin(2*PI*440*t)\\,0)"
    run_ffmpeg("-f", "lavfi", "-i", f"aevalsrc=exprs={expr}:s=16000:d={seconds}",
               "-c:a", "pcm_s16le", str(path))
    return path


def make_silence(path: Path, seconds: float) -> Path:
    """An MP4 with a test pattern and silent AAC audio."""
    run_ffmpeg("-f", "lavfi", "-i", f"testsrc=size=160x90:rate=10:duration={seconds}",
               "-f", "lavfi", "-i", f"anullsrc=r=16000:cl=mono:d={seconds}",
               "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-shortest", str(path))
    return path


def make_video_only(path: Path, seconds: float = 2.0) -> Path:
    """An MP4 with video and no audio track."""
    run_ffmpeg("-f", "lavfi", "-i", f"testsrc=size=160x90:rate=10:duration={seconds}",
               "-c:v", "libx264", "-preset", "ultrafast", str(path))
    return path


def normalise_text(text: str) -> str:
    """Lower case, punctuation removed, single spaces: what word error rate compares."""
    return " ".join(re.sub(r"[^\w' ]+", " ", text.lower()).split())


def read_with_ffmpeg(text: str, suffix: str, work_dir: Path) -> list[tuple[int, int, str]]:
    """Caption file ``text`` (``.smi``, ``.srt``, ``.vtt``) as ffmpeg reads it.

    ffmpeg's own demuxer and decoder parse it; its WebVTT output is read back with
    webvtt-py. Returns (start ms, end ms, text with entities decoded) per cue.
    """
    import html

    import webvtt

    source = work_dir / f"captions{suffix}"
    source.write_text(text, encoding="utf-8")
    target = work_dir / f"captions{suffix}.vtt"
    run_ffmpeg("-i", str(source), str(target))
    return [(clock_millis(c.start), clock_millis(c.end), html.unescape(c.text))
            for c in webvtt.read(str(target))]


def clock_millis(clock: str) -> int:
    """``HH:MM:SS.mmm`` (or ``MM:SS.mmm``) in milliseconds."""
    parts = [float(p) for p in clock.split(":")]
    seconds = sum(value * 60**power for power, value in enumerate(reversed(parts)))
    return round(seconds * 1000)
