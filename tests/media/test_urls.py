"""The AMS streaming URL grammar: examples, errors and parse/format round trips."""

from __future__ import annotations

from typing import Literal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openvod.errors import InvalidRequestError
from openvod.media.urls import (
    DASH_FORMATS,
    ENCRYPTIONS,
    HLS_FORMATS,
    MANIFEST_FORMATS,
    FragmentRequest,
    ManifestOptions,
    ManifestRequest,
    PlaylistRequest,
    StreamingRequest,
    format_streaming_path,
    parse_streaming_path,
)

CBC = ManifestOptions(encryption="cbc")

EXAMPLES: list[tuple[str, StreamingRequest]] = [
    ("manifest", ManifestRequest("smooth")),
    ("Manifest", ManifestRequest("smooth")),
    ("manifest(format=m3u8-aapl)", ManifestRequest("m3u8-aapl")),
    ("manifest(format=m3u8-aapl-v3)", ManifestRequest("m3u8-aapl-v3")),
    ("manifest(format=m3u8-aapl-v4)", ManifestRequest("m3u8-aapl")),
    ("manifest(format=m3u8-cmaf)", ManifestRequest("m3u8-cmaf")),
    ("manifest(format=mpd-time-csf)", ManifestRequest("mpd-time-csf")),
    ("manifest(format=mpd-time-cmaf)", ManifestRequest("mpd-time-cmaf")),
    ("manifest(format=m3u8-aapl).m3u8", ManifestRequest("m3u8-aapl", extension=".m3u8")),
    ("manifest(format=mpd-time-csf).mpd", ManifestRequest("mpd-time-csf", extension=".mpd")),
    ("manifest(encryption=cenc)", ManifestRequest("smooth", ManifestOptions("cenc"))),
    (
        "manifest(format=m3u8-aapl,encryption=cbc,filter=f1;f2,audio-only=false)",
        ManifestRequest("m3u8-aapl", ManifestOptions("cbc", ("f1", "f2"), False)),
    ),
    (
        "MANIFEST(FORMAT=MPD-TIME-CMAF,Encryption=CBCS)",
        ManifestRequest("mpd-time-cmaf", ManifestOptions("cbcs")),
    ),
    (
        "QualityLevels(128000)/Manifest(aac_eng_2_128,format=m3u8-aapl)",
        PlaylistRequest(128000, "aac_eng_2_128", "m3u8-aapl"),
    ),
    (
        "QualityLevels(3000000)/Manifest(video,format=m3u8-aapl,type=keyframes)",
        PlaylistRequest(3000000, "video", "m3u8-aapl", keyframes=True),
    ),
    (
        "QualityLevels(3000000)/Manifest(video,format=m3u8-cmaf,encryption=cbc)",
        PlaylistRequest(3000000, "video", "m3u8-cmaf", options=CBC),
    ),
    (
        "QualityLevels(3000000)/Fragments(video=25600,format=m3u8-aapl)",
        FragmentRequest(3000000, "video", 25600, "m3u8-aapl"),
    ),
    (
        "qualitylevels(3000000)/fragments(VIDEO=0,format=m3u8-aapl,type=keyframes)",
        FragmentRequest(3000000, "video", 0, "m3u8-aapl", keyframes=True),
    ),
    (
        "QualityLevels(3000000)/Fragments(video=i,format=mpd-time-cmaf)",
        FragmentRequest(3000000, "video", "i", "mpd-time-cmaf"),
    ),
    (
        "QualityLevels(3000000)/Fragments(video=I,format=m3u8-cmaf)",
        FragmentRequest(3000000, "video", "i", "m3u8-cmaf"),
    ),
    (
        "QualityLevels(128000)/Fragments(aac_eng_2_128=96256,format=mpd-time-csf)",
        FragmentRequest(128000, "aac_eng_2_128", 96256, "mpd-time-csf"),
    ),
    (
        "QualityLevels(3000000)/Fragments(video=20000000)",
        FragmentRequest(3000000, "video", 20000000, "smooth"),
    ),
    (
        "QualityLevels(128000)/Fragments(audio=0,encryption=cenc)",
        FragmentRequest(128000, "audio", 0, "smooth", options=ManifestOptions("cenc")),
    ),
]


@pytest.mark.parametrize(("path", "expected"), EXAMPLES)
def test_examples_parse(path: str, expected: StreamingRequest) -> None:
    assert parse_streaming_path(path) == expected
    # the canonical form parses to the same request
    assert parse_streaming_path(format_streaming_path(expected)) == expected


def test_canonical_forms() -> None:
    assert format_streaming_path(ManifestRequest("smooth")) == "manifest"
    options = ManifestOptions("cbcs-aapl", ("a", "b"), audio_only=False)
    assert (
        format_streaming_path(ManifestRequest("m3u8-cmaf", options, ".m3u8"))
        == "manifest(format=m3u8-cmaf,encryption=cbcs-aapl,filter=a;b,audio-only=false).m3u8"
    )
    fragment = FragmentRequest(500000, "video", 0, "m3u8-aapl", True, CBC)
    assert (
        format_streaming_path(fragment)
        == "QualityLevels(500000)/Fragments(video=0,format=m3u8-aapl,type=keyframes,encryption=cbc)"
    )


