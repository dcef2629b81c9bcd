"""Multi-language audio end to end: an AMS-written asset uploaded as-is, and one MP4
with two language-tagged audio tracks and no ``.ism``.

The MP4 is made with ffmpeg: video plus two AAC tracks of different sine tones
(English 440 Hz, French 1000 Hz, ``-metadata:s:a:N language=...``). The
``.ism`` is written the way AMS users wrote them for such uploads: no
``systemBitrate`` (the origin measures the tracks), ``systemLanguage`` and
``title`` params. Every protocol must list one audio rendition per language,
and each rendition must decode (ffmpeg, default flags) to its own tone for the
whole duration.
"""

from __future__ import annotations

import dataclasses
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urljoin

import httpx
import m3u8
import numpy as np
import pytest
from mpegdash.parser import MPEGDASHParser

from openvod.encoding.tools import ffmpeg
from tests.conftest import ServerHandle, start_server
from tests.origin_support import (
    FPS,
    SECONDS,
    count_frames,
    create_asset,
    create_locator,
    ensure_account,
    set_endpoint,
)

TONES_HZ = {"eng": 440, "fra": 1000}
PCM_RATE = 8000
AMS_ISM = """<?xml version="1.0" encoding="utf-8" standalone="yes"?>
<smil xmlns="http://www.w3.org/2001/SMIL20/Language">
  <head>
    <meta name="formats" content="mp4" />
  </head>
  <body>
    <switch>
      <video src="movie.mp4">
        <param name="trackID" value="1" valuetype="data" />
      </video>
      <audio src="movie.mp4">
        <param name="trackID" value="2" valuetype="data" />
        <param name="systemLanguage" value="en" valuetype="data" />
        <param name="title" value="English" valuetype="data" />
      </audio>
      <audio src="movie.mp4">
        <param name="trackID" value="3" valuetype="data" />
        <param name="systemLanguage" value="fr" valuetype="data" />
        <param name="title" value="French" valuetype="data" />
      </audio>
    </switch>
  </body>
</smil>
"""


def make_two_language_mp4(path: Path) -> Path:
    """Video + English (440 Hz) + French (1000 Hz) AAC, keyframes every 2 s."""
    tone = "sine=frequency={}:sample_rate=48000:duration=" + str(SECONDS)
    cmd = [
        str(ffmpeg()), "-v", "error", "-y",
        "-f", "lavfi", "-i", f"testsrc2=size=320x180:rate={FPS}:duration={SECONDS}",
        "-f", "lavfi", "-i", tone.format(TONES_HZ["eng"]),
        "-f", "lavfi", "-i", tone.format(TONES_HZ["fra"]),
        "-map", "0:v", "-map", "1:a", "-map", "2:a",
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
        "-force_key_frames", "expr:gte(t,n_forced*2)", "-sc_threshold", "0",
        "-c:a", "aac", "-b:a", "64k", "-ac", "2",
        "-metadata:s:a:0", "language=eng", "-metadata:s:a:1", "language=fra",
        str(path),
    ]  # fmt: skip
    subprocess.run(cmd, check=True, timeout=120)
    return path


@dataclasses.dataclass(frozen=True)
class Site:
    """``base[name]``: the URL of ``movie.ism/`` for the asset with (``ams``) or without
    (``derived``) the .ism."""

    server: ServerHandle
    base: dict[str, str]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    movie = make_two_language_mp4(tmp_path_factory.mktemp("media") / "movie.mp4")
    server = start_server(tmp_path_factory.mktemp("data"), None)
    ensure_account(server)
    set_endpoint(server, True)
    create_asset(server, "ams", [movie], AMS_ISM)
    create_asset(server, "derived", [movie], None)
    base = {}
    for name in ("ams", "derived"):
        locator = create_locator(server, name, name, "Predefined_ClearStreamingOnly")
        base[name] = f"{server.base_url}/{locator}/movie.ism/"
    yield Site(server, base)
    server.server.stop()


def get(url: str) -> httpx.Response:
    response = httpx.get(url, timeout=30)
    assert response.status_code == 200, url
    return response


