"""AudioAnalyzerPreset and VideoAnalyzerPreset jobs through the azure-mgmt-media SDK.

The in-process worker runs the bundled Whisper tiny.en model (loaded once for the test
session) on the committed speech fixture; outputs are read back through SAS URLs and
checked with independent parsers (webvtt-py, ElementTree, ffmpeg's SAMI demuxer).
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import jiwer
import pytest
import webvtt
from azure.core.exceptions import HttpResponseError
from azure.mgmt.media import AzureMediaServices
from azure.mgmt.media.models import MediaService, VideoAnalyzerPreset

from openvod.media.captions.ttml import TTML_NS
from tests.conftest import ServerHandle
from tests.indexing_jobs_support import (
    ACC,
    RG,
    analyzer_transform,
    download,
    run_job,
    speech_preset,
    upload,
    wait,
)
from tests.indexing_support import (
    FIXTURES,
    clock_millis,
    make_silence,
    make_video_only,
    normalise_text,
    read_with_ffmpeg,
    run_ffmpeg,
)
from tests.test_api_sdk import sdk_client

KNOWN = json.loads((FIXTURES / "speech.json").read_text())
MAX_WER = 0.25
MAX_START_ERROR_SECONDS = 1.5
OUTPUTS = ("transcript.vtt", "transcript.ttml", "transcript.smi", "transcript.srt",
           "insights.json")


@pytest.fixture(scope="module")
def ams(sqlite_server: ServerHandle) -> Iterator[AzureMediaServices]:
    """The SDK with the account, the speech input and the analyzer transforms."""
    client = sdk_client(sqlite_server)
    client.mediaservices.begin_create_or_update(RG, ACC, MediaService(location="local")).result()
    analyzer_transform(client, "speech", speech_preset())
    upload(client, "speech-in", FIXTURES / "speech.mp4")
    yield client


@pytest.fixture(scope="module")
def standard(ams: AzureMediaServices, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The outputs of a Standard en-US job on the fixture, downloaded."""
    job = run_job(ams, "speech", "standard", "speech-in", ["speech-out"])
    assert job.state == "Finished", job.outputs[0].error
    assert job.outputs[0].progress == 100
    out = tmp_path_factory.mktemp("standard")
    for name in OUTPUTS:
        (out / name).write_bytes(download(ams, "speech-out", name))
    return out


def test_captions_match_the_known_speech(standard: Path) -> None:
    cues = list(webvtt.read(str(standard / "transcript.vtt")))
    reference = normalise_text(" ".join(s["text"] for s in KNOWN["sentences"]))
    hypothesis = normalise_text(" ".join(c.text for c in cues))
    assert jiwer.wer(reference, hypothesis) <= MAX_WER, hypothesis
    starts = [clock_millis(c.start) / 1000 for c in cues]
    for sentence in KNOWN["sentences"]:
        nearest = min(starts, key=lambda s: abs(s - sentence["startSeconds"]))
        assert abs(nearest - sentence["startSeconds"]) <= MAX_START_ERROR_SECONDS, starts


def test_ttml_sami_and_insights_parse(standard: Path, tmp_path: Path) -> None:
    root = ET.parse(standard / "transcript.ttml").getroot()
    assert root.tag == f"{{{TTML_NS}}}tt"
    vtt = list(webvtt.read(str(standard / "transcript.vtt")))
    assert len(root.findall(f".//{{{TTML_NS}}}p")) == len(vtt)
    sami = read_with_ffmpeg((standard / "transcript.smi").read_text(), ".smi", tmp_path)
    assert [s[2] for s in sami] == [c.text for c in vtt]
    insights = json.loads((standard / "insights.json").read_text())
    assert insights["language"] == "en-US"
    assert insights["transcript"] and all(e["instances"] for e in insights["transcript"])
    assert any("weather" in e["text"].lower() for e in insights["transcript"])


