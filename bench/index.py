"""Benchmark: realtime factor and word error rate of indexing with the default speech model.

Synthesises 24 English sentences with espeak-ng (into bench/out/, git-ignored),
joins them with pauses into one WAV, runs :func:`openvod.indexing.index_media`
on it (ffmpeg decode, windowed transcription, captions and insights), and prints
the realtime factor (processing seconds ÷ audio seconds; the model is loaded
before timing) and the word error rate of transcript.vtt against the known text.
Goal on 2 cores: RTF ≤ 0.15, WER ≤ 15%.

    .venv/bin/python bench/index.py [--runs 3] [--model PATH_OR_NAME] [--beam-size 5]
"""

from __future__ import annotations

import argparse
import html
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import jiwer  # noqa: E402
import webvtt  # noqa: E402

from openvod.encoding.tools import ffmpeg  # noqa: E402
from openvod.indexing import WhisperEngine, index_media  # noqa: E402
from tests.indexing_support import normalise_text  # noqa: E402

OUT = Path(__file__).resolve().parent / "out" / "index"
GAP_SECONDS = 0.8
SENTENCES = [
    "Welcome to the quarterly meeting of the product team.",
    "Our first topic today is the new video platform.",
    "We moved every customer to the new servers last month.",
    "The migration took three weeks and went smoothly.",
    "Streaming costs went down by almost a third.",
    "Most viewers watch on their phones in the evening.",
    "We added captions to every video in the library.",
    "Search now finds the exact moment a word is spoken.",
    "The support team answered more questions than ever.",
    "Next quarter we want to reach customers in Europe.",
    "That means adding more languages to the captions.",
    "The design team is working on a simpler player.",
    "It will load faster and use less battery.",
    "Please send your feedback before the end of the week.",
    "We will also hire two more engineers in the spring.",
    "The budget for the new office has been approved.",
    "Our partners asked for better reports on viewing time.",
    "A first version of those reports is ready for testing.",
    "Security reviews will happen every six months.",
    "All passwords must be changed before the next audit.",
    "The training videos will be published on Monday.",
    "Remember to book your holidays in the shared calendar.",
    "Thank you all for the hard work this quarter.",
    "Let us meet again at the same time next month.",
]


def synthesise(out: Path) -> Path:
    """One WAV with every sentence, separated by GAP_SECONDS of silence."""
    out.mkdir(parents=True, exist_ok=True)
    listing = out / "list.txt"
    gap = out / "gap.wav"
    tool = str(ffmpeg())
    subprocess.run([tool, "-v", "error", "-y", "-f", "lavfi", "-i", "anullsrc=r=22050:cl=mono",
                    "-t", str(GAP_SECONDS), "-c:a", "pcm_s16le", str(gap)], check=True)
    lines = []
    for number, sentence in enumerate(SENTENCES):
        wav = out / f"s{number:02d}.wav"
        subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(wav), sentence],
                       check=True)
        lines += [f"file '{wav}'", f"file '{gap}'"]
    listing.write_text("\n".join(lines) + "\n")
    speech = out / "speech.wav"
    subprocess.run([tool, "-v", "error", "-y", "-f", "concat", "-safe", "0", "-i", str(listing),
                    "-c:a", "pcm_s16le", str(speech)], check=True)
    return speech


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--model", default=None, help="model folder or cached name")
    parser.add_argument("--beam-size", type=int, default=5)
    args = parser.parse_args()

    speech = synthesise(OUT)
    engine = WhisperEngine(args.model, beam_size=args.beam_size)
    started = time.perf_counter()
    _ = engine.languages  # loads the model
    load_seconds = time.perf_counter() - started
    reference = normalise_text(" ".join(SENTENCES))
    seconds, wers = [], []
    duration = 0.0
    for run in range(args.runs):
        started = time.perf_counter()
        result = index_media(speech, OUT / f"run{run}", engine, "en-US")
        seconds.append(time.perf_counter() - started)
        duration = result.duration_seconds
        cues = webvtt.read(str(OUT / f"run{run}" / "transcript.vtt"))
        hypothesis = normalise_text(html.unescape(" ".join(c.text for c in cues)))
        wers.append(jiwer.wer(reference, hypothesis))
    median = statistics.median(seconds)
    print(f"model: {engine.model_name}, beam size {args.beam_size}, load {load_seconds:.2f} s")
    print(f"audio: {len(SENTENCES)} sentences, {duration:.1f} s")
    print(f"index_media: median {median:.2f} s of {args.runs} runs "
          f"({', '.join(f'{s:.2f}' for s in seconds)})")
    print(f"realtime factor: {median / duration:.3f} (goal <= 0.15)")
    print(f"word error rate: {statistics.median(wers):.1%} (goal <= 15%)")


if __name__ == "__main__":
    main()
