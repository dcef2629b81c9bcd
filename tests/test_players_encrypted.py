"""Real players play dynamically encrypted streams, keys from openvod's key delivery.

The 20-s ladder of tests/test_players.py is published under a CENC policy with W3C
ClearKey (DASH), under ``Predefined_ClearKey`` (HLS AES-128) and under a 'cbcs' policy
(HLS SAMPLE-AES on MPEG-TS, which hls.js decrypts itself), all locators on a
token-restricted content key policy (JWT, HS256, issuer and audience). The token is
given only on the manifest URL (``?token=``): the origin carries it into the license
URL of the MPD and into the key URIs of the HLS media playlists, so shaka-player and
dash.js (EME ``org.w3.clearkey``) and hls.js (AES-128, SAMPLE-AES) need no proxy and no player
configuration. Each case plays, seeks and ends exactly as the clear cases do; a case
without the token fails to play (the key delivery refuses it). Two cases also play from
``openvod origin``, which writes and serves its own key delivery URLs. shaka-player also
plays a policy with a video key and an audio key (``keyToTrackMappings``), both from one
ClearKey license.
"""

from __future__ import annotations

import base64
import os
import re
import time
from collections.abc import Iterator

import httpx
import jwt
import pytest

from tests.conftest import ServerHandle, start_server
from tests.origin_support import (
    api,
    create_asset,
    ensure_account,
    ism_text,
    set_endpoint,
    start_origin,
    stop_process,
)
from tests.player import make_long_ladder
from tests.test_players import (  # noqa: F401 (fixtures used by name)
    MISSING,
    PlayerPage,
    Site,
    browser,
    page_origin,
    player_page,
    start,
)
from tests.test_players import test_player_plays_seeks_and_ends as play_seek_and_end

pytestmark = pytest.mark.skipif(MISSING is not None, reason=f"real-player tests: {MISSING}")

ISSUER = "https://sts.openvod.test/"
AUDIENCE = "urn:openvod:players"
SIGNING_KEY = os.urandom(32)
CENC_POLICY = {"commonEncryptionCenc": {
    "enabledProtocols": {"download": False, "dash": True, "hls": False, "smoothStreaming": False},
    "clearKeyEncryptionConfiguration": {},
}}  # fmt: skip
CBCS_POLICY = {"commonEncryptionCbcs": {  # HLS SAMPLE-AES, the key from openvod's key delivery
    "enabledProtocols": {"download": False, "dash": False, "hls": True, "smoothStreaming": False},
    "clearKeyEncryptionConfiguration": {},
}}  # fmt: skip
# A key for the video (avc1) and another for the audio (mp4a): one license gives both.
PER_TRACK_POLICY = {"commonEncryptionCenc": {
    **CENC_POLICY["commonEncryptionCenc"],
    "contentKeys": {"defaultKey": {"label": "default"}, "keyToTrackMappings": [
        {"label": label, "tracks": [{"trackSelections": [
            {"property": "FourCC", "operation": "Equal", "value": fourcc}]}]}
        for label, fourcc in (("video", "avc1"), ("audio", "mp4a"))]},
}}  # fmt: skip
TOKEN_POLICY = {"options": [{
    "name": "token",
    "configuration": {"@odata.type": "#Microsoft.Media.ContentKeyPolicyClearKeyConfiguration"},
    "restriction": {
        "@odata.type": "#Microsoft.Media.ContentKeyPolicyTokenRestriction",
        "issuer": ISSUER,
        "audience": AUDIENCE,
        "primaryVerificationKey": {
            "@odata.type": "#Microsoft.Media.ContentKeyPolicySymmetricTokenKey",
            "keyValue": base64.b64encode(SIGNING_KEY).decode(),
        },
        "restrictionTokenType": "Jwt",
    },
}]}  # fmt: skip

CASES = [
    pytest.param("shaka", "cenc", "manifest(format=mpd-time-cmaf)", id="shaka-cenc-clearkey"),
    pytest.param("dash", "cenc", "manifest(format=mpd-time-cmaf)", id="dashjs-cenc-clearkey"),
    pytest.param("hls", "aes", "manifest(format=m3u8-aapl)", id="hlsjs-aes128-ts"),
    pytest.param("hls", "aes", "manifest(format=m3u8-cmaf)", id="hlsjs-aes128-fmp4"),
    pytest.param(
        "shaka", "pertrack", "manifest(format=mpd-time-cmaf)", id="shaka-cenc-clearkey-two-keys"
    ),
    pytest.param("hls", "cbcs", "manifest(format=m3u8-aapl,encryption=cbcs-aapl)",
                 id="hlsjs-sample-aes-ts"),
]


