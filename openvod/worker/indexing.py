"""Job outputs whose preset is an analyzer: index the input's speech into the output asset.

The worker's runner calls :func:`is_analyzer` to choose between the encoder and
:func:`run_analyzer`; after the files are in the output asset, :func:`record_search`
stores what was found for the search API.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from openvod.context import Context
from openvod.db.models import Job
from openvod.indexing import IndexResult, SpeechEngine, WhisperEngine, index_media
from openvod.resources.analyzer_presets import AnalyzerPreset
from openvod.resources.odata import NS
from openvod.services import search

ANALYZER_TYPES = frozenset({NS + "AudioAnalyzerPreset", NS + "VideoAnalyzerPreset"})
_ANALYZER = TypeAdapter(AnalyzerPreset)


def is_analyzer(preset: dict[str, Any]) -> bool:
    """Whether a stored preset indexes speech rather than encodes."""
    return preset.get("@odata.type") in ANALYZER_TYPES


@functools.cache
def speech_engine(model: str | None) -> SpeechEngine:
    """One engine per model per process: the model is loaded once and decoding serialised."""
    return WhisperEngine(model)


def run_analyzer(preset: dict[str, Any], input_path: Path, out_dir: Path, *,
                 speech_model: str | None, on_progress: Callable[[float], None],
                 cancel: threading.Event) -> IndexResult:
    """Index ``input_path`` into ``out_dir`` (transcript.vtt/.ttml/.smi/.srt, insights.json).

    Basic and Standard modes produce the same files. Raises NoAudioError,
    UnsupportedLanguageError, SpeechModelError, MediaError, JobCanceledError.
    """
    model = _ANALYZER.validate_python(preset)
    return index_media(input_path, out_dir, speech_engine(speech_model), model.audio_language,
                       on_progress, cancel=cancel)


def record_search(ctx: Context, job_id: str, output_index: int, result: IndexResult) -> None:
    """Store the transcript and keywords of an output asset for search, with the job's
    input asset (if it is one) as the asset to play."""
    with ctx.session() as s:
        job = s.get(Job, job_id)
        if job is None:
            return
        spec = job.properties
        asset_name = spec["outputs"][output_index]["assetName"]
        source = spec["input"].get("assetName")
        search.record(s, job.account_id, asset_name, source, result)
