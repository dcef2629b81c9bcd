"""Per-track keys (``keyToTrackMappings``) and clear tracks (``clearTracks``) end to end.

A module-scoped server publishes the 3-rendition ladder (H.264 ``avc1`` video, AAC
``mp4a`` audio) under custom policies the SDK creates: CENC and AES-128 envelope with
a video key and an audio key (each under its own content key policy: the video key
needs a JWT, the audio key is open), and CENC with clear audio. ffmpeg decrypts each
track with its own key and decodes the whole AES-128 HLS with the token; mpegdash and
m3u8 read the default KIDs and key tags; the key delivery answers a license request
for both keys as each key's policy allows.
"""

from __future__ import annotations

import base64
import dataclasses
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast
from urllib.parse import urljoin

import httpx
import jwt
import m3u8
import pytest
from azure.core.exceptions import HttpResponseError
from azure.mgmt.media import AzureMediaServices
from azure.mgmt.media import models as ams
from mpegdash.parser import MPEGDASHParser

from openvod.encoding.tools import ffmpeg
from openvod.keydelivery.requests import b64url_decode
from openvod.media.presentation import Rendition
from openvod.media.protection_signaling import DashProtection, add_track_content_protection
from openvod.origin.track_keys import KeyMapping, rendition_key, selections_of
from openvod.resources.streaming_policies import TrackSelection
from tests.conftest import ServerHandle, start_server
from tests.key_delivery_support import (
    ACC,
    AUDIENCE,
    ISSUER,
    RG,
    clear_key_option,
    jwt_restriction,
    open_policy,
    post_license,
    put_policy,
    symmetric_key,
)
from tests.origin_support import (
    count_frames,
    create_asset,
    ensure_account,
    ffmpeg_decode,
    ism_text,
    make_ladder,
    set_endpoint,
)
from tests.test_api_sdk import sdk_client

SECRET = b"track-keys-test-signing-secret-32"
MP4_PROTECTION = "urn:mpeg:dash:mp4protection:2011"
DASH = "manifest(format=mpd-time-cmaf)"


def _selection(fourcc: str) -> ams.TrackSelection:
    return ams.TrackSelection(
        track_selections=[
            ams.TrackPropertyCondition(property="FourCC", operation="Equal", value=fourcc)
        ]
    )


def _protocols(
    *, hls: bool = False, dash: bool = False, smooth: bool = False
) -> ams.EnabledProtocols:
    return ams.EnabledProtocols(download=False, dash=dash, hls=hls, smooth_streaming=smooth)


def _per_track_keys() -> ams.StreamingPolicyContentKeys:
    """A default key, the video (avc1) key under 'ck-video', the audio (mp4a) key
    under 'ck-audio' (AVC1 and MP4A in capitals: AMS compares without case)."""
    return ams.StreamingPolicyContentKeys(
        default_key=ams.DefaultKey(label="default"),
        key_to_track_mappings=[
            ams.StreamingPolicyContentKey(label="video", policy_name="ck-video",
                                          tracks=[_selection("AVC1")]),
            ams.StreamingPolicyContentKey(label="audio", policy_name="ck-audio",
                                          tracks=[_selection("mp4a")]),
        ])  # fmt: skip


POLICIES = {
    "pertrack-cenc": ams.StreamingPolicy(common_encryption_cenc=ams.CommonEncryptionCenc(
        enabled_protocols=_protocols(dash=True, smooth=True), content_keys=_per_track_keys(),
        clear_key_encryption_configuration=ams.ClearKeyEncryptionConfiguration())),
    "clear-audio-cenc": ams.StreamingPolicy(common_encryption_cenc=ams.CommonEncryptionCenc(
        enabled_protocols=_protocols(dash=True), clear_tracks=[_selection("mp4a")],
        clear_key_encryption_configuration=ams.ClearKeyEncryptionConfiguration())),
    "pertrack-aes": ams.StreamingPolicy(envelope_encryption=ams.EnvelopeEncryption(
        enabled_protocols=_protocols(hls=True), content_keys=_per_track_keys())),
    "pertrack-cbcs": ams.StreamingPolicy(common_encryption_cbcs=ams.CommonEncryptionCbcs(
        enabled_protocols=_protocols(hls=True, dash=True), content_keys=_per_track_keys(),
        drm=ams.CbcsDrmConfiguration(fair_play=ams.StreamingPolicyFairPlayConfiguration(
            allow_persistent_license=False)))),
}  # fmt: skip


