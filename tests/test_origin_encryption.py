"""Dynamic encryption end to end: one clear MP4 set served encrypted per locator policy.

A module-scoped server publishes the 3-rendition ladder under a clear locator
and under encrypting ones (AES-128 envelope, CENC 'cenc' with W3C ClearKey,
Widevine and PlayReady, and Predefined_MultiDrmStreaming for 'cbcs'). The
keys come from ``listContentKeys``. ffmpeg decodes AES-128 HLS (its key URI
answered by a key server of this test, through the policy's custom key URL
template) and decrypts CENC init + fragments with ``-decryption_key``; m3u8
and mpegdash parse the key tags and ContentProtection elements. Smooth under
'cenc' (PIFF) has its own file, tests/test_smooth_encryption.py.
"""

from __future__ import annotations

import dataclasses
import http.server
import re
import subprocess
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx
import m3u8
import pytest
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from mpegdash.parser import MPEGDASHParser

from openvod.encoding.tools import ffmpeg
from tests.conftest import ServerHandle, start_server
from tests.origin_support import (
    FRAMES,
    api,
    count_frames,
    create_asset,
    create_locator,
    ensure_account,
    ism_text,
    make_ladder,
    set_endpoint,
)

CLEARKEY_SCHEME = "urn:uuid:e2719d58-a985-b3c9-781a-b030af78d30e"
WIDEVINE_SCHEME = "urn:uuid:edef8ba9-79d6-4ace-a3c8-27dcd51d21ed"
PLAYREADY_SCHEME = "urn:uuid:9a04f079-9840-4286-ab92-e65be0885f95"
ALL_STREAMING = {"download": False, "dash": True, "hls": True, "smoothStreaming": True}


class KeyServer:
    """A local HTTP server answering ``/k/{kid}`` with the 16 key bytes (counts requests)."""

    def __init__(self) -> None:
        self.keys: dict[str, bytes] = {}
        self.requests: list[str] = []
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                owner.requests.append(self.path)
                key = owner.keys.get(self.path.split("?")[0].rsplit("/", 1)[-1])
                self.send_response(200 if key else 404)
                self.send_header("Content-Length", str(len(key or b"")))
                self.end_headers()
                self.wfile.write(key or b"")

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@dataclasses.dataclass(frozen=True)
class Site:
    """The published content, the locators by role and their keys by scheme."""

    server: ServerHandle
    files: list[Path]
    locators: dict[str, str]
    keys: dict[str, dict[str, tuple[uuid.UUID, bytes]]]  # role -> key type -> (kid, key)
    key_server: KeyServer

    def url(self, role: str, tail: str) -> str:
        """Absolute URL of ``{name}.ism/{tail}`` under the locator of ``role``."""
        return f"{self.server.base_url}/{self.locators[role]}/{self.files[0].stem}.ism/{tail}"


def _keys(server: ServerHandle, name: str) -> dict[str, tuple[uuid.UUID, bytes]]:
    import base64

    listed = api(server, "POST", f"/streamingLocators/{name}/listContentKeys")["contentKeys"]
    return {k["type"]: (uuid.UUID(k["id"]), base64.b64decode(k["value"])) for k in listed}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    key_server = KeyServer()
    files = make_ladder(tmp_path_factory.mktemp("media"))
    server = start_server(tmp_path_factory.mktemp("data"), None)
    ensure_account(server)
    set_endpoint(server, True)
    create_asset(server, "ladder", files, ism_text(files))
    template = f"http://127.0.0.1:{key_server.port}/k/{{ContentKeyId}}"
    api(server, "PUT", "/streamingPolicies/aes", {"properties": {"envelopeEncryption": {
        "enabledProtocols": ALL_STREAMING, "customKeyAcquisitionUrlTemplate": template}}})
    api(server, "PUT", "/streamingPolicies/cenc", {"properties": {"commonEncryptionCenc": {
        "enabledProtocols": ALL_STREAMING, "clearKeyEncryptionConfiguration": {},
        "drm": {"widevine": {}, "playReady": {
            "customLicenseAcquisitionUrlTemplate": "https://pr.example/{ContentKeyId}"}}}}})
    # AMS's Predefined_MultiDrmStreaming enables cbcs for HLS only: DASH cbcs needs its own.
    api(server, "PUT", "/streamingPolicies/cbcs", {"properties": {"commonEncryptionCbcs": {
        "enabledProtocols": ALL_STREAMING, "clearKeyEncryptionConfiguration": {}}}})
    roles = {"clear": "Predefined_ClearStreamingOnly", "aes": "aes",
             "clearkey": "Predefined_ClearKey", "cenc": "cenc", "cbcs": "cbcs",
             "multidrm": "Predefined_MultiDrmStreaming"}
    locators = {role: create_locator(server, role, "ladder", policy)
                for role, policy in roles.items()}  # fmt: skip
    keys = {role: _keys(server, role) for role in roles}
    for found in keys.values():
        for kid, key in found.values():
            key_server.keys[str(kid)] = key
    yield Site(server, files, locators, keys, key_server)
    server.server.stop()
    key_server.httpd.shutdown()


