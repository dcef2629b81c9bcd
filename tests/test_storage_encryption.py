"""Storage encryption at rest, driven as an AMS user would: the SDKs against the real server.

An asset made with ``storageEncryptionFormat: MediaStorageClientEncryption`` and filled
through its SAS URL keeps ciphertext on disk and gives ciphertext to SAS downloads;
``getEncryptionKey`` gives the key that decrypts it with the documented scheme
(docs/protection.md, implemented again here with ``cryptography``); it encodes into
an encrypted output asset that the origin streams and serves for download in clear.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import subprocess
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from azure.core.exceptions import HttpResponseError
from azure.mgmt.media import AzureMediaServices
from azure.mgmt.media.models import (
    AacAudio,
    Asset,
    H264Layer,
    H264Video,
    Job,
    JobInputAsset,
    JobOutputAsset,
    ListContainerSasInput,
    MediaService,
    Mp4Format,
    StandardEncoderPreset,
    StreamingLocator,
    Transform,
    TransformOutput,
)
from azure.storage.blob import ContainerClient
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from openvod.clock import utcnow
from openvod.config import Settings
from openvod.context import open_context
from openvod.encoding.tools import ffprobe
from openvod.errors import InvalidRequestError
from openvod.resources.accounts import MediaService as AccountBody
from openvod.resources.assets import Asset as AssetBody
from openvod.services import accounts, assets, storage_encryption, tokens
from openvod.services.repository import account_ref, find_account
from tests.conftest import ACCOUNT, RESOURCE_GROUP, ServerHandle, make_clip, start_server
from tests.origin_support import api, count_frames
from tests.test_api_sdk import sdk_client
from tests.test_origin_streaming import dash_segment_urls

RG, ACC = RESOURCE_GROUP, ACCOUNT
ENC = "MediaStorageClientEncryption"
SECONDS, RATE = 4, 25
FRAMES = SECONDS * RATE


@pytest.fixture(scope="module")
def ams(sqlite_server: ServerHandle) -> Iterator[AzureMediaServices]:
    client = sdk_client(sqlite_server)
    client.mediaservices.begin_create_or_update(RG, ACC, MediaService(location="local")).result()
    yield client


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("enc") / "clip.mp4", seconds=SECONDS,
                     size="320x180", rate=str(RATE))


def sas(ams: AzureMediaServices, asset: str, permissions: str = "ReadWrite") -> ContainerClient:
    result = ams.assets.list_container_sas(RG, ACC, asset, ListContainerSasInput(
        permissions=permissions, expiry_time=utcnow() + timedelta(hours=1)))
    return ContainerClient.from_container_url(
        str(result.asset_container_sas_urls[0]),
        max_single_put_size=64 * 1024, max_block_size=48 * 1024,  # the clip goes by Put Block
    )


def disk_path(server: ServerHandle, asset: str, name: str) -> Path:
    container = sdk_client(server).assets.get(RG, ACC, asset).container
    path = server.ctx.store.raw.local_path(container, name)  # type: ignore[attr-defined]
    assert path is not None
    return Path(path)


def decrypt(stored: bytes, key: bytes, iv: int | None = None) -> bytes:
    """The documented scheme: 16-byte header (b"OVSE", version 1, 3 zeros, 64-bit nonce),
    then AES-256-CTR with counter block = nonce || (offset / 16), both big-endian."""
    assert stored[:4] == b"OVSE" and stored[4:8] == b"\x01\x00\x00\x00"
    nonce = stored[8:16]
    if iv is not None:
        assert int.from_bytes(nonce, "big") == iv
    ctr = Cipher(algorithms.AES(key), modes.CTR(nonce + bytes(8))).decryptor()
    return ctr.update(stored[16:]) + ctr.finalize()


def windows(data: bytes, size: int = 32) -> set[bytes]:
    return {data[i : i + size] for i in range(len(data) - size + 1)}


def assert_no_plaintext_run(stored: bytes, plain: bytes) -> None:
    """No 64-byte run of ``plain`` appears in ``stored``: any such run would hold one of
    the 32-byte pieces of ``plain`` that start at multiples of 32."""
    seen = windows(stored)
    pieces = {plain[i : i + 32] for i in range(0, len(plain) - 31, 32)}
    assert not (pieces & seen)


def key_data(ams: AzureMediaServices, asset: str) -> tuple[bytes, dict[str, int]]:
    data = ams.assets.get_encryption_key(RG, ACC, asset)
    ivs = {m.asset_file_name: int(m.initialization_vector)
           for m in data.asset_file_encryption_metadata}
    for m in data.asset_file_encryption_metadata:
        assert m.asset_file_id  # a GUID per file
    return bytes(data.key), ivs  # the SDK's model decodes the base64 (a bytearray)


def create_encrypted(server: ServerHandle, ams: AzureMediaServices, name: str) -> None:
    """PUT with ``storageEncryptionFormat`` in the JSON: the SDK's model marks the field
    read-only (AMS v3 made no new encrypted assets) and would drop it."""
    api(server, "PUT", f"/assets/{name}", {"properties": {"storageEncryptionFormat": ENC}})
    assert ams.assets.get(RG, ACC, name).storage_encryption_format == ENC


@pytest.fixture(scope="module")
def uploaded(ams: AzureMediaServices, sqlite_server: ServerHandle, clip: Path) -> str:
    create_encrypted(sqlite_server, ams, "enc-in")
    with clip.open("rb") as fh:
        sas(ams, "enc-in").upload_blob(clip.name, fh, max_concurrency=3)
    return "enc-in"


def test_upload_is_ciphertext_at_rest_and_over_sas(
    ams: AzureMediaServices, sqlite_server: ServerHandle, clip: Path, uploaded: str
) -> None:
    plain = clip.read_bytes()
    on_disk = disk_path(sqlite_server, uploaded, clip.name).read_bytes()
    assert len(on_disk) == len(plain) + 16 and on_disk[16:] != plain
    assert_no_plaintext_run(on_disk, plain)
    container = sas(ams, uploaded, "Read")
    assert [b.name for b in container.list_blobs()] == [clip.name]
    assert container.get_blob_client(clip.name).get_blob_properties().size == len(on_disk)
    over_sas = container.download_blob(clip.name).readall()
    assert over_sas == on_disk  # as AMS: SAS gives the stored ciphertext
    ranged = container.download_blob(clip.name, offset=1001, length=777).readall()
    assert ranged == on_disk[1001:1778]
    key, ivs = key_data(ams, uploaded)
    assert len(key) == 32 and set(ivs) == {clip.name}
    assert decrypt(over_sas, key, ivs[clip.name]) == plain


def test_put_blob_is_encrypted_with_a_fresh_nonce_per_file(
    ams: AzureMediaServices, uploaded: str
) -> None:
    payload = os.urandom(5000) + b"A" * 20000
    container = sas(ams, uploaded, "ReadWriteDelete")
    container.upload_blob("one.bin", payload)
    container.upload_blob("two.bin", payload)
    one = container.download_blob("one.bin").readall()
    two = container.download_blob("two.bin").readall()
    assert one[8:16] != two[8:16] and one[16:] != two[16:]
    assert b"A" * 64 not in one
    key, ivs = key_data(ams, uploaded)
    assert decrypt(one, key, ivs["one.bin"]) == payload == decrypt(two, key, ivs["two.bin"])
    container.delete_blob("one.bin")
    container.delete_blob("two.bin")


def test_get_encryption_key_refusals(ams: AzureMediaServices,
                                     sqlite_server: ServerHandle) -> None:
    ams.assets.create_or_update(RG, ACC, "clear-asset", Asset())
    with pytest.raises(HttpResponseError) as clear:
        ams.assets.get_encryption_key(RG, ACC, "clear-asset")
    assert clear.value.status_code == 400 and clear.value.error.code == "BadRequest"
    with pytest.raises(HttpResponseError) as missing:
        ams.assets.get_encryption_key(RG, ACC, "no-such-asset")
    assert missing.value.status_code == 404
    ams.mediaservices.begin_create_or_update(RG, "elsewhere",
                                             MediaService(location="local")).result()
    with sqlite_server.ctx.session() as s:
        other = tokens.issue_token(s, "other", accounts=["elsewhere"]).secret
    with pytest.raises(HttpResponseError) as denied:
        sdk_client(sqlite_server, other).assets.get_encryption_key(RG, ACC, "enc-in")
    assert denied.value.status_code == 403
    assert "key" not in (denied.value.response.text() or "").lower().replace("keyvault", "")


def run_job(ams: AzureMediaServices, job: str, source: str, output: str) -> None:
    ams.jobs.create(RG, ACC, "small", job, Job(
        input=JobInputAsset(asset_name=source), outputs=[JobOutputAsset(asset_name=output)]))
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        current = ams.jobs.get(RG, ACC, "small", job)
        if current.state in ("Finished", "Error", "Canceled"):
            assert current.state == "Finished", current.outputs[0].error
            return
        time.sleep(0.3)
    raise AssertionError(f"job {job} did not finish")


@pytest.fixture(scope="module")
def encoded(ams: AzureMediaServices, uploaded: str, sqlite_server: ServerHandle
            ) -> tuple[str, str]:
    server = sqlite_server
    preset = StandardEncoderPreset(
        codecs=[
            AacAudio(channels=2, sampling_rate=48000, bitrate=96000, profile="AacLc"),
            H264Video(key_frame_interval=timedelta(seconds=2), complexity="Speed", layers=[
                H264Layer(bitrate=300000, width="320", height="180", label="SD")]),
        ],
        formats=[Mp4Format(filename_pattern="{Basename}_{Label}{Extension}")],
    )
    ams.transforms.create_or_update(RG, ACC, "small", Transform(outputs=[
        TransformOutput(preset=preset)]))
    create_encrypted(server, ams, "enc-out")
    ams.assets.create_or_update(RG, ACC, "clear-out", Asset())
    run_job(ams, "job-enc", uploaded, "enc-out")
    run_job(ams, "job-clear", uploaded, "clear-out")
    return "enc-out", "clear-out"


def test_encoder_writes_encrypted_and_clear_outputs(
    ams: AzureMediaServices, sqlite_server: ServerHandle, encoded: tuple[str, str]
) -> None:
    enc, clear = encoded
    work = sqlite_server.ctx.settings.resolved_data_dir / "work"
    assert not [p for p in work.iterdir() if p.is_dir()]  # decrypted input removed with the job
    enc_names = sorted(b.name for b in sas(ams, enc, "Read").list_blobs())
    assert "clip_SD.mp4" in enc_names and "clip.ism" in enc_names, enc_names
    assert sorted(b.name for b in sas(ams, clear, "Read").list_blobs()) == enc_names
    key, ivs = key_data(ams, enc)
    assert set(ivs) == set(enc_names) and len(set(ivs.values())) == len(ivs)
    for name in enc_names:
        stored = disk_path(sqlite_server, enc, name).read_bytes()
        clear_bytes = disk_path(sqlite_server, clear, name).read_bytes()
        assert stored[:4] == b"OVSE"
        plain = decrypt(stored, key, ivs[name])
        assert_no_plaintext_run(stored, plain)
        if name.endswith(".mp4"):
            assert plain[4:8] == clear_bytes[4:8] == b"ftyp"
            # x264 runs with threads: the two encodes differ a little, never by much
            assert abs(len(plain) - len(clear_bytes)) < len(clear_bytes) // 10
        if name.endswith(".ism"):
            assert plain == clear_bytes


def decrypted_output(ams: AzureMediaServices, server: ServerHandle, asset: str,
                     name: str) -> bytes:
    key, ivs = key_data(ams, asset)
    return decrypt(disk_path(server, asset, name).read_bytes(), key, ivs[name])


@pytest.fixture(scope="module")
def published(ams: AzureMediaServices, encoded: tuple[str, str],
              sqlite_server: ServerHandle) -> str:
    ams.streaming_endpoints.begin_start(RG, ACC, "default").result()
    locator = ams.streaming_locators.create(RG, ACC, "enc-loc", StreamingLocator(
        asset_name=encoded[0], streaming_policy_name="Predefined_DownloadAndClearStreaming"))
    return f"{sqlite_server.base_url}/{locator.streaming_locator_id}"


def test_hls_and_dash_of_encrypted_asset_decode(published: str, tmp_path: Path) -> None:
    assert count_frames(f"{published}/clip.ism/manifest(format=m3u8-aapl)") == FRAMES
    assert count_frames(f"{published}/clip.ism/manifest(format=m3u8-cmaf)") == FRAMES
    mpd_url = f"{published}/clip.ism/manifest(format=mpd-time-csf)"
    mpd = httpx.get(mpd_url, timeout=30)
    assert mpd.status_code == 200
    reps = dash_segment_urls(mpd_url, mpd.text)
    video = [urls for rep, urls in reps.items() if "aac" not in rep.lower()]
    assert len(video) == 1
    target = tmp_path / "video.mp4"
    target.write_bytes(b"".join(httpx.get(u, timeout=30).content for u in video[0]))
    assert count_frames(str(target)) == FRAMES


def test_progressive_download_is_the_clear_mp4(
    published: str, sqlite_server: ServerHandle, encoded: tuple[str, str], tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    ams = sdk_client(sqlite_server)
    clear_bytes = decrypted_output(ams, sqlite_server, encoded[0], "clip_SD.mp4")
    response = httpx.get(f"{published}/clip_SD.mp4", timeout=30)
    assert response.status_code == 200
    assert int(response.headers["content-length"]) == len(clear_bytes)
    assert hashlib.sha256(response.content).digest() == hashlib.sha256(clear_bytes).digest()
    target = tmp_path / "download.mp4"
    target.write_bytes(response.content)
    probe = subprocess.run([str(ffprobe()), "-v", "error", "-show_entries", "format=duration",
                            "-of", "csv=p=0", str(target)], capture_output=True, text=True,
                           check=True, timeout=60)
    assert abs(float(probe.stdout) - SECONDS) < 0.2
    for start, end in [(1, 1), (7, 40), (17, 1040), (12345, 23456), (len(clear_bytes) - 3, None)]:
        spec = f"bytes={start}-{'' if end is None else end}"
        part = httpx.get(f"{published}/clip_SD.mp4", headers={"Range": spec}, timeout=30)
        assert part.status_code == 206, spec
        stop = len(clear_bytes) if end is None else end + 1
        assert part.content == clear_bytes[start:stop], spec
        assert part.headers["content-range"] == f"bytes {start}-{stop - 1}/{len(clear_bytes)}"
    key, _ = key_data(ams, encoded[0])
    logged = caplog.text + "".join(str(r.args) for r in caplog.records)
    assert caplog.records  # the server did log (requests, jobs)...
    for form in (base64.b64encode(key).decode(), key.hex(), repr(key)):
        assert form not in logged  # ...but never the key


def test_always_setting_encrypts_every_new_asset(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    server = start_server(tmp_path_factory.mktemp("always"), None, storage_encryption="always")
    try:
        client = sdk_client(server)
        client.mediaservices.begin_create_or_update(RG, ACC,
                                                    MediaService(location="local")).result()
        made = client.assets.create_or_update(RG, ACC, "plain-request", Asset())
        assert made.storage_encryption_format == ENC
        payload = b"openvod " * 4096
        sas(client, "plain-request").upload_blob("text.bin", payload)
        stored = disk_path(server, "plain-request", "text.bin").read_bytes()
        assert b"openvod openvod openvod openvod " not in stored
        key, ivs = key_data(client, "plain-request")
        assert decrypt(stored, key, ivs["text.bin"]) == payload
    finally:
        server.server.stop()


def test_data_folder_from_before_storage_encryption(tmp_path: Path) -> None:
    """Asset rows as the code before this feature wrote them (no key in ``extra``) need no
    migration: they stay clear, keep their zero-copy file path, and have no key; new
    encrypted assets live beside them; the master key file is 0600."""
    settings = Settings(data_dir=tmp_path)
    ctx = open_context(settings)
    with ctx.session() as s:
        accounts.create_or_update(s, "sub", RG, ACC, AccountBody.model_validate(
            {"location": "local"}), storage_account_name="openvod")
        account = account_ref(find_account(s, "sub", RG, ACC))
        row, _ = assets.create_or_update(s, account, "old", AssetBody(),
                                         storage_account_name="openvod")
        container = row.properties["container"]
        assert row.extra == {}
    ctx.store.raw.create_container(container)  # type: ignore[attr-defined]
    ctx.store.raw.put_blob(container, "a.bin", b"clear bytes" * 100)  # type: ignore[attr-defined]
    ctx.engine.dispose()

    ctx = open_context(settings)
    assert ctx.store.read_range(container, "a.bin", 0, 11) == b"clear bytes"
    assert ctx.store.local_path(container, "a.bin") is not None
    with ctx.session() as s:
        account = account_ref(find_account(s, "sub", RG, ACC))
        with pytest.raises(InvalidRequestError):
            storage_encryption.encryption_key_data(s, account, "old", ctx.master_key,
                                                   ctx.store.raw)  # type: ignore[attr-defined]
        new, _ = assets.create_or_update(
            s, account, "new", AssetBody.model_validate(
                {"properties": {"storageEncryptionFormat": ENC}}),
            storage_account_name="openvod", master_key=ctx.master_key)
        new_container = new.properties["container"]
    ctx.store.create_container(new_container)
    ctx.store.put_blob(new_container, "b.bin", b"secret bytes" * 100)
    assert ctx.store.read_range(new_container, "b.bin", 5, 12) == (b"secret bytes" * 2)[5:17]
    assert ctx.store.local_path(new_container, "b.bin") is None
    assert (tmp_path / "keys" / "master.key").stat().st_mode & 0o777 == 0o600
    ctx.engine.dispose()