@dataclasses.dataclass(frozen=True)
class Keys:
    """A locator's keys by label ('' for an unlabelled default key): (kid, key, listed)."""

    listed: dict[str, ams.StreamingLocatorContentKey]

    def kid(self, label: str) -> uuid.UUID:
        return uuid.UUID(self.listed[label].id)

    def value(self, label: str) -> bytes:
        return base64.b64decode(self.listed[label].value)


@dataclasses.dataclass(frozen=True)
class Site:
    """The published ladder: locator ids and keys by role."""

    server: ServerHandle
    client: AzureMediaServices
    stem: str
    locators: dict[str, str]
    keys: dict[str, Keys]

    def url(self, role: str, tail: str) -> str:
        return f"{self.server.base_url}/{self.locators[role]}/{self.stem}.ism/{tail}"


def make_token() -> str:
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": AUDIENCE, "nbf": now - 60, "exp": now + 3600}
    return jwt.encode(claims, SECRET, algorithm="HS256")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    files = make_ladder(tmp_path_factory.mktemp("media"), seconds=4)
    server = start_server(tmp_path_factory.mktemp("data"), None)
    ensure_account(server)
    set_endpoint(server, True)
    create_asset(server, "ladder", files, ism_text(files))
    client = sdk_client(server)
    put_policy(client, "ck-video", clear_key_option(jwt_restriction(symmetric_key(SECRET))),
               account=ACC)  # fmt: skip
    open_policy(client, "ck-audio", account=ACC)
    for name, policy in POLICIES.items():
        client.streaming_policies.create(RG, ACC, name, policy)
    roles = {"clear": "Predefined_ClearStreamingOnly", **{p: p for p in POLICIES}}
    locators, keys = {}, {}
    for role, policy in roles.items():
        made = client.streaming_locators.create(RG, ACC, role, ams.StreamingLocator(
            asset_name="ladder", streaming_policy_name=policy,
            default_content_key_policy_name="ck-video"))  # fmt: skip
        locators[role] = str(made.streaming_locator_id)
        listed = client.streaming_locators.list_content_keys(RG, ACC, role).content_keys
        keys[role] = Keys({k.label_reference_in_streaming_policy or "": k for k in listed})
    yield Site(server, client, files[0].stem, locators, keys)
    server.server.stop()


def get(url: str) -> httpx.Response:
    return httpx.get(url, timeout=30)


# --- locators and their keys -------------------------------------------------------------------


def test_list_content_keys_gives_a_key_per_label_with_its_tracks(site: Site) -> None:
    keys = site.keys["pertrack-cenc"]
    assert set(keys.listed) == {"default", "video", "audio"}
    assert len({k.id for k in keys.listed.values()}) == 3
    for label, fourcc, policy in (("video", "AVC1", "ck-video"), ("audio", "mp4a", "ck-audio")):
        key = keys.listed[label]
        assert (key.type, key.policy_name) == ("CommonEncryptionCenc", policy)
        (selection,) = key.tracks
        (condition,) = selection.track_selections
        assert (condition.property, condition.operation, condition.value) == (
            "FourCC",
            "Equal",
            fourcc,
        )
        assert len(keys.value(label)) == 16
    assert keys.listed["default"].tracks == []
    assert keys.listed["default"].policy_name == "ck-video"  # the locator's default
    assert set(site.keys["clear-audio-cenc"].listed) == {""}