def get(url: str) -> httpx.Response:
    return httpx.get(url, timeout=30)


def _aes_cbc_decrypt(data: bytes, key: bytes, iv: bytes) -> bytes:
    decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    unpadder = padding.PKCS7(128).unpadder()
    return unpadder.update(decryptor.update(data) + decryptor.finalize()) + unpadder.finalize()


# --- HLS AES-128 ------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["m3u8-aapl", "m3u8-cmaf"])
def test_aes128_hls_decodes_every_frame(site: Site, fmt: str) -> None:
    master_url = site.url("aes", f"manifest(format={fmt})")
    master = m3u8.loads(get(master_url).text, uri=master_url)
    video = [p for p in master.playlists if p.stream_info.resolution]
    assert len(video) == 3
    kid, key = site.keys["aes"]["EnvelopeEncryption"]
    url = urljoin(master_url, video[0].uri)
    media = m3u8.loads(get(url).text, uri=url)
    methods = {(k.method, k.uri) for k in media.keys if k is not None}
    assert methods == {("AES-128", f"http://127.0.0.1:{site.key_server.port}/k/{kid}")}
    before = len(site.key_server.requests)
    assert count_frames(url) == FRAMES
    assert len(site.key_server.requests) > before  # ffmpeg fetched the key
    # The raw segments are ciphertext: not TS/MP4, whole AES blocks; the key opens them.
    segment = get(urljoin(url, media.segments[1].uri)).content
    assert len(segment) % 16 == 0
    clear = _aes_cbc_decrypt(segment, key, (1).to_bytes(16, "big"))
    if fmt == "m3u8-aapl":
        assert segment[0] != 0x47 and clear[0] == 0x47 and clear[188] == 0x47
    else:
        assert segment[4:8] != b"moof" and clear[4:8] == b"moof"
        init_key = media.segment_map[0] if media.segment_map else None
        assert init_key is not None
        init = get(urljoin(url, init_key.uri)).content
        iv = bytes.fromhex(re.findall(r'IV=0x([0-9A-F]{32})', get(url).text)[0])
        assert init[4:8] != b"ftyp" and _aes_cbc_decrypt(init, key, iv)[4:8] == b"ftyp"


def test_token_is_carried_into_key_uris(site: Site) -> None:
    token = "eyJ.a b+c/="  # needs quoting
    master_url = site.url("clearkey", "manifest(format=m3u8-aapl)")
    master_text = get(f"{master_url}?token={token.replace(' ', '%20').replace('+', '%2B')}").text
    uris = [line for line in master_text.splitlines() if line and not line.startswith("#")]
    assert uris and all(u.endswith("?token=eyJ.a%20b%2Bc%2F%3D") for u in uris)
    media_url = urljoin(master_url, uris[0])
    media = m3u8.loads(get(media_url).text, uri=media_url)
    kid, _ = site.keys["clearkey"]["EnvelopeEncryption"]
    (tag,) = [k for k in media.keys if k is not None]
    assert tag.method == "AES-128"
    assert tag.uri == f"{site.server.base_url}/keydelivery/hls/{kid}?token=eyJ.a%20b%2Bc%2F%3D"
    plain = m3u8.loads(get(site.url("clearkey", "QualityLevels(400000)/"
                                    "Manifest(video,format=m3u8-aapl)")).text)
    assert plain.keys[-1] is not None and plain.keys[-1].uri.endswith(f"/keydelivery/hls/{kid}")