@pytest.mark.parametrize(("name", "preset", "language"), [
    ("basic-gb", speech_preset("en-GB", "Basic"), "en-GB"),
    ("video-audio", VideoAnalyzerPreset(audio_language="en-US",
                                        insights_to_extract="AudioInsightsOnly"), "en-US"),
])
def test_basic_mode_en_gb_and_the_video_analyzer_work(
        ams: AzureMediaServices, name: str, preset: object, language: str) -> None:
    analyzer_transform(ams, name, preset)
    job = run_job(ams, name, f"{name}-job", "speech-in", [f"{name}-out"])
    assert job.state == "Finished", job.outputs[0].error
    insights = json.loads(download(ams, f"{name}-out", "insights.json"))
    assert insights["language"] == language
    text = normalise_text(" ".join(e["text"] for e in insights["transcript"]))
    assert "weather" in text and "sunny" in text
    assert ams.transforms.get(RG, ACC, name).outputs[0].preset.odata_type == preset.odata_type


def test_a_language_the_model_lacks_is_an_error_naming_it(ams: AzureMediaServices) -> None:
    analyzer_transform(ams, "french", speech_preset("fr-FR"))
    job = run_job(ams, "french", "french-job", "speech-in", ["french-out"])
    assert job.state == "Error"
    error = job.outputs[0].error
    assert error.code == "ConfigurationUnsupported"
    assert "fr-FR" in error.message and "OPENVOD_SPEECH_MODEL" in error.message


def test_media_without_audio_is_an_error(ams: AzureMediaServices, tmp_path: Path) -> None:
    upload(ams, "mute-in", make_video_only(tmp_path / "mute.mp4"))
    job = run_job(ams, "speech", "mute-job", "mute-in", ["mute-out"])
    assert job.state == "Error"
    error = job.outputs[0].error
    assert error.code == "ContentUnsupported" and error.category == "Content"
    assert "mute.mp4" in error.message and "no audio track" in error.message


def test_silence_finishes_with_an_empty_transcript(ams: AzureMediaServices,
                                                   tmp_path: Path) -> None:
    upload(ams, "quiet-in", make_silence(tmp_path / "quiet.mp4", 5))
    job = run_job(ams, "speech", "quiet-job", "quiet-in", ["quiet-out"])
    assert job.state == "Finished", job.outputs[0].error
    insights = json.loads(download(ams, "quiet-out", "insights.json"))
    assert insights["transcript"] == [] and insights["keywords"] == []
    assert list(webvtt.from_string(download(ams, "quiet-out", "transcript.vtt").decode())) == []


@pytest.mark.parametrize("insights", ["VideoInsightsOnly", "AllInsights", None])
def test_video_insights_are_a_clear_400(ams: AzureMediaServices, insights: str | None) -> None:
    with pytest.raises(HttpResponseError) as caught:
        analyzer_transform(ams, "video", VideoAnalyzerPreset(insights_to_extract=insights))
    assert caught.value.status_code == 400
    assert "AudioInsightsOnly" in str(caught.value.message)
    assert "audio insights only" in str(caught.value.message)


def test_cancel_stops_a_long_indexing_job(ams: AzureMediaServices, tmp_path: Path) -> None:
    long = tmp_path / "long.mp4"  # the fixture six times: two minutes of speech
    run_ffmpeg("-stream_loop", "5", "-i", str(FIXTURES / "speech.mp4"), "-c", "copy", str(long))
    upload(ams, "long-in", long)
    from azure.mgmt.media.models import Asset, Job, JobInputAsset, JobOutputAsset

    ams.assets.create_or_update(RG, ACC, "long-out", Asset())
    ams.jobs.create(RG, ACC, "speech", "long-job", Job(
        input=JobInputAsset(asset_name="long-in"),
        outputs=[JobOutputAsset(asset_name="long-out")]))
    wait(ams, "speech", "long-job", ("Processing", "Finished", "Error"))
    ams.jobs.cancel_job(RG, ACC, "speech", "long-job")
    job = wait(ams, "speech", "long-job", ("Canceled", "Finished", "Error"))
    assert job.state == "Canceled"
    from tests.indexing_jobs_support import container

    assert list(container(ams, "long-out", "Read").list_blobs()) == []
