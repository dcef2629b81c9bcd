"""Smooth Streaming under CENC 'cenc' (PIFF 1.1, PlayReady header), end to end.

A module-scoped server publishes the 3-rendition ladder under a clear locator
and under encrypting ones (a 'cenc' policy with PlayReady and a license URL
template, Predefined_MultiDrmCencStreaming, AES-128 envelope, 'cbcs'), with
the keys from ``listContentKeys``. The manifest's ProtectionHeader is decoded
by hand (PlayReady Object, WRM header, little-endian GUID KID); every sample
of every fragment is decrypted by this file's own AES-CTR decryptor, driven
by the PIFF box's IVs and subsample ranges, and compared with the clear
Smooth fragment; ffmpeg decodes a CENC file made of a protected init segment
and the served fragments with ``-decryption_key``.
"""

from __future__ import annotations

import base64
import dataclasses
import struct
import subprocess
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx
import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from openvod.encoding.tools import ffmpeg
from openvod.media.crypto import SequentialIvs, TrackProtection, build_protected_init_segment
from openvod.media.index import load_movie
from openvod.media.mp4 import build_init_segment
from openvod.media.mp4.boxes import parse_boxes
from openvod.media.mp4.fragment_boxes import TrackFragmentHeaderBox, TrackRunBox
from openvod.media.smooth import TFXD_UUID
from openvod.media.track import Track
from tests.conftest import ServerHandle, start_server
from tests.origin_support import (
    FRAMES,
    api,
    create_asset,
    create_locator,
    ensure_account,
    ism_text,
    make_ladder,
    set_endpoint,
)

PLAYREADY_SYSTEM_ID = "9a04f079-9840-4286-ab92-e65be0885f95"
PIFF_UUID = bytes.fromhex("a2394f525a9b4f14a2446c427c648df4")
WRM_NS = "{http://schemas.microsoft.com/DRM/2007/03/PlayReadyHeader}"
LICENSE_TEMPLATE = "https://pr.example/{ContentKeyId}?a=1&b=2"
SMOOTH = {"download": False, "dash": True, "hls": False, "smoothStreaming": True}


@dataclasses.dataclass(frozen=True)
class Site:
    server: ServerHandle
    files: list[Path]
    locators: dict[str, str]
    keys: dict[str, tuple[uuid.UUID, bytes]]  # role -> (kid, key) of its CENC key

    def url(self, role: str, tail: str) -> str:
        return f"{self.server.base_url}/{self.locators[role]}/{self.files[0].stem}.ism/{tail}"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    files = make_ladder(tmp_path_factory.mktemp("media"))
    server = start_server(tmp_path_factory.mktemp("data"), None)
    ensure_account(server)
    set_endpoint(server, True)
    create_asset(server, "ladder", files, ism_text(files))
    play_ready = {"customLicenseAcquisitionUrlTemplate": LICENSE_TEMPLATE}
    cenc = {"enabledProtocols": SMOOTH, "drm": {"playReady": play_ready}}
    api(server, "PUT", "/streamingPolicies/cenc", {"properties": {"commonEncryptionCenc": cenc}})
    cbcs = {"enabledProtocols": SMOOTH, "clearKeyEncryptionConfiguration": {}}
    api(server, "PUT", "/streamingPolicies/cbcs", {"properties": {"commonEncryptionCbcs": cbcs}})
    roles = {"clear": "Predefined_ClearStreamingOnly", "cenc": "cenc",
             "multidrm": "Predefined_MultiDrmCencStreaming", "aes": "Predefined_ClearKey",
             "cbcs": "cbcs"}  # fmt: skip
    locators = {role: create_locator(server, role, "ladder", policy)
                for role, policy in roles.items()}  # fmt: skip
    keys = {}
    for role in ("cenc", "multidrm"):
        listed = api(server, "POST", f"/streamingLocators/{role}/listContentKeys")["contentKeys"]
        (key,) = [k for k in listed if k["type"] == "CommonEncryptionCenc"]
        keys[role] = (uuid.UUID(key["id"]), base64.b64decode(key["value"]))
    yield Site(server, files, locators, keys)
    server.server.stop()


def get(url: str) -> httpx.Response:
    return httpx.get(url, timeout=30)


# --- the manifest ------------------------------------------------------------------------------


def wrm_header(manifest: str) -> tuple[ET.Element, ET.Element]:
    """(the manifest root, the WRM header of its PlayReady ProtectionHeader), decoded by hand."""
    root = ET.fromstring(manifest)
    (header,) = root.findall("Protection/ProtectionHeader")
    assert header.get("SystemID", "").lower().strip("{}") == PLAYREADY_SYSTEM_ID
    pro = base64.b64decode(header.text or "")
    size, count = struct.unpack_from("<IH", pro, 0)
    assert size == len(pro) and count == 1
    record_type, length = struct.unpack_from("<HH", pro, 6)
    assert record_type == 1 and 10 + length == len(pro)  # one Rights Management header
    return root, ET.fromstring(pro[10:].decode("utf-16-le"))


