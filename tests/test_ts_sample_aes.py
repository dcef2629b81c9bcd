"""HLS SAMPLE-AES over MPEG-TS ('cbcs' keys on ``m3u8-aapl`` TS segments).

Unit tests check the encryptor against a decryptor written here from Apple's
"MPEG-2 Stream Encryption Format for HTTP Live Streaming" (its loops, not
openvod's code): H.264 slices longer than 48 bytes keep 32 bytes clear, then
one 16-byte block in ten is encrypted while more than 16 bytes remain, and
emulation prevention is applied over the result; AAC frames keep the ADTS
header and 16 bytes clear and encrypt whole blocks. End to end, a server
publishes one clip under clear and 'cbcs' locators (one of them on a
storage-encrypted asset): ffmpeg's HLS demuxer (which implements SAMPLE-AES
for TS) decodes every video and audio frame of the encrypted playlists to the
clear ones' exact frames, but for one: ffmpeg 8.1 decrypts a packet only while
a segment is current, and its h264 parser gives the stream's last picture out
after the last segment, so that picture stays encrypted (played again before
another segment, it decodes right). A wrong key decodes nothing right, and the
segments are taken apart here to compare every NAL unit and AAC frame, that
last picture's included, with the clear segments' and with Shaka Packager's
SAMPLE-AES TS of the same MP4 under the same key and IV (identical bytes).
"""

from __future__ import annotations

import base64
import dataclasses
import http.server
import os
import re
import struct
import subprocess
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urljoin

import httpx
import m3u8
import numpy as np
import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from openvod.encoding.tools import ffmpeg, packager
from openvod.errors import MediaError
from openvod.keys.content_keys import ContentKey
from openvod.media.crypto.ts_sample_aes import (
    add_emulation_prevention,
    decrypt_nal_unit,
    encrypt_aac_samples,
    encrypt_avc_samples,
    encrypt_nal_unit,
)
from openvod.media.ism import IsmTrack, ServerManifest, build_ism
from openvod.media.ts.sample_aes import sample_aes_signal
from openvod.origin.delivery import SchemeDelivery, _supported, choose_delivery
from openvod.storage.movie_files import read_movie_file, write_sidecar
from tests.conftest import ServerHandle, start_server
from tests.origin_support import (
    AUDIO_BITRATE,
    FRAMES,
    api,
    ensure_account,
    make_rendition,
    set_endpoint,
)

HLS_ONLY = {"download": False, "dash": False, "hls": True, "smoothStreaming": False}
OPEN_POLICY = {"options": [{
    "name": "open",
    "configuration": {"@odata.type": "#Microsoft.Media.ContentKeyPolicyClearKeyConfiguration"},
    "restriction": {"@odata.type": "#Microsoft.Media.ContentKeyPolicyOpenRestriction"},
}]}  # fmt: skip
# A key for the video and another for the audio (keyToTrackMappings).
PER_TRACK_POLICY = {"commonEncryptionCbcs": {
    "enabledProtocols": HLS_ONLY, "clearKeyEncryptionConfiguration": {},
    "contentKeys": {"defaultKey": {"label": "default"}, "keyToTrackMappings": [
        {"label": label, "tracks": [{"trackSelections": [
            {"property": "FourCC", "operation": "Equal", "value": fourcc}]}]}
        for label, fourcc in (("video", "avc1"), ("audio", "mp4a"))]},
}}  # fmt: skip
VIDEO_PID, AUDIO_PID = 0x100, 0x101


# --- a decryptor written from the spec ---------------------------------------------------------


def _unescape(nal: bytes) -> bytes:
    """Drop the 0x03 of every 00 00 03 (the spec: before decrypting, remove them all)."""
    out, i = bytearray(), 0
    while i < len(nal):
        if nal[i : i + 3] == b"\x00\x00\x03":
            out += b"\x00\x00"
            i += 3
        else:
            out.append(nal[i])
            i += 1
    return bytes(out)


