"""HTTP dates, ranges and preconditions on the blob endpoint, over real HTTP (openvod's server).

Dates in every spelling clients send (``-0000`` as ``email.utils`` writes it,
no zone at all), absurd ranges, RFC 9110's precondition order, and the
azure-storage-blob SDK's own conditional downloads and uploads.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import formatdate

import httpx
import pytest
from azure.core import MatchConditions
from azure.core.exceptions import HttpResponseError

from openvod.httpkit.dates import parse_http_date
from tests import test_blob_endpoint as endpoint
from tests.test_blob_endpoint import CONTAINER, Server

server = endpoint.server  # the module-scoped blob endpoint
HUGE = "9" * 5000
BRIEF_DATE = datetime(2026, 1, 1, tzinfo=UTC)  # "Thu, 01 Jan 2026 00:00:00 -0000"


def _upload(server: Server, name: str, data: bytes) -> tuple[str, datetime, str]:
    """Upload ``data``; returns its URL, Last-Modified and ETag."""
    server.client().upload_blob(name, data, overwrite=True)
    url = f"{server.url}/{CONTAINER}/{name}?{server.sas()}"
    head = httpx.head(url)
    modified = parse_http_date(head.headers["last-modified"])
    assert modified is not None
    return url, modified, head.headers["etag"]


def _spellings(moment: datetime) -> list[str]:
    """``moment`` with a ``-0000`` zone (as email.utils writes it) and with no zone."""
    minus_zero = formatdate(moment.timestamp())
    assert minus_zero.endswith("-0000")
    return [minus_zero, minus_zero.removesuffix(" -0000")]


def _request(method: str, url: str, headers: dict[str, str]) -> httpx.Response:
    if method == "PUT":
        headers = {**headers, "x-ms-blob-type": "BlockBlob"}
        return httpx.put(url, content=b"replaced", headers=headers)
    return httpx.request(method, url, headers=headers)


@pytest.mark.parametrize("method", ["GET", "HEAD", "PUT"])
def test_if_modified_since_in_every_spelling(server: Server, method: str) -> None:
    url, modified, _ = _upload(server, f"ims-{method}.txt", b"original")
    done = 201 if method == "PUT" else 200
    unchanged = 412 if method == "PUT" else 304  # Azure guards writes with it too
    cases = [(moment, spelling) for moment in (modified - timedelta(days=1),
             modified + timedelta(days=1)) for spelling in _spellings(moment)]  # fmt: skip
    cases.append((BRIEF_DATE, "Thu, 01 Jan 2026 00:00:00 -0000"))
    for moment, spelling in cases:
        expected = unchanged if modified <= moment else done
        response = _request(method, url, {"If-Modified-Since": spelling})
        assert response.status_code == expected, spelling
        if expected == unchanged:
            assert response.headers["x-ms-error-code"] == "ConditionNotMet"
            assert httpx.get(url).content == b"original"
        if response.status_code == 201:
            _upload(server, f"ims-{method}.txt", b"original")


@pytest.mark.parametrize("method", ["GET", "HEAD", "PUT"])
def test_if_unmodified_since_in_every_spelling(server: Server, method: str) -> None:
    url, modified, _ = _upload(server, f"ius-{method}.txt", b"original")
    for moment in (modified - timedelta(days=1), modified + timedelta(days=1)):
        for spelling in _spellings(moment):
            response = _request(method, url, {"If-Unmodified-Since": spelling})
            if moment < modified:
                assert response.status_code == 412, spelling
                assert httpx.get(url).content == b"original"
            else:
                assert response.status_code == (201 if method == "PUT" else 200), spelling
                _upload(server, f"ius-{method}.txt", b"original")


@pytest.mark.parametrize("junk", ["yesterday", "Thu, 32 Jan 2026 00:00:00 GMT", HUGE, ""])
def test_unreadable_dates_are_ignored(server: Server, junk: str) -> None:
    url, _, _ = _upload(server, "junk-date.txt", b"abc")
    for name in ("If-Modified-Since", "If-Unmodified-Since"):
        response = httpx.get(url, headers={name: junk})
        assert (response.status_code, response.content) == (200, b"abc")


def test_precondition_order(server: Server) -> None:
    url, modified, etag = _upload(server, "order.txt", b"abc")
    past = formatdate((modified - timedelta(days=1)).timestamp())
    future = formatdate((modified + timedelta(days=1)).timestamp())
    # A failing If-Match wins over a matching If-None-Match (412, not 304).
    assert httpx.get(url, headers={"If-Match": '"0x1"', "If-None-Match": etag}).status_code == 412
    # With If-Match present, If-Unmodified-Since is not evaluated.
    headers = {"If-Match": etag, "If-Unmodified-Since": past}
    assert httpx.get(url, headers=headers).status_code == 200
    # With If-None-Match present, If-Modified-Since is not evaluated.
    headers = {"If-None-Match": '"0x1"', "If-Modified-Since": future}
    assert httpx.get(url, headers=headers).status_code == 200
    assert httpx.get(url, headers={"If-Modified-Since": future}).status_code == 304
    assert httpx.get(url, headers={"If-None-Match": f'"0x1", {etag}'}).status_code == 304
    headers = {"x-ms-blob-type": "BlockBlob", "If-None-Match": "*"}
    put = httpx.put(url, content=b"x", headers=headers)
    assert put.status_code == 409 and put.headers["x-ms-error-code"] == "BlobAlreadyExists"


def test_huge_ranges_are_answered_not_crashed(server: Server) -> None:
    url, _, _ = _upload(server, "huge-range.bin", b"0123456789")
    for name in ("x-ms-range", "Range"):
        past = httpx.get(url, headers={name: f"bytes={HUGE}-"})
        assert past.status_code == 416 and past.headers["x-ms-error-code"] == "InvalidRange"
        assert past.headers["content-range"] == "bytes */10"  # RFC 9110 15.5.17
        for spec in (f"bytes=0-{HUGE}", f"bytes=-{HUGE}"):
            whole = httpx.get(url, headers={name: spec})
            assert whole.status_code == 206 and whole.content == b"0123456789", spec
            assert whole.headers["content-range"] == "bytes 0-9/10"
        tail = httpx.get(url, headers={name: f"bytes=3-{HUGE}"})
        assert (tail.status_code, tail.content) == (206, b"3456789")
    # A header no range set can be read from: x-ms-range is refused, Range ignored.
    for spec in (f"bytes={HUGE}-1", "bytes=0-" + "9" * 9000, "bytes=0-1,3-4", "bytes=x"):
        strict = httpx.get(url, headers={"x-ms-range": spec})
        assert strict.status_code == 400
        assert strict.headers["x-ms-error-code"] == "InvalidHeaderValue"
        lenient = httpx.get(url, headers={"Range": spec})
        assert (lenient.status_code, lenient.content) == (200, b"0123456789")
    empty = httpx.get(url, headers={"x-ms-range": ""})  # no range, as before
    assert (empty.status_code, empty.content) == (200, b"0123456789")


def test_if_range_guards_the_range_header(server: Server) -> None:
    url, modified, etag = _upload(server, "if-range.bin", b"0123456789")
    last_modified = httpx.head(url).headers["last-modified"]
    for validator in (etag, last_modified):
        part = httpx.get(url, headers={"Range": "bytes=2-4", "If-Range": validator})
        assert (part.status_code, part.content) == (206, b"234")
    for stale in ('"0x1"', f"W/{etag}", formatdate((modified - timedelta(days=1)).timestamp())):
        whole = httpx.get(url, headers={"Range": "bytes=2-4", "If-Range": stale})
        assert (whole.status_code, whole.content) == (200, b"0123456789")


def test_the_sdk_conditional_download_and_upload(server: Server) -> None:
    client = server.client()
    _, modified, etag = _upload(server, "sdk-cond.txt", b"conditional")
    blob = client.get_blob_client("sdk-cond.txt")
    earlier, later = modified - timedelta(days=1), modified + timedelta(days=1)
    assert blob.download_blob(if_modified_since=earlier).readall() == b"conditional"
    with pytest.raises(HttpResponseError) as not_modified:
        blob.download_blob(if_modified_since=later)
    assert not_modified.value.status_code == 304
    assert blob.download_blob(if_unmodified_since=later).readall() == b"conditional"
    with pytest.raises(HttpResponseError) as changed:
        blob.download_blob(if_unmodified_since=earlier)
    assert changed.value.status_code == 412
    same = blob.download_blob(etag=etag, match_condition=MatchConditions.IfNotModified)
    assert same.readall() == b"conditional"
    with pytest.raises(HttpResponseError) as stale:
        blob.download_blob(etag='"0x1"', match_condition=MatchConditions.IfNotModified)
    assert stale.value.status_code == 412
    with pytest.raises(HttpResponseError) as cached:
        blob.download_blob(etag=etag, match_condition=MatchConditions.IfModified)
    assert cached.value.status_code == 304
    with pytest.raises(HttpResponseError) as lost_update:
        blob.upload_blob(b"lost", overwrite=True, etag='"0x1"',
                         match_condition=MatchConditions.IfNotModified)  # fmt: skip
    assert lost_update.value.status_code == 412
    blob.upload_blob(b"won", overwrite=True, etag=etag,
                     match_condition=MatchConditions.IfNotModified)  # fmt: skip
    assert blob.download_blob().readall() == b"won"
    props = blob.get_blob_properties(if_modified_since=earlier)
    assert props.size == 3