@pytest.mark.parametrize("modifier", ["", "(encryption=cenc)", "(encryption=piff)"])
def test_manifest_protection_header_names_the_locator_key(site: Site, modifier: str) -> None:
    response = get(site.url("cenc", f"manifest{modifier}"))
    assert response.status_code == 200, response.text
    root, wrm = wrm_header(response.text)
    kid, key = site.keys["cenc"]
    assert wrm.tag == f"{WRM_NS}WRMHEADER" and wrm.get("version") == "4.0.0.0"
    data = wrm.find(f"{WRM_NS}DATA")
    assert data is not None
    # PlayReady writes the KID as a GUID: its first three fields little-endian.
    kid_text = data.findtext(f"{WRM_NS}KID") or ""
    assert uuid.UUID(bytes_le=base64.b64decode(kid_text)) == kid
    assert data.findtext(f"{WRM_NS}PROTECTINFO/{WRM_NS}ALGID") == "AESCTR"
    assert data.findtext(f"{WRM_NS}LA_URL") == f"https://pr.example/{kid}?a=1&b=2"
    encryptor = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    checksum = (encryptor.update(kid.bytes_le) + encryptor.finalize())[:8]
    assert base64.b64decode(data.findtext(f"{WRM_NS}CHECKSUM") or "") == checksum
    # The rest of the manifest is the clear one.
    clear = ET.fromstring(get(site.url("clear", "manifest")).text)
    served = stream_indexes(root)
    assert len(served) == 2 and root.attrib == clear.attrib
    named = modifier[1:-1]  # fragment URLs keep the modifier, as AMS wrote them
    assert all((f",{named}".encode() in s) == bool(named) for s in served)
    assert [s.replace(f",{named}".encode(), b"") if named else s for s in served] == (
        stream_indexes(clear)
    )
    if named:  # and the fragments they name are the ones without it
        index = root.find("StreamIndex")
        assert index is not None
        tail = index.get("Url", "").replace("{bitrate}", "400000").replace("{start time}", "0")
        with_modifier = get(site.url("cenc", tail)).content
        assert with_modifier == get(site.url("cenc", tail.replace(f",{named}", ""))).content
        assert PIFF_UUID in with_modifier


def stream_indexes(root: ET.Element) -> list[bytes]:
    """The StreamIndex elements, serialised without the whitespace that follows them."""
    out = []
    for element in root.findall("StreamIndex"):
        element.tail = None
        out.append(ET.tostring(element))
    return out


def test_predefined_multidrm_cenc_has_no_license_url(site: Site) -> None:
    _, wrm = wrm_header(get(site.url("multidrm", "manifest")).text)
    kid_text = wrm.findtext(f"{WRM_NS}DATA/{WRM_NS}KID") or ""
    assert uuid.UUID(bytes_le=base64.b64decode(kid_text)) == site.keys["multidrm"][0]
    assert wrm.find(f"{WRM_NS}DATA/{WRM_NS}LA_URL") is None


# --- fragments ---------------------------------------------------------------------------------


def chunk_urls(site: Site, role: str, kind: str, bitrate: int) -> list[str]:
    """Every fragment URL of one QualityLevel, from the manifest."""
    manifest_url = site.url(role, "manifest")
    root = ET.fromstring(get(manifest_url).text)
    index = next(s for s in root.findall("StreamIndex") if s.get("Type") == kind)
    urls, t = [], 0
    for chunk in index.findall("c"):
        t = int(chunk.get("t", t))
        for _ in range(int(chunk.get("r", "1"))):
            tail = (index.get("Url", "").replace("{bitrate}", str(bitrate))
                    .replace("{start time}", str(t)))  # fmt: skip
            urls.append(urljoin(manifest_url, tail))
            t += int(chunk.get("d", "0"))
    return urls


def children(data: bytes, start: int, end: int) -> list[tuple[bytes, int, int]]:
    """(type, start, end) of the boxes in ``data[start:end]`` (32-bit sizes only)."""
    out = []
    while start < end:
        size, kind = struct.unpack_from(">I4s", data, start)
        assert size >= 8
        out.append((kind, start, start + size))
        start += size
    return out


@dataclasses.dataclass
class Piff:
    """What a PIFF SampleEncryptionBox says, parsed here independently of openvod."""

    flags: int
    ivs: list[bytes]
    subsamples: list[list[tuple[int, int]]] | None
    entries_at: int  # offset of the first entry from the start of the fragment