def spec_decrypt_nal(nal: bytes, key: bytes, iv: bytes) -> bytes:
    """Encrypted_nal_unit(): type byte, 31 clear bytes, then while bytes remain: a 16-byte
    encrypted block if more than 16 remain, then min(144, remaining) clear bytes."""
    if nal[0] & 0x1F not in (1, 5) or len(nal) <= 48:
        return nal
    data = bytearray(_unescape(nal))
    ecb = Cipher(algorithms.AES(key), modes.ECB()).decryptor()
    pos, chain = 32, iv
    while len(data) - pos > 0:
        if len(data) - pos > 16:
            block = bytes(data[pos : pos + 16])
            plain = ecb.update(block)
            data[pos : pos + 16] = bytes(a ^ b for a, b in zip(plain, chain, strict=True))
            chain, pos = block, pos + 16
        pos += min(144, len(data) - pos)
    return bytes(data)


def spec_decrypt_adts(frame: bytes, key: bytes, iv: bytes) -> bytes:
    """Encrypted_AAC_Frame(): ADTS header, 16 clear bytes, whole blocks in CBC, the rest clear."""
    header = 7 if frame[1] & 1 else 9
    whole = (len(frame) - header - 16) // 16 * 16
    if whole <= 0:
        return frame
    start = header + 16
    dec = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    return frame[:start] + dec.update(frame[start : start + whole]) + frame[start + whole :]


# --- the encryptor -----------------------------------------------------------------------------


def _nal(nal_type: int, size: int, seed: int) -> bytes:
    """A NAL unit of ``size`` escaped bytes with zero runs (so escapes happen)."""
    rng = np.random.default_rng(seed)
    body = bytearray(rng.integers(0, 256, size, dtype=np.uint8).tobytes())
    body[0] = 0x60 | nal_type
    for at in range(5, size - 4, 23):
        body[at : at + 3] = b"\x00\x00" + bytes([at % 4])
    return add_emulation_prevention(bytes(body))[:size] if size > 1 else bytes(body)


KEY, IV = bytes(range(16)), bytes(range(16, 32))


@pytest.mark.parametrize("nal_type", [1, 5])
def test_slices_round_trip_through_the_spec_decryptor(nal_type: int) -> None:
    for size in [49, 50, 63, 64, 65, 80, 192, 208, 209, 350, 1000, 4099]:
        clear = _nal(nal_type, size, size)
        clear = clear[:-1] + b"\x80"  # rbsp_stop_bit: slices never end in zero
        encrypted = encrypt_nal_unit(clear, KEY, IV)
        assert encrypted != clear
        unescaped = _unescape(encrypted)  # the 32 clear bytes are escaped again too
        assert unescaped[:32] == clear[:32] and unescaped[-1:] == clear[-1:]
        assert not re.search(b"\x00\x00[\x00-\x02]", encrypted), size  # no start code inside
        assert spec_decrypt_nal(encrypted, KEY, IV) == clear
        assert decrypt_nal_unit(encrypted, KEY, IV) == clear


def test_only_the_pattern_blocks_change() -> None:
    clear = bytes([0x65]) + bytes(range(1, 200)) + b"\x80"  # 201 bytes, nothing to escape
    encrypted = _unescape(encrypt_nal_unit(clear, KEY, IV))
    changed = {i for i in range(len(clear)) if encrypted[i] != clear[i]}
    # blocks at 32 and 192: 9 bytes remain after the first block's skip, so 192 is clear
    assert changed <= set(range(32, 48)) and len(changed) > 8
    exact = bytes([0x65]) + bytes(range(1, 208)) + b"\x81"  # 209: 17 bytes remain at 192
    encrypted = _unescape(encrypt_nal_unit(exact, KEY, IV))
    changed = {i for i in range(len(exact)) if encrypted[i] != exact[i]}
    assert changed & set(range(192, 208)) and not changed - set(range(32, 48)) - set(
        range(192, 208)
    )
    just_16 = bytes([0x65]) + bytes(range(1, 208))  # 208: exactly 16 remain at 192: clear
    encrypted = _unescape(encrypt_nal_unit(just_16, KEY, IV))
    assert encrypted[192:] == just_16[192:]


@pytest.mark.parametrize(("nal_type", "size"), [(1, 48), (5, 30), (6, 500), (7, 60), (9, 2)])
def test_other_and_short_units_stay_clear(nal_type: int, size: int) -> None:
    clear = _nal(nal_type, size, 7)
    assert encrypt_nal_unit(clear, KEY, IV) == clear