def dominant_tone(source: str) -> tuple[float, float]:
    """(dominant frequency in Hz, duration in s) of the first audio stream ffmpeg decodes."""
    done = subprocess.run(
        [str(ffmpeg()), "-v", "error", "-i", source, "-map", "0:a:0", "-ac", "1",
         "-ar", str(PCM_RATE), "-f", "s16le", "-"],
        capture_output=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    pcm = np.frombuffer(done.stdout, dtype=np.int16).astype(np.float64)
    spectrum = np.abs(np.fft.rfft(pcm))
    frequency = float(np.argmax(spectrum)) * PCM_RATE / len(pcm)
    return frequency, len(pcm) / PCM_RATE


def assert_tone(source: str, language: str) -> None:
    frequency, seconds = dominant_tone(source)
    assert abs(frequency - TONES_HZ[language]) < 5, (source, frequency)
    assert abs(seconds - SECONDS) < 0.2, (source, seconds)


EXPECTED = {  # asset -> [(LANGUAGE, NAME, tone)]
    "ams": [("en", "English", "eng"), ("fr", "French", "fra")],
    "derived": [("eng", "aac_eng_2_", "eng"), ("fra", "aac_fra_2_", "fra")],
}


@pytest.mark.parametrize("asset", ["ams", "derived"])
@pytest.mark.parametrize("fmt", ["m3u8-aapl", "m3u8-cmaf"])
def test_hls_audio_renditions_per_language(site: Site, asset: str, fmt: str) -> None:
    master_url = site.base[asset] + f"manifest(format={fmt})"
    master = m3u8.loads(get(master_url).text, uri=master_url)
    media = master.media
    assert [(m.type, m.group_id, m.default, m.autoselect) for m in media] == [
        ("AUDIO", "audio", "YES", "YES"),
        ("AUDIO", "audio", "NO", "YES"),
    ]
    for m, (language, name, tone) in zip(media, EXPECTED[asset], strict=True):
        assert m.language == language and m.name.startswith(name)
        assert_tone(urljoin(master_url, m.uri), tone)
    video = [v for v in master.playlists if v.stream_info.resolution]
    assert len(video) == 1 and video[0].stream_info.audio == "audio"
    assert count_frames(urljoin(master_url, video[0].uri)) == SECONDS * FPS


def dash_sources(mpd_url: str, tmp_path: Path) -> list[tuple[ET.Element, Path]]:
    """Each audio AdaptationSet with its first Representation written out as one MP4."""
    text = get(mpd_url).text
    ns = {"d": "urn:mpeg:dash:schema:mpd:2011"}
    root = ET.fromstring(text)
    mpd = MPEGDASHParser.parse(text)
    found = []
    for element, adaptation in zip(root.iterfind(".//d:AdaptationSet", ns),
                                   mpd.periods[0].adaptation_sets, strict=True):  # fmt: skip
        if adaptation.content_type != "audio":
            continue
        template = adaptation.segment_templates[0]
        bandwidth = str(adaptation.representations[0].bandwidth)
        times = [template.segment_timelines[0].Ss[0].t]
        for s in template.segment_timelines[0].Ss:
            times += [times[-1] + s.d * (i + 1) for i in range((s.r or 0) + 1)]
        urls = [template.initialization.replace("$Bandwidth$", bandwidth)]
        media = template.media.replace("$Bandwidth$", bandwidth)
        urls += [media.replace("$Time$", str(t)) for t in times[:-1]]
        target = tmp_path / f"{adaptation.lang}.mp4"
        target.write_bytes(b"".join(get(urljoin(mpd_url, u)).content for u in urls))
        found.append((element, target))
    return found


@pytest.mark.parametrize("fmt", ["mpd-time-csf", "mpd-time-cmaf"])
def test_dash_adaptation_set_per_language(site: Site, fmt: str, tmp_path: Path) -> None:
    ns = {"d": "urn:mpeg:dash:schema:mpd:2011"}
    sets = dash_sources(site.base["ams"] + f"manifest(format={fmt})", tmp_path)
    described = [
        (e.get("lang"), e.findtext("d:Label", namespaces=ns), e.find("d:Role", ns).get("value"))  # type: ignore[union-attr]
        for e, _ in sets
    ]
    assert described == [("en", "English", "main"), ("fr", "French", "alternate")]
    for (_, target), tone in zip(sets, ("eng", "fra"), strict=True):
        assert_tone(str(target), tone)


def test_smooth_stream_index_per_language(site: Site) -> None:
    root = ET.fromstring(get(site.base["ams"] + "manifest").text)
    audio = [s for s in root.iter("StreamIndex") if s.get("Type") == "audio"]
    assert [s.get("Language") for s in audio] == ["en", "fr"]
    names = [s.get("Name") for s in audio]
    assert len(set(names)) == 2 and all(n and n.startswith("aac_") for n in names)
