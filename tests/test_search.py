"""In-video search across indexed assets, through the API and the CLI, on SQLite and PostgreSQL.

Two assets are indexed by real AudioAnalyzerPreset jobs with the bundled model: the
speech fixture, and its last three sentences (cut 8 s in). A word of those sentences
is in both, at times 8 s apart; a word of the first sentence only in the first.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from azure.mgmt.media import AzureMediaServices
from azure.mgmt.media.models import MediaService

from tests.conftest import ACCOUNT, RESOURCE_GROUP, SUBSCRIPTION, ServerHandle
from tests.indexing_jobs_support import analyzer_transform, run_job, speech_preset, upload
from tests.indexing_support import FIXTURES, clock_millis, run_ffmpeg
from tests.test_api_sdk import sdk_client

KNOWN = json.loads((FIXTURES / "speech.json").read_text())
CUT_SECONDS = 8.0  # in the pause between the second and the third sentence
TOLERANCE_MS = 1500


@pytest.fixture(scope="module")
def indexed(server: ServerHandle, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[AzureMediaServices]:
    """The account with 'talk' (the whole fixture) and 'tail' (from 8 s) indexed."""
    ams = sdk_client(server)
    ams.mediaservices.begin_create_or_update(RESOURCE_GROUP, ACCOUNT,
                                             MediaService(location="local")).result()
    analyzer_transform(ams, "speech", speech_preset())
    tail = tmp_path_factory.mktemp("media") / "tail.mp4"
    run_ffmpeg("-ss", str(CUT_SECONDS), "-i", str(FIXTURES / "speech.mp4"), "-c:v", "libx264",
               "-preset", "ultrafast", "-c:a", "aac", str(tail))
    for name, path in (("talk", FIXTURES / "speech.mp4"), ("tail", tail)):
        upload(ams, f"{name}-in", path)
        job = run_job(ams, "speech", f"{name}-job", f"{name}-in", [f"{name}-idx"])
        assert job.state == "Finished", job.outputs[0].error
    yield ams


def search(server: ServerHandle, query: str) -> tuple[int, Any]:
    with server.http() as http:
        response = http.get(server.account_path + "/search",
                            params={"api-version": "2022-08-01", "query": query})
    return response.status_code, response.json()


def sentence_start_ms(index: int) -> int:
    return round(KNOWN["sentences"][index]["startSeconds"] * 1000)


def test_a_word_is_found_in_both_assets_at_their_own_times(
        server: ServerHandle, indexed: AzureMediaServices) -> None:
    status, body = search(server, "weather")  # the third sentence
    assert status == 200, body
    by_asset = {r["assetName"]: r for r in body["results"]}
    assert set(by_asset) == {"talk-idx", "tail-idx"}
    expected = {"talk-idx": sentence_start_ms(2),
                "tail-idx": sentence_start_ms(2) - round(CUT_SECONDS * 1000)}
    for asset, start_ms in expected.items():
        transcript = [m for m in by_asset[asset]["searchMatches"] if m["type"] == "Transcript"]
        assert len(transcript) == 1, by_asset[asset]
        match = transcript[0]
        assert "weather" in match["text"].lower()
        # 'weather' is the sentence's second word: at or a little after its start
        assert abs(clock_millis(match["startTime"]) - start_ms) <= TOLERANCE_MS, match
        assert clock_millis(match["endTime"]) > clock_millis(match["startTime"])
        assert by_asset[asset]["playbackUrl"] is None  # no locator yet


def test_a_phrase_is_found_only_where_it_is_said(server: ServerHandle,
                                                 indexed: AzureMediaServices) -> None:
    status, body = search(server, '"open video"')  # the first sentence: not in 'tail'
    assert status == 200, body
    assert [r["assetName"] for r in body["results"]] == ["talk-idx"]
    (match,) = [m for m in body["results"][0]["searchMatches"] if m["type"] == "Transcript"]
    assert abs(clock_millis(match["startTime"]) - sentence_start_ms(0)) <= 2 * TOLERANCE_MS
    # the words out of order are no phrase, but are both there as words
    assert search(server, '"video open"')[1]["results"] == []
    assert [r["assetName"] for r in search(server, "video open")[1]["results"]] == ["talk-idx"]


def test_words_said_nowhere_find_nothing(server: ServerHandle,
                                         indexed: AzureMediaServices) -> None:
    assert search(server, "zebra")[1] == {"results": []}
    assert search(server, "weather zebra")[1] == {"results": []}


def test_an_empty_query_is_a_400(server: ServerHandle, indexed: AzureMediaServices) -> None:
    status, body = search(server, '  "" ')
    assert status == 400 and "query" in body["error"]["message"].lower()


def test_playback_url_deep_links_into_the_input_asset(server: ServerHandle,
                                                      indexed: AzureMediaServices) -> None:
    from azure.mgmt.media.models import StreamingLocator

    locator = indexed.streaming_locators.create(RESOURCE_GROUP, ACCOUNT, "talk-loc",
                                                StreamingLocator(
        asset_name="talk-in", streaming_policy_name="Predefined_ClearStreamingOnly"))
    status, body = search(server, "weather")
    by_asset = {r["assetName"]: r for r in body["results"]}
    url = by_asset["talk-idx"]["playbackUrl"]
    first = by_asset["talk-idx"]["searchMatches"][0]
    assert url is not None and url.startswith(
        f"{server.base_url}/{locator.streaming_locator_id}/speech.ism/manifest(format=m3u8-cmaf)"
        "#t="), url
    assert abs(float(url.rsplit("#t=", 1)[1]) * 1000 - clock_millis(first["startTime"])) <= 1
    assert by_asset["tail-idx"]["playbackUrl"] is None


def test_the_cli_prints_assets_and_times(server: ServerHandle,
                                         indexed: AzureMediaServices) -> None:
    env = dict(os.environ, OPENVOD_TOKEN=server.token, OPENVOD_SERVER=server.base_url,
               OPENVOD_ACCOUNT=ACCOUNT, OPENVOD_SUBSCRIPTION=SUBSCRIPTION,
               OPENVOD_RESOURCE_GROUP=RESOURCE_GROUP, COLUMNS="200",
               PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    done = subprocess.run([sys.executable, "-c", "from openvod.cli import main; main()", "search",
                           '"sunny and warm"'],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert any(line.startswith("talk-idx") for line in lines), done.stdout
    assert any(line.startswith("tail-idx") for line in lines), done.stdout
    assert "Transcript" in done.stdout and "sunny" in done.stdout.lower()
