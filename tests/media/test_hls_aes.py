"""HLS AES-128: whole segments encrypted with AES-128-CBC + PKCS#7, played by ffmpeg over HTTP.

The playlists, keys and segments are served by a tiny http.server on
127.0.0.1 (no ``file:`` key URIs, so ffmpeg needs no ``-allowed_extensions``).
"""

from __future__ import annotations

import functools
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from openvod.encoding import tools
from openvod.media.crypto.hls_aes import (
    encrypt_media_segment,
    encrypt_segment,
    encrypted_size,
    iv_attribute,
    media_sequence_iv,
)
from openvod.media.mp4 import build_fragment, build_init_segment, plan_fragment
from openvod.media.segments import align_audio, presentation_times, segment_boundaries
from openvod.media.ts.muxer import TsTrackInput, mux_ts_segment

from ._mp4_media import Media, get_media

KEY = bytes.fromhex("8f2a3c4d5e6f708192a3b4c5d6e7f801")
FIRST_SEQUENCE = 3  # not 0, so the default IV (the sequence number) is really exercised
EXPLICIT_IV = bytes.fromhex("a1a2a3a4a5a6a7a8a9aaabacadaeafb0")


def _decrypt(data: bytes, key: bytes, iv: bytes) -> bytes:
    """Independent AES-128-CBC + PKCS#7 decryption with the cryptography package."""
    decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    padded = decryptor.update(data) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    return unpadder.update(padded) + unpadder.finalize()


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Media:
    """6 s of H.264 with B-frames + AAC."""
    return get_media("bframes", tmp_path_factory)


def _cuts(media: Media) -> tuple[list[int], list[int]]:
    video, audio = media.movie.track("video"), media.movie.track("audio")
    assert video is not None and audio is not None
    cuts = segment_boundaries(video, 2 * video.timescale)
    times = presentation_times(video)[cuts] / video.timescale
    video_edges = [*cuts.tolist(), len(video.samples)]
    audio_edges = [*align_audio(audio, times).tolist(), len(audio.samples)]
    return video_edges, audio_edges


def _bytes(media: Media, first: int, end: int, kind: str) -> bytes:
    track = media.movie.track(kind)  # type: ignore[arg-type]
    assert track is not None
    spans = zip(track.samples.offset[first:end].tolist(), track.samples.size[first:end].tolist(),
                strict=True)  # fmt: skip
    return b"".join(media.data[o : o + n] for o, n in spans)


@pytest.fixture(scope="module")
def ts_segments(media: Media) -> list[bytes]:
    """The clear TS segments of the file, one per GOP."""
    video, audio = media.movie.track("video"), media.movie.track("audio")
    assert video is not None and audio is not None
    video_edges, audio_edges = _cuts(media)
    out = []
    for n in range(len(video_edges) - 1):
        v0, v1, a0, a1 = video_edges[n], video_edges[n + 1], audio_edges[n], audio_edges[n + 1]
        inputs = [
            TsTrackInput(video, v0, v1, _bytes(media, v0, v1, "video")),
            TsTrackInput(audio, a0, a1, _bytes(media, a0, a1, "audio")),
        ]
        out.append(mux_ts_segment(inputs, segment_index=FIRST_SEQUENCE + n))
    assert len(out) == 3
    return out


def test_iv_rules() -> None:
    assert media_sequence_iv(0) == bytes(16)
    assert media_sequence_iv(258) == bytes(14) + b"\x01\x02"
    assert iv_attribute(EXPLICIT_IV) == "0xA1A2A3A4A5A6A7A8A9AAABACADAEAFB0"
    with pytest.raises(ValueError):
        media_sequence_iv(-1)
    with pytest.raises(ValueError):
        encrypt_segment(b"x", bytes(8), bytes(16))


def test_encrypted_ts_segments_decrypt_to_the_clear_ones(ts_segments: list[bytes]) -> None:
    for n, clear in enumerate(ts_segments):
        sequence = FIRST_SEQUENCE + n
        encrypted = encrypt_media_segment(clear, KEY, sequence)
        assert len(encrypted) == encrypted_size(len(clear)) > len(clear)
        assert encrypted[:4096] != clear[:4096]
        assert encrypted[::188].count(0x47) < len(encrypted) // 188 // 4  # no TS sync pattern
        assert _decrypt(encrypted, KEY, media_sequence_iv(sequence)) == clear
        # CBC: another IV spoils exactly the first block, so the IV really is the sequence's.
        other = _decrypt(encrypted, KEY, media_sequence_iv(sequence + 1))
        assert other[:16] != clear[:16] and other[16:] == clear[16:]
    # an exact multiple of 16 gets a whole block of padding
    assert len(encrypt_segment(bytes(32), KEY, EXPLICIT_IV)) == 48