def make_token(lifetime_seconds: int = 3600) -> str:
    """A JWT the content key policy accepts."""
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": AUDIENCE, "nbf": now - 60, "exp": now + lifetime_seconds}
    return jwt.encode(claims, SIGNING_KEY, algorithm="HS256")


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerHandle, dict]]:
    """The ladder under a CENC/ClearKey and an AES-128 locator: role -> .ism path."""
    files = make_long_ladder(tmp_path_factory.mktemp("media"))
    server = start_server(tmp_path_factory.mktemp("data"), None)
    ensure_account(server)
    set_endpoint(server, True)
    create_asset(server, "players", files, ism_text(files))
    api(server, "PUT", "/contentKeyPolicies/players", {"properties": TOKEN_POLICY})
    api(server, "PUT", "/streamingPolicies/cencck", {"properties": CENC_POLICY})
    api(server, "PUT", "/streamingPolicies/pertrack", {"properties": PER_TRACK_POLICY})
    api(server, "PUT", "/streamingPolicies/cbcsck", {"properties": CBCS_POLICY})
    paths = {}
    for role, policy in (
        ("cenc", "cencck"),
        ("aes", "Predefined_ClearKey"),
        ("pertrack", "pertrack"),
        ("cbcs", "cbcsck"),
    ):
        body = {"properties": {"assetName": "players", "streamingPolicyName": policy,
                               "defaultContentKeyPolicyName": "players"}}  # fmt: skip
        locator = api(server, "PUT", f"/streamingLocators/{role}", body)
        paths[role] = f"/{locator['properties']['streamingLocatorId']}/{files[0].stem}.ism/"
    yield server, paths
    server.server.stop()


@pytest.mark.parametrize(("player", "role", "tail"), CASES)
def test_encrypted_stream_plays_seeks_and_ends(
    published: tuple[ServerHandle, dict],
    player_page: PlayerPage,  # noqa: F811 (the fixture)
    player: str,
    role: str,
    tail: str,
) -> None:
    server, paths = published
    site = Site(server, server.base_url + paths[role])
    play_seek_and_end(site, player_page, player, f"{tail}?token={make_token()}")


@pytest.mark.parametrize(("player", "role", "tail"), [CASES[0], CASES[3]])
def test_through_the_dedicated_origin(
    published: tuple[ServerHandle, dict],
    player_page: PlayerPage,  # noqa: F811 (the fixture)
    player: str,
    role: str,
    tail: str,
) -> None:
    """``openvod origin`` writes its own key delivery URLs (it serves them too)."""
    server, paths = published
    proc, base_url = start_origin(server, 1, None)
    try:
        site = Site(server, base_url + paths[role])
        play_seek_and_end(site, player_page, player, f"{tail}?token={make_token()}")
    finally:
        stop_process(proc)


# dash.js and hls.js: shaka's load() keeps retrying the refused license (page.evaluate waits).
@pytest.mark.parametrize(("player", "role", "tail"), CASES[1:3] + CASES[5:])
def test_without_the_token_nothing_plays(
    published: tuple[ServerHandle, dict],
    player_page: PlayerPage,  # noqa: F811 (the fixture)
    player: str,
    role: str,
    tail: str,
) -> None:
    server, paths = published
    start(player_page, player, server.base_url + paths[role] + tail)
    page = player_page.page
    page.wait_for_function("() => errorCount() > 0", polling=200, timeout=30_000)
    state = player_page.snapshot()
    assert state.current_time < 1.0 and state.total_video_frames == 0, state.describe()
    assert any("/keydelivery/" in line and ("401" in line or "403" in line)
               for line in player_page.console), player_page.console  # fmt: skip


def test_two_keys_case_has_two_kids(published: tuple[ServerHandle, dict]) -> None:
    """The two-keys case really signals a video key and another audio key."""
    server, paths = published
    mpd = httpx.get(
        server.base_url + paths["pertrack"] + "manifest(format=mpd-time-cmaf)", timeout=30
    ).text
    kids = re.findall(
        r'<AdaptationSet [^>]*contentType="(\w+)"[^>]*>\s*<ContentProtection '
        r'[^>]*cenc:default_KID="([^"]+)"',
        mpd,
    )
    assert {kind for kind, _ in kids} == {"video", "audio"} and len({k for _, k in kids}) == 2