# --- CENC DASH --------------------------------------------------------------------------------


def _rendition_file(site: Site, role: str, fmt: str, tmp: Path, modifier: str = "") -> Path:
    """Init + every fragment of the 400 kbit/s video, as the MPD's template names them."""
    mpd_url = site.url(role, f"manifest(format={fmt}{modifier})")
    mpd = MPEGDASHParser.parse(get(mpd_url).text)
    (video,) = [s for s in mpd.periods[0].adaptation_sets if s.content_type == "video"]
    template = video.segment_templates[0]
    times, t = [], 0
    for s in template.segment_timelines[0].Ss:
        t = s.t if s.t is not None else t
        for _ in range((s.r or 0) + 1):
            times.append(t)
            t += s.d
    def path(pattern: str, time: str) -> str:
        return pattern.replace("$Bandwidth$", "400000").replace("$Time$", time)
    data = get(urljoin(mpd_url, path(template.initialization, ""))).content
    for time in times:
        response = get(urljoin(mpd_url, path(template.media, str(time))))
        assert response.status_code == 200
        data += response.content
    out = tmp / f"{role}-{fmt}.mp4"
    out.write_bytes(data)
    return out


def framemd5(path: Path, key: bytes | None = None) -> subprocess.CompletedProcess[str]:
    args = [str(ffmpeg()), "-v", "error", "-nostdin"]
    if key is not None:
        args += ["-decryption_key", key.hex()]
    args += ["-i", str(path), "-f", "framemd5", "-"]
    return subprocess.run(args, capture_output=True, text=True, check=False, timeout=120)


def _frames(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in result.stdout.splitlines() if not line.startswith("#")]


@pytest.mark.parametrize(("role", "key_type", "modifier"), [
    ("cenc", "CommonEncryptionCenc", ""),
    ("cbcs", "CommonEncryptionCbcs", ",encryption=cbcs"),
])
@pytest.mark.parametrize("fmt", ["mpd-time-csf", "mpd-time-cmaf"])
def test_cenc_dash_decrypts_to_the_clear_frames(
    site: Site, fmt: str, role: str, key_type: str, modifier: str, tmp_path: Path
) -> None:
    kid, key = site.keys[role][key_type]
    clear = framemd5(_rendition_file(site, "clear", fmt, tmp_path))
    assert clear.returncode == 0, clear.stderr
    assert len(_frames(clear)) == FRAMES
    protected = _rendition_file(site, role, fmt, tmp_path, modifier)
    assert b"encv" in protected.read_bytes()[:4096]
    got = framemd5(protected, key)
    assert got.returncode == 0, got.stderr
    assert _frames(got) == _frames(clear)
    without = framemd5(protected)
    assert without.returncode != 0 or _frames(without) != _frames(clear)


def test_cenc_mpd_content_protection(site: Site) -> None:
    text = get(site.url("cenc", "manifest(format=mpd-time-cmaf)")).text
    mpd = MPEGDASHParser.parse(text)
    kid, _ = site.keys["cenc"]["CommonEncryptionCenc"]
    sets = mpd.periods[0].adaptation_sets
    assert {s.content_type for s in sets} == {"video", "audio"}
    for adaptation_set in sets:
        by_scheme = {cp.scheme_id_uri: cp for cp in adaptation_set.content_protections}
        assert set(by_scheme) == {"urn:mpeg:dash:mp4protection:2011", CLEARKEY_SCHEME,
                                  WIDEVINE_SCHEME, PLAYREADY_SCHEME}  # fmt: skip
        assert by_scheme["urn:mpeg:dash:mp4protection:2011"].value == "cenc"
        assert by_scheme["urn:mpeg:dash:mp4protection:2011"].cenc_default_kid == str(kid)
    assert f"<clearkey:Laurl Lic_type=\"EME-1.0\">{site.server.base_url}/keydelivery/clearkey<" \
        in text
    assert f"<dashif:Laurl>https://pr.example/{kid}</dashif:Laurl>" in text
    with_token = get(site.url("cenc", "manifest(format=mpd-time-cmaf)") + "?token=abc").text
    assert f"{site.server.base_url}/keydelivery/clearkey?token=abc<" in with_token


