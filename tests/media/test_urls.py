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
    fragment_name,
    parse_streaming_path,
    playlist_name,
    segment_extension,
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
    # the forms manifests write: the same resources, with their real file extension
    (
        "QualityLevels(128000)/Manifest(aac_eng_2_128,format=m3u8-aapl).m3u8",
        PlaylistRequest(128000, "aac_eng_2_128", "m3u8-aapl", extension=".m3u8"),
    ),
    (
        "QualityLevels(3000000)/Fragments(video=25600,format=m3u8-aapl).ts",
        FragmentRequest(3000000, "video", 25600, "m3u8-aapl", extension=".ts"),
    ),
    (
        "QualityLevels(3000000)/Fragments(video=0,format=m3u8-aapl,type=keyframes).TS",
        FragmentRequest(3000000, "video", 0, "m3u8-aapl", keyframes=True, extension=".ts"),
    ),
    (
        "QualityLevels(3000000)/Fragments(video=i,format=m3u8-cmaf).mp4",
        FragmentRequest(3000000, "video", "i", "m3u8-cmaf", extension=".mp4"),
    ),
    (
        "QualityLevels(128000)/Fragments(aac_eng_2_128=96256,format=mpd-time-csf).m4s",
        FragmentRequest(128000, "aac_eng_2_128", 96256, "mpd-time-csf", extension=".m4s"),
    ),
    (
        "QualityLevels(1000)/Fragments(sub_eng=0,format=m3u8-cmaf).vtt",
        FragmentRequest(1000, "sub_eng", 0, "m3u8-cmaf", extension=".vtt"),
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
    # an extension must say what the bytes are
    "QualityLevels(100)/Manifest(video,format=m3u8-aapl).mpd",
    "QualityLevels(100)/Manifest(video,format=m3u8-aapl).ts",
    "QualityLevels(100)/Fragments(video=0,format=m3u8-aapl).m4s",
    "QualityLevels(100)/Fragments(video=0,format=m3u8-aapl).mp4",
    "QualityLevels(100)/Fragments(video=0,format=m3u8-cmaf).ts",
    "QualityLevels(100)/Fragments(video=0,format=mpd-time-csf).mp4",
    "QualityLevels(100)/Fragments(video=i,format=m3u8-cmaf).m4s",
    "QualityLevels(100)/Fragments(video=i,format=m3u8-cmaf).vtt",
    "QualityLevels(100)/Fragments(video=0,format=m3u8-aapl,type=keyframes).vtt",
    "QualityLevels(100)/Fragments(video=0).ts",
    "QualityLevels(100)/Fragments(video=0).m4s",
    "QualityLevels(100)/Fragments(video=0,format=m3u8-aapl).ts.ts",
    "QualityLevels(100)/Fragments(video=0,format=m3u8-aapl).",
    "QualityLevels(100)/Fragments(video=0,format=m3u8-aapl).aac",
]


@pytest.mark.parametrize("path", BAD)
def test_malformed_paths_are_invalid_requests(path: str) -> None:
    with pytest.raises(InvalidRequestError) as info:
        parse_streaming_path(path)
    assert isinstance(info.value, ValueError)


def test_builders_name_children_with_their_real_extension() -> None:
    """What ffmpeg's allowed_segment_extensions and shaka's MIME guessing read."""
    assert playlist_name("video", "m3u8-aapl") == "Manifest(video,format=m3u8-aapl).m3u8"
    assert fragment_name("video", "0", "m3u8-aapl") == "Fragments(video=0,format=m3u8-aapl).ts"
    assert fragment_name("a", "0", "m3u8-aapl-v3") == "Fragments(a=0,format=m3u8-aapl-v3).ts"
    assert fragment_name("video", "i", "m3u8-cmaf") == "Fragments(video=i,format=m3u8-cmaf).mp4"
    template = fragment_name("a", "$Time$", "mpd-time-cmaf")
    assert template == "Fragments(a=$Time$,format=mpd-time-cmaf).m4s"
    assert fragment_name("video", "{start time}", "smooth") == "Fragments(video={start time})"
    assert segment_extension("m3u8-aapl", kind="text") == ".vtt"
    for fmt in MANIFEST_FORMATS:  # every name a builder writes parses back
        for time in ("0", "i"):
            if time == "i" and fmt in ("smooth", "m3u8-aapl", "m3u8-aapl-v3"):
                continue
            parsed = parse_streaming_path("QualityLevels(1)/" + fragment_name("video", time, fmt))
            assert isinstance(parsed, FragmentRequest)
            assert parsed.extension == segment_extension(fmt, init=time == "i")


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
    extension = draw(st.sampled_from(("", ".m3u8")))
    return PlaylistRequest(draw(bitrates), track, fmt, keyframes, draw(child_options()), extension)


@st.composite
def fragment_requests(draw: st.DrawFn) -> FragmentRequest:
    fmt = draw(st.sampled_from(MANIFEST_FORMATS))
    keyframes = fmt in ("m3u8-aapl", "m3u8-cmaf") and draw(st.booleans())
    track = "video" if keyframes else draw(st.one_of(st.just("video"), track_names))
    init_allowed = fmt in ("m3u8-cmaf", "mpd-time-csf", "mpd-time-cmaf") and not keyframes
    time: int | Literal["i"] = draw(times)
    if init_allowed and draw(st.booleans()):
        time = "i"
    extensions = {"", segment_extension(fmt, init=time == "i")}
    if fmt != "smooth" and time != "i" and not keyframes:
        extensions.add(".vtt")
    extension = draw(st.sampled_from(sorted(extensions)))
    options = draw(child_options())
    return FragmentRequest(draw(bitrates), track, time, fmt, keyframes, options, extension)


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
    st.text(alphabet="QualityLevelsFragmentsManifest(),=;/.0123456789-aipv3m8udcsfkt4", max_size=60)
)
def test_arbitrary_text_parses_or_is_an_invalid_request(path: str) -> None:
    try:
        request = parse_streaming_path(path)
    except InvalidRequestError:
        return
    assert parse_streaming_path(format_streaming_path(request)) == request