def test_avc_samples_get_new_lengths_and_sizes() -> None:
    sei, slice_a, slice_b = _nal(6, 40, 1), _nal(5, 300, 2), _nal(1, 120, 3)
    short = _nal(1, 20, 4)
    samples = [[sei, slice_a], [short, slice_b]]
    data = b"".join(len(n).to_bytes(4, "big") + n for s in samples for n in s)
    sizes = np.array([sum(4 + len(n) for n in s) for s in samples], dtype=np.uint32)
    out, new_sizes = encrypt_avc_samples(data, sizes, 4, KEY, IV)
    units, at = [], 0
    while at < len(out):
        length = int.from_bytes(out[at : at + 4], "big")
        units.append(out[at + 4 : at + 4 + length])
        at += 4 + length
    assert units[0] == sei and units[2] == short
    assert units[1] == encrypt_nal_unit(slice_a, KEY, IV) and units[3] != slice_b
    assert [spec_decrypt_nal(u, KEY, IV) for u in units] == [sei, slice_a, short, slice_b]
    assert new_sizes.tolist() == [4 + len(units[0]) + 4 + len(units[1]),
                                  4 + len(units[2]) + 4 + len(units[3])]  # fmt: skip
    assert int(new_sizes.sum()) == len(out)
    with pytest.raises(MediaError):
        encrypt_avc_samples(data, sizes + 1, 4, KEY, IV)