def test_given_keys_are_matched_by_label(site: Site) -> None:
    video = ams.StreamingLocatorContentKey(
        id=str(uuid.uuid4()), label_reference_in_streaming_policy="video",
        value=base64.b64encode(bytes(range(16))).decode())  # fmt: skip
    site.client.streaming_locators.create(
        RG,
        ACC,
        "given",
        ams.StreamingLocator(
            asset_name="ladder", streaming_policy_name="pertrack-cenc", content_keys=[video]
        ),
    )
    listed = site.client.streaming_locators.list_content_keys(RG, ACC, "given").content_keys
    by_label = {k.label_reference_in_streaming_policy: k for k in listed}
    assert (by_label["video"].id, by_label["video"].value) == (video.id, video.value)
    assert by_label["audio"].id != video.id


def test_a_given_key_with_an_unknown_label_is_a_400(site: Site) -> None:
    wrong = ams.StreamingLocatorContentKey(
        id=str(uuid.uuid4()), label_reference_in_streaming_policy="subtitles"
    )
    with pytest.raises(HttpResponseError) as info:
        site.client.streaming_locators.create(
            RG,
            ACC,
            "wrong",
            ams.StreamingLocator(
                asset_name="ladder", streaming_policy_name="pertrack-cenc", content_keys=[wrong]
            ),
        )
    assert info.value.status_code == 400
    assert "'subtitles'" in info.value.error.message and "'video'" in info.value.error.message


@pytest.mark.parametrize(
    "mapping",
    [
        ams.StreamingPolicyContentKey(label="default", tracks=[_selection("mp4a")]),  # taken
        ams.StreamingPolicyContentKey(tracks=[_selection("mp4a")]),  # no label
        ams.StreamingPolicyContentKey(label="a", tracks=[]),  # no tracks
        ams.StreamingPolicyContentKey(
            label="a",
            tracks=[
                ams.TrackSelection(
                    track_selections=[
                        ams.TrackPropertyCondition(property="Unknown", operation="Equal", value="x")
                    ]
                )
            ],
        ),
    ],
    ids=["label-taken", "no-label", "no-tracks", "unknown-property"],
)
def test_policies_with_mappings_no_locator_can_honour_are_a_400(
    site: Site, mapping: ams.StreamingPolicyContentKey
) -> None:
    policy = ams.StreamingPolicy(
        common_encryption_cenc=ams.CommonEncryptionCenc(
            enabled_protocols=_protocols(dash=True),
            content_keys=ams.StreamingPolicyContentKeys(
                default_key=ams.DefaultKey(label="default"), key_to_track_mappings=[mapping]
            ),
        )
    )
    with pytest.raises(HttpResponseError) as info:
        site.client.streaming_policies.create(RG, ACC, "bad-mapping", policy)
    assert info.value.status_code == 400


# --- CENC DASH with a key per track -------------------------------------------------------------


def _sets(text: str) -> dict[str, Any]:
    mpd = MPEGDASHParser.parse(text)
    return {s.content_type: s for s in mpd.periods[0].adaptation_sets}


def test_mpd_has_each_adaptation_sets_own_default_kid(site: Site) -> None:
    keys = site.keys["pertrack-cenc"]
    text = get(site.url("pertrack-cenc", DASH)).text
    sets = _sets(text)
    for kind in ("video", "audio"):
        (mp4,) = [c for c in sets[kind].content_protections if c.scheme_id_uri == MP4_PROTECTION]
        assert mp4.cenc_default_kid == str(keys.kid(kind))
    assert text.count("<ContentProtection") == 4  # mp4protection + ClearKey in each set