BAD = [
    "",
    "/manifest",
    "manifest(",
    "manifest(format=hds)",
    "manifest(format=smooth)",
    "manifest(format=m3u8-aapl,format=m3u8-aapl)",
    "manifest(format=m3u8-aapl,bogus=1)",
    "manifest(format=m3u8-aapl,audio-only=maybe)",
    "manifest(format=m3u8-aapl,encryption=rot13)",
    "manifest(format=m3u8-aapl,filter=a b)",
    "manifest(format=m3u8-aapl,type=keyframes)",
    "manifest(format=m3u8-aapl).mpd",
    "manifest.m3u8",
    "manifest(format=m3u8-aapl,)",
    "QualityLevels(0)/Manifest(video,format=m3u8-aapl)",
    "QualityLevels(x)/Manifest(video,format=m3u8-aapl)",
    "QualityLevels(100)/Manifest(video)",
    "QualityLevels(100)/Manifest(video,format=mpd-time-csf)",
    "QualityLevels(100)/Manifest(video,format=m3u8-aapl,audio-only=false)",
    "QualityLevels(100)/Manifest(aac,format=m3u8-aapl,type=keyframes)",
    "QualityLevels(100)/Manifest(video,format=m3u8-aapl-v3,type=keyframes)",
    "QualityLevels(100)/Manifest(a/b,format=m3u8-aapl)",
    "QualityLevels(100)/Fragments(video,format=m3u8-aapl)",
    "QualityLevels(100)/Fragments(video=-1,format=m3u8-aapl)",
    "QualityLevels(100)/Fragments(video=1.5,format=m3u8-aapl)",
    "QualityLevels(100)/Fragments(video=99999999999999999999)",
    "QualityLevels(100)/Fragments(video=i,format=m3u8-aapl)",
    "QualityLevels(100)/Fragments(video=i)",
    "QualityLevels(100)/Fragments(video=i,format=m3u8-cmaf,type=keyframes)",
    "QualityLevels(100)/Fragments(video=0,format=mpd-time-csf,type=keyframes)",
    "QualityLevels(100)/Fragments(video=0,type=gop)",
    "QualityLevels(100)/Fragments(=0)",
    "QualityLevels(100)/Fragments(video=0)/extra",
]


@pytest.mark.parametrize("path", BAD)
def test_malformed_paths_are_invalid_requests(path: str) -> None:
    with pytest.raises(InvalidRequestError) as info:
        parse_streaming_path(path)
    assert isinstance(info.value, ValueError)


def test_audio_only_is_for_manifests() -> None:
    request = PlaylistRequest(1, "video", "m3u8-aapl", options=ManifestOptions(audio_only=False))
    with pytest.raises(ValueError):
        format_streaming_path(request)


# --- round trips -------------------------------------------------------------------------------

names = st.from_regex(r"[A-Za-z0-9_.~-]{1,24}", fullmatch=True)
track_names = names.filter(lambda n: n.lower() != "video")
bitrates = st.integers(1, 2**32 - 1)
times = st.integers(0, 2**63 - 1)
encryptions = st.sampled_from((None, *ENCRYPTIONS))
filters = st.lists(names, max_size=3).map(tuple)


@st.composite
def child_options(draw: st.DrawFn) -> ManifestOptions:
    return ManifestOptions(draw(encryptions), draw(filters))


@st.composite
def manifest_requests(draw: st.DrawFn) -> ManifestRequest:
    fmt = draw(st.sampled_from(MANIFEST_FORMATS))
    extensions = [""]
    if fmt in HLS_FORMATS:
        extensions.append(".m3u8")
    if fmt in DASH_FORMATS:
        extensions.append(".mpd")
    options = ManifestOptions(draw(encryptions), draw(filters), draw(st.booleans()))
    return ManifestRequest(fmt, options, draw(st.sampled_from(extensions)))


@st.composite
def playlist_requests(draw: st.DrawFn) -> PlaylistRequest:
    fmt = draw(st.sampled_from(HLS_FORMATS))
    keyframes = fmt != "m3u8-aapl-v3" and draw(st.booleans())
    track = "video" if keyframes else draw(st.one_of(st.just("video"), track_names))
    return PlaylistRequest(draw(bitrates), track, fmt, keyframes, draw(child_options()))


@st.composite
def fragment_requests(draw: st.DrawFn) -> FragmentRequest:
    fmt = draw(st.sampled_from(MANIFEST_FORMATS))
    keyframes = fmt in ("m3u8-aapl", "m3u8-cmaf") and draw(st.booleans())
    track = "video" if keyframes else draw(st.one_of(st.just("video"), track_names))
    init_allowed = fmt in ("m3u8-cmaf", "mpd-time-csf", "mpd-time-cmaf") and not keyframes
    time: int | Literal["i"] = draw(times)
    if init_allowed and draw(st.booleans()):
        time = "i"
    return FragmentRequest(draw(bitrates), track, time, fmt, keyframes, draw(child_options()))


requests = st.one_of(manifest_requests(), playlist_requests(), fragment_requests())


@given(requests)
def test_format_then_parse_is_identity(request: StreamingRequest) -> None:
    path = format_streaming_path(request)
    assert parse_streaming_path(path) == request


@given(requests)
def test_keywords_are_case_insensitive(request: StreamingRequest) -> None:
    path = format_streaming_path(request)
    shouted = path.replace("manifest", "MANIFEST").replace("QualityLevels", "qualitylevels")
    assert parse_streaming_path(shouted.replace("format=", "Format=")) == request


@given(
    st.text(alphabet="QualityLevelsFragmentsManifest(),=;/.0123456789-aipv3m8udcsfk", max_size=60)
)
def test_arbitrary_text_parses_or_is_an_invalid_request(path: str) -> None:
    try:
        request = parse_streaming_path(path)
    except InvalidRequestError:
        return
    assert parse_streaming_path(format_streaming_path(request)) == request