def test_aac_frames_keep_their_size_and_clear_leader() -> None:
    sizes = np.array([5, 16, 31, 32, 33, 47, 48, 200, 371], dtype=np.int64)
    data = os.urandom(int(sizes.sum()))
    out = encrypt_aac_samples(data, sizes, KEY, IV)
    assert len(out) == len(data)
    at = 0
    for size in sizes.tolist():
        frame, clear = out[at : at + size], data[at : at + size]
        header = bytes([0xFF, 0xF1, 0, 0, 0, 0, 0])  # ADTS, no CRC
        assert spec_decrypt_adts(header + frame, KEY, IV)[7:] == clear
        whole = max(0, (size - 16) // 16 * 16)
        assert frame[:16] == clear[:16] and frame[16 + whole :] == clear[16 + whole :]
        assert (frame != clear) == (whole > 0)
        at += size
    with pytest.raises(MediaError):
        encrypt_aac_samples(data, sizes + 1, KEY, IV)


def test_pmt_signals_and_refusals() -> None:
    assert sample_aes_signal("video", "avc1", b"").descriptors == b"\x0f\x04zavc"
    asc = bytes([0x11, 0x90])  # AAC LC, 48 kHz, stereo
    audio = sample_aes_signal("audio", "mp4a", asc)
    assert audio.stream_type == 0xCF
    assert audio.descriptors == (b"\x0f\x04aacd" + b"\x05\x0e" + b"apad" + b"zaac"
                                 + b"\x00\x00\x01\x02" + asc)  # fmt: skip
    for kind, codec in (("video", "hvc1"), ("audio", "ac-3")):
        with pytest.raises(MediaError, match="SAMPLE-AES"):
            sample_aes_signal(kind, codec, b"")


def _delivery(scheme: str) -> SchemeDelivery:
    key_type = {"envelope": "EnvelopeEncryption", "cbcs": "CommonEncryptionCbcs"}[scheme]
    key = ContentKey(uuid.uuid4(), os.urandom(16), key_type, None, None)
    return SchemeDelivery(scheme, frozenset({"hls"}), key)  # type: ignore[arg-type]


def test_ts_choice_of_scheme() -> None:
    assert _supported("cbcs", "m3u8-aapl") and _supported("cbcs", "m3u8-aapl-v3")
    both = [_delivery("cbcs"), _delivery("envelope")]
    assert choose_delivery(both, frozenset(), "hls", "m3u8-aapl", None).scheme == "envelope"
    chosen = choose_delivery(both, frozenset(), "hls", "m3u8-aapl", "cbcs-aapl")
    assert chosen is not None and chosen.scheme == "cbcs"
    only = choose_delivery(both[:1], frozenset(), "hls", "m3u8-aapl", None)
    assert only is not None and only.scheme == "cbcs"


# --- end to end --------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Site:
    server: ServerHandle
    name: str
    locators: dict[str, str]
    keys: dict[str, tuple[uuid.UUID, bytes]]  # role -> the 'cbcs' key
    clip: Path

    def url(self, role: str, tail: str) -> str:
        return f"{self.server.base_url}/{self.locators[role]}/{self.name}.ism/{tail}"


def _publish(server: ServerHandle, asset: str, clip: Path, ism: str, encrypted: bool) -> None:
    props = {"storageEncryptionFormat": "MediaStorageClientEncryption"} if encrypted else {}
    container = api(server, "PUT", f"/assets/{asset}", {"properties": props})["properties"][
        "container"
    ]
    store = server.ctx.store
    store.put_file(container, clip.name, clip, content_type="video/mp4")
    store.put_file(container, clip.name + ".ovi", clip.with_name(clip.name + ".ovi"))
    store.put_blob(container, f"{clip.stem}.ism", ism.encode(), content_type="text/xml")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    clip = make_rendition(tmp_path_factory.mktemp("media") / "clip.mp4", "320x180", 400)
    write_sidecar(clip)
    ism = build_ism(ServerManifest((IsmTrack("video", clip.name, 400_000, 1),
                                    IsmTrack("audio", clip.name, AUDIO_BITRATE, 2,
                                             "aac_und_2_64"))))  # fmt: skip
    server = start_server(tmp_path_factory.mktemp("data"), None)
    ensure_account(server)
    set_endpoint(server, True)
    _publish(server, "plain", clip, ism, encrypted=False)
    _publish(server, "sealed", clip, ism, encrypted=True)
    api(server, "PUT", "/contentKeyPolicies/open", {"properties": OPEN_POLICY})
    api(
        server,
        "PUT",
        "/streamingPolicies/cbcs",
        {
            "properties": {
                "commonEncryptionCbcs": {
                    "enabledProtocols": HLS_ONLY,
                    "clearKeyEncryptionConfiguration": {},
                }
            }
        },
    )
    api(server, "PUT", "/streamingPolicies/pertrack", {"properties": PER_TRACK_POLICY})
    roles = {
        "clear": ("plain", "Predefined_ClearStreamingOnly"),
        "cbcs": ("plain", "cbcs"),
        "pertrack": ("plain", "pertrack"),
        "multidrm": ("plain", "Predefined_MultiDrmStreaming"),
        "sealed": ("sealed", "cbcs"),
    }
    locators, keys = {}, {}
    for role, (asset, policy) in roles.items():
        body = api(
            server,
            "PUT",
            f"/streamingLocators/{role}",
            {
                "properties": {
                    "assetName": asset,
                    "streamingPolicyName": policy,
                    "defaultContentKeyPolicyName": "open",
                }
            },
        )
        locators[role] = body["properties"]["streamingLocatorId"]
        listed = api(server, "POST", f"/streamingLocators/{role}/listContentKeys")
        for k in listed["contentKeys"]:
            if k["type"] == "CommonEncryptionCbcs":
                label = k.get("labelReferenceInStreamingPolicy") or ""
                name = f"{role}/{label}" if role == "pertrack" else role
                keys[name] = (uuid.UUID(k["id"]), base64.b64decode(k["value"]))
    yield Site(server, clip.stem, locators, keys, clip)
    server.server.stop()


def get(url: str) -> httpx.Response:
    return httpx.get(url, timeout=30)


def media_url(site: Site, role: str, kind: str, fmt: str = "m3u8-aapl") -> str:
    master_url = site.url(
        role,
        f"manifest(format={fmt},encryption=cbcs-aapl)"
        if role != "clear"
        else f"manifest(format={fmt})",
    )
    response = get(master_url)
    assert response.status_code == 200, response.text
    master = m3u8.loads(response.text, uri=master_url)
    uris = (
        [p.uri for p in master.playlists]
        if kind == "video"
        else [m.uri for m in master.media if m.type == "AUDIO"]
    )
    return urljoin(master_url, uris[0])


def framemd5(url: str) -> list[str]:
    """ffmpeg's default HLS client, every stream decoded: one line per frame."""
    cmd = [str(ffmpeg()), "-v", "error", "-nostdin", "-i", url, "-map", "0",
           "-f", "framemd5", "-"]  # fmt: skip
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    return [line for line in result.stdout.splitlines() if not line.startswith("#")]


@pytest.mark.parametrize(
    ("kind", "fmt", "streams"),
    [("video", "m3u8-aapl", 1), ("audio", "m3u8-aapl", 1), ("video", "m3u8-aapl-v3", 2)],
)
@pytest.mark.parametrize("role", ["cbcs", "sealed"])
def test_ffmpeg_decodes_every_frame(
    site: Site, role: str, kind: str, fmt: str, streams: int
) -> None:
    clear = framemd5(media_url(site, "clear", kind, fmt))
    protected_url = media_url(site, role, kind, fmt)
    text = get(protected_url).text
    kid, key = site.keys[role]
    iv = re.findall(r"IV=0x([0-9A-F]{32})", text)
    assert (
        f'#EXT-X-KEY:METHOD=SAMPLE-AES,URI="{site.server.base_url}/keydelivery/hls/{kid}"'
        f',IV=0x{iv[0]},KEYFORMAT="identity"' in text
    )
    assert get(f"{site.server.base_url}/keydelivery/hls/{kid}").content == key
    got = framemd5(protected_url)
    assert len(got) == len(clear)
    assert len({line.split(",")[0] for line in got}) == streams
    if kind == "video":
        assert sum(line.startswith("0,") for line in got) == FRAMES
        # ffmpeg 8.1's HLS demuxer decrypts a packet only while a segment is current: the
        # h264 parser gives the last picture out at end of stream, after the last segment,
        # so it stays encrypted. The segment test checks that picture's NAL units.
        last = max(i for i, line in enumerate(clear) if line.startswith("0,"))
        assert [i for i, line in enumerate(got) if line != clear[i]] in ([], [last])
    else:
        assert got == clear


class Files:
    """A local HTTP server answering the paths of :attr:`files` (rewritten playlists, keys)."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        files = self.files

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                body = files.get(self.path)
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Length", str(len(body or b"")))
                self.end_headers()
                self.wfile.write(body or b"")

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture
def files() -> Iterator[Files]:
    server = Files()
    yield server
    server.httpd.shutdown()


def rewritten(url: str, key_uri: str, repeat_first: bool = False) -> bytes:
    """The media playlist at ``url`` with absolute segment URIs, its key at ``key_uri`` and,
    with ``repeat_first``, its first segment played again at the end."""
    lines = [urljoin(url, line) if line and not line.startswith("#") else line
             for line in get(url).text.splitlines()]  # fmt: skip
    lines = [re.sub(r'URI="[^"]*"', f'URI="{key_uri}"', line) for line in lines]
    if repeat_first:
        first = next(i for i, line in enumerate(lines) if line.startswith("#EXTINF"))
        end = lines.index("#EXT-X-ENDLIST")
        lines[end:end] = [lines[first], lines[first + 1]]
    return ("\n".join(lines) + "\n").encode()


def test_wrong_key_does_not_decode(site: Site, files: Files) -> None:
    url = media_url(site, "cbcs", "video", "m3u8-aapl-v3")
    clear = framemd5(media_url(site, "clear", "video", "m3u8-aapl-v3"))
    _, key = site.keys["cbcs"]
    files.files["/right.key"], files.files["/wrong.key"] = key, bytes(b ^ 1 for b in key)
    for name in ("right", "wrong"):
        files.files[f"/{name}.m3u8"] = rewritten(url, f"{files.base}/{name}.key")
    right = framemd5(f"{files.base}/right.m3u8")  # the rewriting alone changes nothing
    assert len(right) == len(clear)
    assert sum(a != b for a, b in zip(right, clear, strict=True)) <= 1  # the last picture
    cmd = [str(ffmpeg()), "-v", "error", "-nostdin", "-i", f"{files.base}/wrong.m3u8",
           "-map", "0", "-f", "framemd5", "-"]  # fmt: skip
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    frames = [line for line in result.stdout.splitlines() if not line.startswith("#")]
    assert result.stderr  # the decoders complain
    same = set(frames) & set(clear)
    assert not {line for line in same if line.startswith("0,")}  # no picture decodes right


def test_ffmpeg_leaves_only_the_last_picture_encrypted(site: Site, files: Files) -> None:
    """The one frame ffmpeg gets wrong is the picture its h264 parser gives out after the
    playlist's end: played again before another segment, it decrypts too."""
    url = media_url(site, "cbcs", "video", "m3u8-aapl")
    clear = framemd5(media_url(site, "clear", "video", "m3u8-aapl"))
    files.files["/key"] = site.keys["cbcs"][1]
    files.files["/longer.m3u8"] = rewritten(url, f"{files.base}/key", repeat_first=True)
    got = framemd5(f"{files.base}/longer.m3u8")
    assert [line.split(",")[-1] for line in got[:FRAMES]] == [
        line.split(",")[-1] for line in clear]  # fmt: skip


# --- the segments taken apart ------------------------------------------------------------------


def ts_streams(segment: bytes) -> tuple[dict[int, tuple[int, bytes]], dict[int, list[bytes]]]:
    """(PMT: PID -> (stream type, descriptors), PID -> PES payloads) of a TS segment."""
    assert len(segment) % 188 == 0
    payloads: dict[int, list[bytearray]] = {}
    pmt: dict[int, tuple[int, bytes]] = {}
    pmt_pid = -1
    for at in range(0, len(segment), 188):
        packet = segment[at : at + 188]
        assert packet[0] == 0x47
        pid, start = struct.unpack(">H", packet[1:3])[0] & 0x1FFF, bool(packet[1] & 0x40)
        body = 4 + (1 + packet[4] if packet[3] & 0x20 else 0)
        payload = packet[body:] if packet[3] & 0x10 else b""
        if pid == 0:  # the PAT: where the PMT is (0x1000 here, elsewhere for Shaka Packager)
            section = payload[1 + payload[0] :]
            pmt_pid = struct.unpack(">H", section[10:12])[0] & 0x1FFF
        elif pid == pmt_pid:
            section = payload[1 + payload[0] :]
            length = struct.unpack(">H", section[1:3])[0] & 0xFFF
            info = struct.unpack(">H", section[10:12])[0] & 0xFFF
            pos, end = 12 + info, 3 + length - 4
            while pos < end:
                stream_type, es_pid, es_len = struct.unpack(">BHH", section[pos : pos + 5])
                pmt[es_pid & 0x1FFF] = (stream_type, section[pos + 5 : pos + 5 + (es_len & 0xFFF)])
                pos += 5 + (es_len & 0xFFF)
        else:
            if start:
                payloads.setdefault(pid, []).append(bytearray())
            payloads[pid][-1] += payload
    pes = {pid: [bytes(p[9 + p[8] :]) for p in items] for pid, items in payloads.items()}
    return pmt, pes


def adts_frames(payload: bytes) -> list[bytes]:
    frames, at = [], 0
    while at < len(payload):
        length = ((payload[at + 3] & 3) << 11) | (payload[at + 4] << 3) | (payload[at + 5] >> 5)
        frames.append(payload[at : at + length])
        at += length
    return frames


@pytest.mark.parametrize("index", [0, 1, 2])
def test_segments_encrypt_every_slice_and_frame(site: Site, index: int) -> None:
    url = media_url(site, "cbcs", "video", "m3u8-aapl-v3")
    media = m3u8.loads(get(url).text, uri=url)
    assert len(media.segments) == 3
    iv = bytes.fromhex(media.keys[-1].iv[2:])
    kid, key = site.keys["cbcs"]
    segment_url = urljoin(url, media.segments[index].uri)
    clear_media = media_url(site, "clear", "video", "m3u8-aapl-v3")
    clear_url = urljoin(clear_media, m3u8.loads(get(clear_media).text).segments[index].uri)
    encrypted, clear = get(segment_url).content, get(clear_url).content
    assert encrypted != clear
    pmt, pes = ts_streams(encrypted)
    clear_pmt, clear_pes = ts_streams(clear)
    assert pmt[VIDEO_PID] == (0xDB, b"\x0f\x04zavc")
    assert pmt[AUDIO_PID][0] == 0xCF and b"aacd" in pmt[AUDIO_PID][1]
    assert b"apad" + b"zaac" in pmt[AUDIO_PID][1]
    assert {pid: t for pid, (t, _) in clear_pmt.items()} == {VIDEO_PID: 0x1B, AUDIO_PID: 0x0F}
    slices = 0
    for got, want in zip(pes[VIDEO_PID], clear_pes[VIDEO_PID], strict=True):
        got_units = got.split(b"\x00\x00\x00\x01")[1:]
        want_units = want.split(b"\x00\x00\x00\x01")[1:]
        assert len(got_units) == len(want_units)
        for unit, clear_unit in zip(got_units, want_units, strict=True):
            if clear_unit[0] & 0x1F in (1, 5) and len(clear_unit) > 48:
                slices += 1
                assert unit != clear_unit
                assert not re.search(b"\x00\x00[\x00-\x02]", unit)
            else:
                assert unit == clear_unit
            assert spec_decrypt_nal(unit, key, iv) == clear_unit
    assert slices >= 40  # a 2-s segment at 25 fps: every picture is a slice
    frames = 0
    for got, want in zip(pes[AUDIO_PID], clear_pes[AUDIO_PID], strict=True):
        for frame, clear_frame in zip(adts_frames(got), adts_frames(want), strict=True):
            frames += 1
            assert frame[:23] == clear_frame[:23]
            assert (frame != clear_frame) == (len(frame) >= 7 + 32)  # a block after the leader
            assert spec_decrypt_adts(frame, key, iv) == clear_frame
    assert frames >= 90  # 2 s of 48 kHz AAC: 94 frames


def test_multidrm_tags_carry_the_iv_for_fairplay_too(site: Site) -> None:
    kid, key = site.keys["multidrm"]
    url = site.url("multidrm", "QualityLevels(400000)/Manifest(video,format=m3u8-aapl)")
    response = get(url)
    assert response.status_code == 200
    media = m3u8.loads(response.text, uri=url)
    tags = {(k.method, k.keyformat, k.uri, k.iv) for k in media.keys if k is not None}
    (iv,) = {k.iv for k in media.keys if k is not None}
    assert iv is not None and re.fullmatch(r"0x[0-9A-F]{32}", iv)
    assert tags == {
        ("SAMPLE-AES", "identity", f"{site.server.base_url}/keydelivery/hls/{kid}", iv),
        ("SAMPLE-AES", "com.apple.streamingkeydelivery", f"skd://{kid}", iv),
    }
    cmaf = get(site.url("multidrm", "QualityLevels(400000)/Manifest(video,format=m3u8-cmaf)"))
    assert "IV=" not in cmaf.text  # fMP4 'cbcs' keeps its IV in 'tenc'
    listed = api(site.server, "POST", "/streamingLocators/cbcs/listPaths")["streamingPaths"]
    (hls,) = [p["paths"] for p in listed if p["streamingProtocol"] == "Hls"]
    assert any("format=m3u8-aapl,encryption=cbcs-aapl" in p for p in hls)


def test_i_frame_playlists_are_sample_aes_too(site: Site) -> None:
    tail = "QualityLevels(400000)/Manifest(video,format=m3u8-aapl,type=keyframes{})"
    clear = framemd5(site.url("clear", tail.format("")))
    url = site.url("cbcs", tail.format(",encryption=cbcs-aapl"))
    text = get(url).text
    assert "#EXT-X-I-FRAMES-ONLY" in text and "#EXT-X-KEY:METHOD=SAMPLE-AES," in text
    got = framemd5(url)
    assert len(clear) == len(got) == 3  # one picture per 2-s GOP
    assert got[:-1] == clear[:-1]  # the last one: ffmpeg's end-of-stream flush (above)
    segment = get(urljoin(url, m3u8.loads(text).segments[0].uri)).content
    pmt, _ = ts_streams(segment)
    assert pmt == {VIDEO_PID: (0xDB, b"\x0f\x04zavc")}


def test_per_track_keys(site: Site) -> None:
    """Each TS playlist names its rendition's key; a muxed -v3 segment is under the video's."""
    (video_kid, _), (audio_kid, _) = site.keys["pertrack/video"], site.keys["pertrack/audio"]
    assert video_kid != audio_kid
    for kind, kid in (("video", video_kid), ("audio", audio_kid)):
        url = media_url(site, "pertrack", kind)
        assert f"/keydelivery/hls/{kid}" in get(url).text
        got, clear = framemd5(url), framemd5(media_url(site, "clear", kind))
        assert len(got) == len(clear) and got[:-1] == clear[:-1]
    muxed = media_url(site, "pertrack", "video", "m3u8-aapl-v3")
    assert f"/keydelivery/hls/{video_kid}" in get(muxed).text
    got, clear = framemd5(muxed), framemd5(media_url(site, "clear", "video", "m3u8-aapl-v3"))
    assert [line for line in got if line.startswith("1,")] == [
        line for line in clear if line.startswith("1,")
    ]  # the audio, under the video's key


def _units(stream: list[bytes]) -> list[bytes]:
    """The slice NAL units of a video stream's PES payloads (3- or 4-byte start codes)."""
    units = []
    for payload in stream:
        for unit in re.split(b"\x00\x00\x00?\x01", payload)[1:]:
            if unit and unit[0] & 0x1F in (1, 5):
                units.append(unit)
    return units


def test_shaka_packager_writes_the_same_bytes(site: Site, tmp_path: Path) -> None:
    """Shaka Packager's SAMPLE-AES TS of the same MP4 under the same key and IV holds the
    same encrypted slices and AAC frames, byte for byte, and the same PMT descriptors."""
    kid, key = site.keys["cbcs"]
    tail = "QualityLevels(400000)/Manifest(video,format=m3u8-aapl-v3,encryption=cbcs-aapl)"
    text = get(site.url("cbcs", tail)).text
    iv = re.findall(r"IV=0x([0-9A-F]{32})", text)[0]
    args = [str(packager())]
    for kind in ("video", "audio"):
        args.append(f"in={site.clip},stream={kind},segment_template={tmp_path}/{kind}_$Number$.ts,"
                    f"playlist_name={kind}.m3u8")  # fmt: skip
    args += ["--hls_master_playlist_output", str(tmp_path / "main.m3u8"),
             "--enable_raw_key_encryption", "--protection_scheme", "cbcs", "--clear_lead", "0",
             "--keys", f"label=:key_id={kid.hex}:key={key.hex()}", "--iv", iv,
             "--segment_duration", "2"]  # fmt: skip
    subprocess.run(args, check=True, capture_output=True, timeout=120)
    theirs: dict[str, list[bytes]] = {"video": [], "audio": []}
    for kind in theirs:
        for number in (1, 2, 3):
            pmt, pes = ts_streams((tmp_path / f"{kind}_{number}.ts").read_bytes())
            ((pid, (_, descriptors)),) = pmt.items()
            assert (
                descriptors
                == sample_aes_signal(
                    kind,
                    "avc1" if kind == "video" else "mp4a",
                    _asc(site) if kind == "audio" else b"",
                ).descriptors
            )
            theirs[kind] += pes[pid]
    url = media_url(site, "cbcs", "video", "m3u8-aapl-v3")
    ours: dict[str, list[bytes]] = {"video": [], "audio": []}
    for segment in m3u8.loads(get(url).text).segments:
        _, pes = ts_streams(get(urljoin(url, segment.uri)).content)
        ours["video"] += pes[VIDEO_PID]
        ours["audio"] += pes[AUDIO_PID]
    assert len(_units(ours["video"])) == FRAMES
    assert _units(ours["video"]) == _units(theirs["video"])
    frames = [f[7:] for payload in ours["audio"] for f in adts_frames(payload)]
    assert len(frames) > 250
    assert frames == [f[7:] for payload in theirs["audio"] for f in adts_frames(payload)]


def _asc(site: Site) -> bytes:
    """The clip's AudioSpecificConfig."""
    audio = read_movie_file(site.clip).track("audio")
    assert audio is not None
    return audio.codec_private