def _segments_file(site: Site, role: str, kind: str, tmp: Path) -> Path:
    """Init + every segment of the first Representation of the ``kind`` set, in one file."""
    mpd_url = site.url(role, DASH)
    adaptation_set = _sets(get(mpd_url).text)[kind]
    template = adaptation_set.segment_templates[0]
    bandwidth = str(adaptation_set.representations[0].bandwidth)
    times, t = [], 0
    for s in template.segment_timelines[0].Ss:
        t = s.t if s.t is not None else t
        for _ in range((s.r or 0) + 1):
            times.append(t)
            t += s.d

    def path(pattern: str, time: str) -> str:
        return pattern.replace("$Bandwidth$", bandwidth).replace("$Time$", time)

    data = get(urljoin(mpd_url, path(template.initialization, ""))).content
    for time_ticks in times:
        response = get(urljoin(mpd_url, path(template.media, str(time_ticks))))
        assert response.status_code == 200
        data += response.content
    out = tmp / f"{role}-{kind}.mp4"
    out.write_bytes(data)
    return out


def _framemd5(path: Path, key: bytes | None = None) -> list[str] | None:
    """The frames' md5s (None when ffmpeg fails)."""
    args = [str(ffmpeg()), "-v", "error", "-nostdin"]
    if key is not None:
        args += ["-decryption_key", key.hex()]
    args += ["-i", str(path), "-f", "framemd5", "-"]
    done = subprocess.run(args, capture_output=True, text=True, check=False, timeout=120)
    if done.returncode != 0:
        return None
    return [line for line in done.stdout.splitlines() if not line.startswith("#")]


@pytest.mark.parametrize("role", ["pertrack-cenc", "pertrack-cbcs"])
@pytest.mark.parametrize("kind", ["video", "audio"])
def test_each_track_decrypts_with_its_own_key_only(
    site: Site, role: str, kind: str, tmp_path: Path
) -> None:
    keys = site.keys[role]
    clear = _framemd5(_segments_file(site, "clear", kind, tmp_path))
    assert clear
    protected = _segments_file(site, role, kind, tmp_path)
    assert (b"encv" if kind == "video" else b"enca") in protected.read_bytes()[:4096]
    assert _framemd5(protected, keys.value(kind)) == clear
    other = "audio" if kind == "video" else "video"
    assert _framemd5(protected, keys.value(other)) != clear
    assert _framemd5(protected, keys.value("default")) != clear


def test_init_segments_name_every_kid(site: Site, tmp_path: Path) -> None:
    keys = site.keys["pertrack-cenc"]
    data = _segments_file(site, "pertrack-cenc", "audio", tmp_path).read_bytes()
    for label in ("default", "video", "audio"):
        assert keys.kid(label).bytes in data[:4096]


def test_license_request_for_both_keys_follows_each_keys_policy(site: Site) -> None:
    keys = site.keys["pertrack-cenc"]
    kids = [keys.kid("video"), keys.kid("audio")]

    def granted(token: str | None) -> dict[uuid.UUID, bytes]:
        response = post_license(site.server.base_url, kids, token)
        assert response.status_code == 200, response.text
        return {uuid.UUID(bytes=b64url_decode(k["kid"])): b64url_decode(k["k"])
                for k in response.json()["keys"]}  # fmt: skip

    assert granted(make_token()) == {
        kid: keys.value(label) for kid, label in zip(kids, ("video", "audio"), strict=True)
    }
    assert granted(None) == {keys.kid("audio"): keys.value("audio")}  # 'ck-audio' is open


def test_smooth_refuses_per_track_keys(site: Site) -> None:
    """Smooth's ProtectionHeader names one KID: such a policy is served as DASH, not Smooth."""
    for tail in ("manifest", "manifest(encryption=piff)"):
        answer = get(site.url("pertrack-cenc", tail))
        assert answer.status_code == 400, tail
        assert "one content key" in answer.text
    assert get(site.url("pertrack-cenc", DASH)).status_code == 200


# --- clear tracks ------------------------------------------------------------------------------