@contextmanager
def serve(folder: Path) -> Iterator[str]:
    """Serve ``folder`` on 127.0.0.1 (a free port); yields the base URL."""

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    handler = functools.partial(Quiet, directory=str(folder))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def _write_playlist(
    folder: Path, segments: list[bytes], suffix: str, *, key: bytes | None, init: bytes = b""
) -> None:
    """index.m3u8 + segments (+ key.bin): segment 1 has an explicit IV, the others the
    default one (their media sequence number)."""
    lines = ["#EXTM3U", "#EXT-X-VERSION:7", "#EXT-X-TARGETDURATION:3",
             f"#EXT-X-MEDIA-SEQUENCE:{FIRST_SEQUENCE}", "#EXT-X-PLAYLIST-TYPE:VOD"]  # fmt: skip
    if key is not None:
        (folder / "key.bin").write_bytes(key)
    if init:
        if key is not None:  # the init section is encrypted too, with an explicit IV
            lines.append(f'#EXT-X-KEY:METHOD=AES-128,URI="key.bin",IV={iv_attribute(EXPLICIT_IV)}')
            init = encrypt_segment(init, KEY, EXPLICIT_IV)
        (folder / "init.mp4").write_bytes(init)
        lines.append('#EXT-X-MAP:URI="init.mp4"')
    for n, segment in enumerate(segments):
        sequence, data = FIRST_SEQUENCE + n, segment
        if key is not None:
            iv = EXPLICIT_IV if n == 1 else None
            attribute = f",IV={iv_attribute(iv)}" if iv else ""
            lines.append(f'#EXT-X-KEY:METHOD=AES-128,URI="key.bin"{attribute}')
            data = encrypt_media_segment(segment, KEY, sequence, iv)
        (folder / f"seg{sequence}{suffix}").write_bytes(data)
        lines += ["#EXTINF:2.0,", f"seg{sequence}{suffix}"]
    lines.append("#EXT-X-ENDLIST")
    (folder / "index.m3u8").write_text("\n".join(lines) + "\n")


def _video_frames(url: str) -> subprocess.CompletedProcess[str]:
    args = [str(tools.ffmpeg()), "-v", "error", "-nostdin", "-i", url,
            "-map", "0:v:0", "-f", "framemd5", "-"]  # fmt: skip
    return subprocess.run(args, capture_output=True, text=True, check=False, timeout=120)


def _md5s(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [line.split(",")[-1] for line in result.stdout.splitlines() if line[:1] != "#"]


def _play_both(tmp_path: Path, segments: list[bytes], suffix: str, init: bytes = b"") -> None:
    clear_dir, protected_dir = tmp_path / "clear", tmp_path / "aes"
    clear_dir.mkdir()
    protected_dir.mkdir()
    _write_playlist(clear_dir, segments, suffix, key=None, init=init)
    _write_playlist(protected_dir, segments, suffix, key=KEY, init=init)
    with serve(tmp_path) as base:
        clear = _video_frames(f"{base}/clear/index.m3u8")
        got = _video_frames(f"{base}/aes/index.m3u8")
        (protected_dir / "key.bin").write_bytes(bytes(16))  # a wrong key
        wrong = _video_frames(f"{base}/aes/index.m3u8")
    assert clear.returncode == 0, clear.stderr
    assert got.returncode == 0, got.stderr
    assert len(_md5s(got)) == 150  # 6 s at 25 fps: the source's frame count
    assert _md5s(got) == _md5s(clear)
    assert wrong.returncode != 0 or _md5s(wrong) != _md5s(clear)


def test_ffmpeg_plays_an_aes128_ts_playlist(ts_segments: list[bytes], tmp_path: Path) -> None:
    _play_both(tmp_path, ts_segments, ".ts")


def test_ffmpeg_plays_an_aes128_fmp4_playlist(media: Media, tmp_path: Path) -> None:
    video = media.movie.track("video")
    assert video is not None
    video_edges, _ = _cuts(media)
    fragments = []
    for n in range(len(video_edges) - 1):
        plan = plan_fragment(video, video_edges[n], video_edges[n + 1], n + 1)
        data = b"".join(media.data[o : o + size] for o, size in plan.reads)
        fragments.append(build_fragment(plan, data))
    _play_both(tmp_path, fragments, ".m4s", init=build_init_segment([video]))