def parse_piff(fragment: bytes) -> tuple[Piff, dict[bytes, tuple[int, int]]]:
    """The PIFF box of a one-traf fragment, and the traf's children by type."""
    (moof,) = [b for b in children(fragment, 0, len(fragment)) if b[0] == b"moof"]
    (traf,) = [b for b in children(fragment, moof[1] + 8, moof[2]) if b[0] == b"traf"]
    boxes = children(fragment, traf[1] + 8, traf[2])
    piffs = [b for b in boxes if b[0] == b"uuid" and fragment[b[1] + 8 : b[1] + 24] == PIFF_UUID]
    assert len(piffs) == 1
    at = piffs[0][1] + 24
    (word, count) = struct.unpack_from(">II", fragment, at)
    flags, at = word & 0xFFFFFF, at + 8
    entries_at = at
    ivs, maps = [], []
    for _ in range(count):
        ivs.append(fragment[at : at + 8])  # Smooth's IV size: 8
        at += 8
        if flags & 0x2:
            (n,) = struct.unpack_from(">H", fragment, at)
            maps.append([struct.unpack_from(">HI", fragment, at + 2 + 6 * i) for i in range(n)])
            at += 2 + 6 * n
    assert at == piffs[0][2]
    named = {kind: (start, end) for kind, start, end in boxes if kind != b"uuid"}
    return Piff(flags, ivs, maps if flags & 0x2 else None, entries_at), named


def samples_of(fragment: bytes) -> list[bytes]:
    """The samples of a one-traf fragment, cut by the trun (openvod's box parser)."""
    (moof, mdat) = [b for b in parse_boxes(fragment) if b.box_fourcc() in (b"moof", b"mdat")]
    traf = moof.find(b"traf")  # type: ignore[attr-defined]
    tfhd, trun = traf.find(b"tfhd"), traf.find(b"trun")
    assert isinstance(tfhd, TrackFragmentHeaderBox) and isinstance(trun, TrackRunBox)
    if trun.sizes is not None:
        sizes = trun.sizes.tolist()
    else:
        sizes = [tfhd.default_sample_size] * trun.sample_count
    at = trun.data_offset
    out = []
    for size in sizes:
        out.append(fragment[at : at + size])
        at += size
    assert at == len(fragment)
    return out


def decrypt_sample(sample: bytes, key: bytes, iv: bytes, ranges: list[tuple[int, int]] | None
                   ) -> bytes:  # fmt: skip
    """CENC 'cenc': AES-CTR from IV || 0^64, one keystream across a sample's protected bytes."""
    decryptor = Cipher(algorithms.AES(key), modes.CTR(iv + bytes(8))).decryptor()
    if ranges is None:
        return decryptor.update(sample) + decryptor.finalize()
    out, at = bytearray(), 0
    for clear, protected in ranges:
        out += sample[at : at + clear]
        out += decryptor.update(sample[at + clear : at + clear + protected])
        at += clear + protected
    assert at == len(sample), "subsamples cover the whole sample"
    return bytes(out)


@pytest.mark.parametrize(
    ("kind", "bitrate"), [("video", 400000), ("video", 150000), ("audio", 64000)]
)
def test_every_sample_decrypts_to_the_clear_one(site: Site, kind: str, bitrate: int) -> None:
    kid, key = site.keys["cenc"]
    clear_urls = chunk_urls(site, "clear", kind, bitrate)
    urls = chunk_urls(site, "cenc", kind, bitrate)
    assert len(urls) == len(clear_urls) == 3
    ivs_seen: set[bytes] = set()
    for clear_url, url in zip(clear_urls, urls, strict=True):
        clear = get(clear_url).content
        response = get(url)
        assert response.status_code == 200
        assert response.headers["content-type"] == f"{kind}/mp4"
        fragment = response.content
        assert fragment != clear and PIFF_UUID not in clear
        piff, boxes = parse_piff(fragment)
        clear_samples, samples = samples_of(clear), samples_of(fragment)
        assert [len(s) for s in samples] == [len(s) for s in clear_samples]
        assert len(piff.ivs) == len(samples)
        assert (piff.subsamples is not None) == (kind == "video")
        assert piff.flags == (0x2 if kind == "video" else 0)
        changed = 0
        for index, sample in enumerate(samples):
            ranges = None if piff.subsamples is None else piff.subsamples[index]
            plain = decrypt_sample(sample, key, piff.ivs[index], ranges)
            assert plain == clear_samples[index], f"{url} sample {index}"
            changed += sample != plain
        assert changed == len(samples)  # every sample has encrypted bytes
        ivs_seen.update(piff.ivs)
        # 'saio' points at the first PIFF entry (from the moof), 'saiz' gives each entry's size.
        saio_start, _ = boxes[b"saio"]
        assert struct.unpack_from(">II", fragment, saio_start + 12) == (1, piff.entries_at)
        assert b"senc" not in [fragment[s + 4 : s + 8] for s, _ in boxes.values()]
        # Smooth's tfxd (absolute time and duration) is the clear fragment's.
        tfxd, clear_tfxd = fragment.index(TFXD_UUID), clear.index(TFXD_UUID)
        assert fragment[tfxd : tfxd + 36] == clear[clear_tfxd : clear_tfxd + 36]
    assert len(ivs_seen) == sum(len(samples_of(get(u).content)) for u in urls)  # no IV reuse