def test_clear_tracks_serve_audio_clear_and_video_encrypted(site: Site, tmp_path: Path) -> None:
    sets = _sets(get(site.url("clear-audio-cenc", DASH)).text)
    assert not sets["audio"].content_protections
    (kid,) = [c.cenc_default_kid for c in sets["video"].content_protections
              if c.scheme_id_uri == MP4_PROTECTION]  # fmt: skip
    assert kid == str(site.keys["clear-audio-cenc"].kid(""))
    audio = _segments_file(site, "clear-audio-cenc", "audio", tmp_path).read_bytes()
    assert audio == _segments_file(site, "clear", "audio", tmp_path).read_bytes()
    video = _segments_file(site, "clear-audio-cenc", "video", tmp_path)
    assert b"encv" in video.read_bytes()[:4096]
    key = site.keys["clear-audio-cenc"].value("")
    assert _framemd5(video, key) == _framemd5(_segments_file(site, "clear", "video", tmp_path))


# --- AES-128 HLS with a key per track ------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["m3u8-aapl", "m3u8-cmaf"])
def test_hls_media_playlists_name_their_own_keys(site: Site, fmt: str) -> None:
    keys = site.keys["pertrack-aes"]
    token = make_token()
    master_url = site.url("pertrack-aes", f"manifest(format={fmt})")
    master = get(master_url).text
    assert master == get(site.url("clear", f"manifest(format={fmt})")).text
    tokened = m3u8.loads(get(f"{master_url}?token={token}").text, uri=master_url)
    uris = {urljoin(master_url, p.uri) for p in tokened.playlists}
    uris |= {urljoin(master_url, m.uri) for m in tokened.media if m.type == "AUDIO"}
    kinds = {url: "video" if "Manifest(video," in url else "audio" for url in uris}
    assert sorted(kinds.values()).count("video") == 3 and "audio" in kinds.values()
    for url, kind in kinds.items():
        media = m3u8.loads(get(url).text, uri=url)
        found = {k.uri for k in media.keys if k is not None}
        expected = f"{site.server.base_url}/keydelivery/hls/{keys.kid(kind)}?token={token}"
        assert found == {expected}, (kind, url)
    ffmpeg_decode(f"{master_url}?token={token}")  # every stream, without an error
    for stream in ("v:0", "a:0"):
        frames = count_frames(f"{master_url}?token={token}", stream)
        assert frames == count_frames(site.url("clear", f"manifest(format={fmt})"), stream)


# --- units: which key a rendition gets, where the MPD says so ------------------------------------


def _rendition(codec: str) -> Rendition:
    return cast(Rendition, SimpleNamespace(track=SimpleNamespace(codec=codec)))


def _condition_list(*fourccs: str) -> list[TrackSelection]:
    return [
        TrackSelection.model_validate(
            {"trackSelections": [{"property": "FourCC", "operation": "Equal", "value": f}]}
        )
        for f in fourccs
    ]


def test_rendition_key_precedence() -> None:
    keys = [cast(Any, SimpleNamespace(id=uuid.uuid4())) for _ in range(3)]
    default, first, second = keys
    mappings = [
        KeyMapping(selections_of(_condition_list("hvc1", "HEV1")), first),
        KeyMapping(selections_of(_condition_list("hev1", "mp4a")), second),
    ]
    clear = selections_of(_condition_list("ec-3"))
    assert rendition_key(default, mappings, clear, _rendition("hev1")) is first
    assert rendition_key(default, mappings, clear, _rendition("mp4a")) is second
    assert rendition_key(default, mappings, clear, _rendition("avc1")) is default
    assert rendition_key(default, mappings, clear, _rendition("ec-3")) is None
    unknown = TrackSelection.model_validate(
        {"trackSelections": [{"property": "Unknown", "operation": "Equal", "value": "avc1"}]}
    )
    assert selections_of([unknown]) == ()


