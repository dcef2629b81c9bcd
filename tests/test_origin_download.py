"""Progressive download through the origin: Range, validators, conditional requests, names."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import formatdate
from urllib.parse import quote

import httpx
import pytest

from openvod.httpkit.dates import format_http_date
from openvod.origin.download import CHUNK_BYTES
from tests.conftest import ServerHandle, make_clip, start_server
from tests.origin_support import (
    clear_origin_caches,
    create_asset,
    create_locator,
    ensure_account,
    raw_get,
    set_endpoint,
    start_origin,
    stop_process,
)

ODD_NAME = "my clip ü+#1.mp4"
BIG_SIZE = 2 * CHUNK_BYTES + 12345


@dataclass(frozen=True)
class Download:
    """A published asset with an MP4, an oddly named copy and a big binary file."""

    server: ServerHandle
    container: str
    locator: str
    streaming_only: str
    mp4: bytes
    big: bytes
    mp4_name: str

    def url(self, name: str, locator: str | None = None) -> str:
        return f"{self.server.base_url}/{locator or self.locator}/{quote(name)}"


@pytest.fixture(scope="module")
def dl(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Download]:
    media = tmp_path_factory.mktemp("media")
    clip = make_clip(media / "clip.mp4", seconds=2, size="160x90",
                     extra=["-movflags", "+faststart"])
    server = start_server(tmp_path_factory.mktemp("data"), None)
    ensure_account(server)
    set_endpoint(server, True)
    container = create_asset(server, "files", [clip], None)
    store = server.ctx.store
    store.put_file(container, ODD_NAME, clip, content_type="video/mp4")
    big = os.urandom(BIG_SIZE)
    store.put_blob(container, "folder/big.bin", big)
    store.put_blob(container, "clip.ism", b"<smil/>")
    locator = create_locator(server, "files", "files", "Predefined_DownloadAndClearStreaming")
    streaming = create_locator(server, "files-s", "files", "Predefined_ClearStreamingOnly")
    yield Download(server, container, locator, streaming, clip.read_bytes(), big, clip.name)
    server.server.stop()


def get(url: str, **headers: str) -> httpx.Response:
    return httpx.get(url, headers=headers, timeout=30)


def test_full_get_and_head(dl: Download) -> None:
    response = get(dl.url(dl.mp4_name))
    assert response.status_code == 200 and response.content == dl.mp4
    assert response.headers["content-type"] == "video/mp4"
    assert response.headers["accept-ranges"] == "bytes"
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.headers["etag"].startswith('"') and response.headers["last-modified"]
    head = httpx.head(dl.url(dl.mp4_name))
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len(dl.mp4))
    assert head.headers["etag"] == response.headers["etag"]


@pytest.mark.parametrize(("spec", "start", "end"), [
    ("bytes=0-99", 0, 100),
    ("bytes=100-", 100, None),
    ("bytes=-500", -500, None),
    ("bytes=10-10", 10, 11),
    ("bytes=0-999999999", 0, None),  # an end past the file is clipped
])
def test_single_range_is_byte_exact(dl: Download, spec: str, start: int, end: int | None) -> None:
    response = get(dl.url(dl.mp4_name), Range=spec)
    expected = dl.mp4[start:end]
    assert response.status_code == 206 and response.content == expected
    first = start % len(dl.mp4)
    assert response.headers["content-range"] == (
        f"bytes {first}-{first + len(expected) - 1}/{len(dl.mp4)}")
    assert response.headers["content-length"] == str(len(expected))


def test_ranges_across_read_chunks(dl: Download) -> None:
    url = dl.url("folder/big.bin")
    assert get(url).content == dl.big
    start = CHUNK_BYTES - 7
    response = get(url, Range=f"bytes={start}-{start + CHUNK_BYTES + 20}")
    assert response.content == dl.big[start : start + CHUNK_BYTES + 21]
    assert get(url).headers["content-type"] == "application/octet-stream"


def test_unsatisfiable_range_is_416(dl: Download) -> None:
    size = len(dl.mp4)
    for spec in (f"bytes={size}-", f"bytes={size + 10}-{size + 20}", "bytes=-0"):
        response = get(dl.url(dl.mp4_name), Range=spec)
        assert response.status_code == 416, spec
        assert response.headers["content-range"] == f"bytes */{size}"


@pytest.mark.parametrize("spec", ["bytes=0-1,5-9", "items=0-9", "bytes=abc", "bytes=9-1"])
def test_other_ranges_get_the_whole_file(dl: Download, spec: str) -> None:
    response = get(dl.url(dl.mp4_name), Range=spec)
    assert response.status_code == 200 and response.content == dl.mp4


def test_conditional_requests(dl: Download) -> None:
    url = dl.url(dl.mp4_name)
    first = get(url)
    etag, modified = first.headers["etag"], first.headers["last-modified"]
    assert get(url, **{"If-None-Match": etag}).status_code == 304
    assert get(url, **{"If-None-Match": f'"other", W/{etag}'}).status_code == 304
    assert get(url, **{"If-None-Match": '"other"'}).status_code == 200
    assert get(url, **{"If-Modified-Since": modified}).status_code == 304
    assert get(url, **{"If-Modified-Since": format_http_date(datetime(2000, 1, 1, tzinfo=UTC))
                       }).status_code == 200
    # If-Range: the range only while the validator matches
    assert get(url, Range="bytes=0-9", **{"If-Range": etag}).status_code == 206
    assert get(url, Range="bytes=0-9", **{"If-Range": modified}).status_code == 206
    stale = get(url, Range="bytes=0-9", **{"If-Range": '"stale"'})
    assert stale.status_code == 200 and stale.content == dl.mp4
    head = httpx.head(url, headers={"If-None-Match": etag})
    assert head.status_code == 304


def test_escaped_and_nested_names(dl: Download) -> None:
    response = get(dl.url(ODD_NAME))
    assert response.status_code == 200 and response.content == dl.mp4


@pytest.mark.parametrize("name", ["clip.ism", "clip.mp4.ovi", "missing.mp4", "folder"])
def test_internal_and_missing_files_are_404(dl: Download, name: str) -> None:
    assert get(dl.url(name)).status_code == 404


def test_download_needs_the_download_protocol(dl: Download) -> None:
    assert get(dl.url(dl.mp4_name, dl.streaming_only)).status_code == 404


@pytest.mark.parametrize("path", [
    "/{loc}/../{loc}/clip.mp4", "/{loc}/%2e%2e/clip.mp4", "/{loc}/folder%2fbig.bin",
    "/{loc}/folder/../clip.mp4", "/{loc}/folder%5cbig.bin",
])
def test_traversal_is_refused(dl: Download, path: str) -> None:
    status, _ = raw_get(dl.server, path.format(loc=dl.locator))
    assert status in (400, 404)


def test_replaced_file_gets_a_new_etag(dl: Download) -> None:
    url = dl.url("replaced.bin")
    store = dl.server.ctx.store
    store.put_blob(dl.container, "replaced.bin", b"first version")
    clear_origin_caches(dl.server)
    first = get(url)
    assert first.content == b"first version"
    store.put_blob(dl.container, "replaced.bin", b"second, longer version")
    clear_origin_caches(dl.server)
    second = get(url, **{"If-None-Match": first.headers["etag"]})
    assert second.status_code == 200 and second.content == b"second, longer version"
    assert second.headers["etag"] != first.headers["etag"]


HUGE = "9" * 5000


def check_http_semantics(base_url: str, dl: Download) -> None:
    """Absurd ranges and dates in every spelling get RFC 9110 answers, never a 500."""
    url = f"{base_url}/{dl.locator}/{quote(dl.mp4_name)}"
    size = len(dl.mp4)
    past = get(url, Range=f"bytes={HUGE}-")
    assert past.status_code == 416 and past.headers["content-range"] == f"bytes */{size}"
    for spec in (f"bytes=0-{HUGE}", f"bytes=-{HUGE}"):
        whole = get(url, Range=spec)
        assert whole.status_code == 206 and whole.content == dl.mp4
        assert whole.headers["content-range"] == f"bytes 0-{size - 1}/{size}"
    for spec in (f"bytes={HUGE}-1", "bytes=0-" + "9" * 9000):  # invalid, or over the cap
        ignored = get(url, Range=spec)
        assert ignored.status_code == 200 and ignored.content == dl.mp4
    first = get(url)
    etag = first.headers["etag"]
    modified = datetime.strptime(first.headers["last-modified"], "%a, %d %b %Y %H:%M:%S GMT")
    for when, unchanged in ((modified - timedelta(days=1), False), (modified, True)):
        minus_zero = formatdate(when.replace(tzinfo=UTC).timestamp())  # "... -0000"
        for spelling in (minus_zero, minus_zero.removesuffix(" -0000")):
            response = get(url, **{"If-Modified-Since": spelling})
            assert response.status_code == (304 if unchanged else 200), spelling
            response = get(url, **{"If-Unmodified-Since": spelling})
            assert response.status_code == (200 if unchanged else 412), spelling
    assert get(url, **{"If-Match": '"stale"'}).status_code == 412
    assert get(url, **{"If-Match": etag}).status_code == 200
    assert get(url, **{"If-Match": '"stale"', "If-None-Match": etag}).status_code == 412
    assert get(url, **{"If-Modified-Since": "not a date"}).status_code == 200


def test_http_semantics_in_process(dl: Download) -> None:
    check_http_semantics(dl.server.base_url, dl)


def test_http_semantics_of_openvod_origin(dl: Download) -> None:
    proc, url = start_origin(dl.server, 1, None)
    try:
        check_http_semantics(url, dl)
    finally:
        stop_process(proc)