def framemd5(path: Path, key: bytes | None = None) -> subprocess.CompletedProcess[str]:
    args = [str(ffmpeg()), "-v", "error", "-nostdin"]
    if key is not None:
        args += ["-decryption_key", key.hex()]
    args += ["-i", str(path), "-map", "0:v", "-f", "framemd5", "-"]
    return subprocess.run(args, capture_output=True, text=True, check=False, timeout=120)


def frames(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in result.stdout.splitlines() if not line.startswith("#")]


def smooth_track(site: Site) -> Track:
    """The 400 kbit/s video track as a Smooth client sees it: 10 MHz timescale."""
    sidecar = site.files[0].with_name(site.files[0].name + ".ovi")
    track = load_movie(sidecar.read_bytes()).track("video")
    assert track is not None
    return dataclasses.replace(track, timescale=10_000_000)


def test_fragments_decode_with_the_key(site: Site, tmp_path: Path) -> None:
    kid, key = site.keys["cenc"]
    track = smooth_track(site)
    # What a Smooth client builds from the manifest: the 'moov', protected with the KID of
    # the ProtectionHeader and 8-byte IVs (the IV source only matters to an encryptor).
    protection = TrackProtection("cenc", kid.bytes, key, iv_size=8,
                                 iv_source=SequentialIvs(bytes(8)))  # fmt: skip
    protected_init = build_protected_init_segment([track], {track.track_id: protection})
    fragments = b"".join(get(u).content for u in chunk_urls(site, "cenc", "video", 400000))
    clear_fragments = b"".join(get(u).content for u in chunk_urls(site, "clear", "video", 400000))
    clear_file, protected_file = tmp_path / "clear.mp4", tmp_path / "protected.mp4"
    clear_file.write_bytes(build_init_segment([track]) + clear_fragments)
    protected_file.write_bytes(protected_init + fragments)
    clear = framemd5(clear_file)
    assert clear.returncode == 0, clear.stderr
    assert len(frames(clear)) == FRAMES
    got = framemd5(protected_file, key)
    assert got.returncode == 0, got.stderr
    assert frames(got) == frames(clear)
    without = framemd5(protected_file)
    assert without.returncode != 0 or frames(without) != frames(clear)
    wrong = framemd5(protected_file, bytes(16))
    assert wrong.returncode != 0 or frames(wrong) != frames(clear)


# --- refusals and what stays clear --------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "tail", "status", "says"),
    [
        ("aes", "manifest", 400, "Smooth Streaming is served clear or with CENC 'cenc'"),
        ("aes", "manifest(encryption=cbc)", 400, "cannot carry encryption=cbc"),
        ("cbcs", "manifest", 400, "cannot carry the cbcs encryption"),
        ("cbcs", "manifest(encryption=cbcs)", 400, "Smooth Streaming is served clear"),
        ("cenc", "manifest(encryption=cbc)", 404, ""),  # the policy has no envelope section
        ("clear", "manifest(encryption=cenc)", 404, ""),
        ("cenc", "QualityLevels(400000)/Fragments(video=12345)", 404, ""),
    ],
)
def test_refusals(site: Site, role: str, tail: str, status: int, says: str) -> None:
    response = get(site.url(role, tail))
    assert response.status_code == status
    assert says in response.text


def test_clear_smooth_is_unchanged(site: Site) -> None:
    text = get(site.url("clear", "manifest")).text
    assert "<Protection>" not in text
    url = chunk_urls(site, "clear", "video", 400000)[1]
    fragment = get(url).content
    assert PIFF_UUID not in fragment and b"saiz" not in fragment


def test_list_paths_offers_encrypted_smooth(site: Site) -> None:
    listed: dict[str, Any] = api(site.server, "POST", "/streamingLocators/cenc/listPaths")
    smooth = [p for p in listed["streamingPaths"] if p["streamingProtocol"] == "SmoothStreaming"]
    assert [(p["encryptionScheme"], len(p["paths"])) for p in smooth] == [
        ("CommonEncryptionCenc", 1)
    ]
    (path,) = smooth[0]["paths"]
    assert path.endswith(".ism/manifest(encryption=cenc)")
    assert get(site.server.base_url + path).status_code == 200