MIXED = """<MPD xmlns="urn:mpeg:dash:schema:mpd:2011">
  <Period>
    <AdaptationSet id="0" contentType="video" mimeType="video/mp4">
      <Representation id="v_1" bandwidth="1"/>
      <Representation id="v_2" bandwidth="2"/>
    </AdaptationSet>
    <AdaptationSet id="1" contentType="audio" mimeType="audio/mp4" lang="en">
      <Representation id="a&amp;b_3" bandwidth="3">
        <AudioChannelConfiguration schemeIdUri="x" value="2"/>
      </Representation>
    </AdaptationSet>
  </Period>
</MPD>"""


def test_mixed_adaptation_sets_get_protection_per_representation() -> None:
    one, two = DashProtection("cenc", b"\x01" * 16), DashProtection("cenc", b"\x02" * 16)
    text = add_track_content_protection(MIXED, {"v_1": one, "v_2": None, "a&b_3": two})
    lines = text.split("\n")
    v1 = lines.index('      <Representation id="v_1" bandwidth="1">')
    assert (
        lines[v1 + 1].strip().startswith("<ContentProtection")
        and str(uuid.UUID(bytes=b"\x01" * 16)) in lines[v1 + 1]
    )
    assert lines[v1 + 2] == "      </Representation>"
    assert '      <Representation id="v_2" bandwidth="2"/>' in lines  # clear: as it was
    # The audio set's one Representation: the set carries it, first.
    audio = lines.index(
        '    <AdaptationSet id="1" contentType="audio" mimeType="audio/mp4" lang="en">'
    )
    assert str(uuid.UUID(bytes=b"\x02" * 16)) in lines[audio + 1]
    assert MPEGDASHParser.parse(text).periods[0].adaptation_sets[0].representations[
        0
    ].content_protections[0].cenc_default_kid == str(uuid.UUID(bytes=b"\x01" * 16))
    assert add_track_content_protection(MIXED, {}) == MIXED


def test_sample_aes_playlists_name_their_own_keys(site: Site) -> None:
    """HLS 'cbcs': the identity and FairPlay key tags of each playlist name its key."""
    keys = site.keys["pertrack-cbcs"]
    for kind, tail in (
        ("video", "QualityLevels(400000)/Manifest(video,format=m3u8-cmaf)"),
        ("audio", "QualityLevels(64000)/Manifest(aac_und_2_64,format=m3u8-cmaf)"),
    ):
        media = m3u8.loads(get(site.url("pertrack-cbcs", tail)).text)
        kid = keys.kid(kind)
        assert {(k.keyformat, k.uri) for k in media.keys if k is not None} == {
            ("identity", f"{site.server.base_url}/keydelivery/hls/{kid}"),
            ("com.apple.streamingkeydelivery", f"skd://{kid}"),
        }


def test_a_mapping_naming_a_missing_content_key_policy_makes_no_locator(site: Site) -> None:
    """A mapping's own policyName must name a content key policy when a locator is made
    (as the locator's default must): 404 and no locator, not a key no one can get."""
    keys = ams.StreamingPolicyContentKeys(
        default_key=ams.DefaultKey(label="default"),
        key_to_track_mappings=[ams.StreamingPolicyContentKey(
            label="audio", policy_name="no-such-policy", tracks=[_selection("mp4a")])],
    )  # fmt: skip
    site.client.streaming_policies.create(RG, ACC, "missing-key-policy", ams.StreamingPolicy(
        common_encryption_cenc=ams.CommonEncryptionCenc(
            enabled_protocols=_protocols(dash=True), content_keys=keys,
            clear_key_encryption_configuration=ams.ClearKeyEncryptionConfiguration())))  # fmt: skip
    with pytest.raises(HttpResponseError) as info:
        site.client.streaming_locators.create(RG, ACC, "orphan-key", ams.StreamingLocator(
            asset_name="ladder", streaming_policy_name="missing-key-policy",
            default_content_key_policy_name="ck-video"))  # fmt: skip
    assert info.value.status_code == 404
    assert "no-such-policy" in info.value.error.message
    with pytest.raises(HttpResponseError) as gone:
        site.client.streaming_locators.get(RG, ACC, "orphan-key")
    assert gone.value.status_code == 404
