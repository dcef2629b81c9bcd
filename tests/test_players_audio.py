"""hls.js lists the languages of a multi-language asset and switches audio track mid-play.

The asset is the AMS-written two-language upload of ``test_origin_multi_audio``
(English and French AAC tracks in one MP4, a hand-written ``.ism``). hls.js in
Debian's headless Chromium must list both renditions with their LANGUAGE and
NAME, switch to French while playing, fetch the French rendition's segments
and play to the end without an error.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import ServerHandle, start_server
from tests.origin_support import SECONDS, create_asset, create_locator, ensure_account, set_endpoint
from tests.player import missing_requirements
from tests.test_origin_multi_audio import AMS_ISM, make_two_language_mp4
from tests.test_players import (  # noqa: F401 (fixtures used by name)
    END_SLACK,
    PlayerPage,
    browser,
    page_origin,
    player_page,
    start,
)

MISSING = missing_requirements()
pytestmark = pytest.mark.skipif(MISSING is not None, reason=f"real-player tests: {MISSING}")


@pytest.fixture(scope="module")
def ism_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    movie = make_two_language_mp4(tmp_path_factory.mktemp("media") / "movie.mp4")
    server: ServerHandle = start_server(tmp_path_factory.mktemp("data"), None)
    ensure_account(server)
    set_endpoint(server, True)
    create_asset(server, "ams", [movie], AMS_ISM)
    locator = create_locator(server, "ams", "ams", "Predefined_ClearStreamingOnly")
    yield f"{server.base_url}/{locator}/movie.ism/"
    server.server.stop()


# HLS-TS is not played here: on this short clip hls.js 1.7 reports its non-fatal
# bufferAppendNoProgress for the first *video* TS fragment (test_players tolerates it only
# for audio), with one audio rendition as with two; the TS renditions' bytes and tones are
# checked by test_origin_multi_audio.
@pytest.mark.parametrize("fmt", ["m3u8-cmaf"])
def test_hlsjs_switches_audio_language(
    ism_url: str,
    player_page: PlayerPage,  # noqa: F811
    fmt: str,
) -> None:
    requested: list[str] = []
    page = player_page.page
    page.on("response", lambda r: requested.append(r.url) if r.status == 200 else None)
    start(player_page, "hls", ism_url + f"manifest(format={fmt})")
    player_page.wait_for_time(1.0, "playing in English")
    tracks = page.evaluate("player.audioTracks.map(t => [t.lang, t.name])")
    assert tracks == [["en", "English"], ["fr", "French"]]
    assert page.evaluate("player.audioTrack") == 0
    assert not any("Fragments(aac_fr_" in url for url in requested)
    page.evaluate("player.audioTrack = 1")
    page.wait_for_function("player.audioTrack === 1", timeout=30_000)
    last = player_page.wait_for_time(SECONDS - END_SLACK, "playing on in French")
    assert last.current_time >= SECONDS - END_SLACK
    french = [url for url in requested if "Fragments(aac_fr_" in url]
    assert french, player_page.describe(last)
    extensions = (".ts",) if fmt == "m3u8-aapl" else (".m4s", ".mp4")
    assert all(url.endswith(extensions) for url in french), french