# --- cbcs HLS and refusals ---------------------------------------------------------------------


def test_cbcs_hls_sample_aes_key_tags(site: Site) -> None:
    kid, _ = site.keys["multidrm"]["CommonEncryptionCbcs"]
    url = site.url("multidrm", "QualityLevels(400000)/Manifest(video,format=m3u8-cmaf)")
    media = m3u8.loads(get(url).text, uri=url)
    tags = {(k.method, k.keyformat, k.uri) for k in media.keys if k is not None}
    assert tags == {
        ("SAMPLE-AES", "identity", f"{site.server.base_url}/keydelivery/hls/{kid}"),
        ("SAMPLE-AES", "com.apple.streamingkeydelivery", f"skd://{kid}"),
    }
    init = get(urljoin(url, media.segment_map[0].uri)).content
    assert b"encv" in init and b"cbcs" in init


@pytest.mark.parametrize(("role", "tail", "status"), [
    ("multidrm", "manifest(format=m3u8-aapl)", 200),  # cbcs on MPEG-TS: SAMPLE-AES
    ("multidrm", "manifest(format=m3u8-cmaf,encryption=cenc)", 404),  # cenc: no HLS
    ("cenc", "manifest(format=m3u8-aapl)", 400),  # TS + cenc
    ("cenc", "manifest", 200),  # Smooth + cenc: PIFF (tests/test_smooth_encryption.py)
    ("cbcs", "manifest", 400),  # Smooth + cbcs: PIFF 1.1 is AES-CTR only
    ("aes", "manifest(format=mpd-time-csf)", 400),  # DASH + AES-128
    ("clear", "manifest(format=mpd-time-csf,encryption=cenc)", 404),
    ("cenc", "manifest(format=mpd-time-csf,encryption=cbcs)", 404),
    ("multidrm", "manifest(format=m3u8-cmaf,encryption=cbcs-aapl)", 200),
])
def test_refusals(site: Site, role: str, tail: str, status: int) -> None:
    assert get(site.url(role, tail)).status_code == status


def test_encrypting_locator_never_serves_clear_segments(site: Site) -> None:
    tail = "QualityLevels(400000)/Fragments(video=i,format=mpd-time-cmaf)"
    clear = get(site.url("clear", tail)).content
    encrypted = get(site.url("cenc", tail)).content
    assert b"avc1" in clear and b"encv" not in clear
    assert b"encv" in encrypted
    segment = "QualityLevels(400000)/Fragments(video=0,format=mpd-time-cmaf)"
    assert get(site.url("clear", segment)).content != get(site.url("cenc", segment)).content
    response = get(site.url("cenc", segment))
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"


@pytest.mark.parametrize(("role", "expected"), [
    ("clearkey", {("Hls", "EnvelopeEncryption"): 2}),
    ("cenc", {("Dash", "CommonEncryptionCenc"): 2, ("SmoothStreaming", "CommonEncryptionCenc"): 1}),
    ("cbcs", {("Hls", "CommonEncryptionCbcs"): 2, ("Dash", "CommonEncryptionCbcs"): 2}),
    ("multidrm", {("Dash", "CommonEncryptionCenc"): 2, ("Hls", "CommonEncryptionCbcs"): 2,
                  ("SmoothStreaming", "CommonEncryptionCenc"): 1}),
])
def test_list_paths_names_only_what_the_origin_serves(
    site: Site, role: str, expected: dict[tuple[str, str], int]
) -> None:
    listed = api(site.server, "POST", f"/streamingLocators/{role}/listPaths")
    found = {(p["streamingProtocol"], p["encryptionScheme"]): len(p["paths"])
             for p in listed["streamingPaths"]}  # fmt: skip
    assert found == expected
    for entry in listed["streamingPaths"]:
        for path in entry["paths"]:
            assert get(site.server.base_url + path).status_code == 200, path
