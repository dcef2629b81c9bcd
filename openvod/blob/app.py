"""The Azure Blob REST endpoint over a :class:`~openvod.storage.store.BlobStore`.

It speaks the subset that ``azure-storage-blob`` 12.x uses with a container
or blob SAS: Put Blob, Put Block, Put Block List, Get Blob (with ranges),
Get Blob Properties, Delete Blob, List Blobs and Get Container Properties.
URLs are host-style, container first (``/{container}/{blob}?{sas}``);
path-style URLs (``/{account}/{container}/{blob}``, what the SDK builds for
``127.0.0.1``/``localhost`` blob URLs) are understood too when no container
is named like the account. Containers are created by the management API; a
SAS cannot create or delete them.
"""

from __future__ import annotations

import base64
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import BinaryIO, TypeVar
from urllib.parse import quote

from anyio import to_thread
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from openvod.blob.body import ClientGone, RequestBody, copy_into
from openvod.blob.conditions import check_conditions
from openvod.blob.errors import BlobServiceError, azure_error
from openvod.blob.params import (
    MAX_LIST_RESULTS,
    check_length,
    parse_block_id,
    parse_max_results,
    parse_md5_header,
    requested_span,
)
from openvod.blob.responses import FileRangeResponse, blob_headers, written_headers
from openvod.blob.urls import parse_query, split_path
from openvod.blob.xml import build_blob_list, build_error, page_listing, parse_block_list
from openvod.errors import InvalidNameError, NotFoundError, OpenvodError, StorageError
from openvod.httpd.asgi import answer_lifespan
from openvod.httpkit.ranges import ByteSpan, content_range
from openvod.storage import limits
from openvod.storage.names import validate_container_name
from openvod.storage.sas import SAS_VERSION, check_permission, verify_sas
from openvod.storage.sealed import STAGING_PREFIX
from openvod.storage.store import BlobInfo, BlobStore, BlobWriter, md5_of

logger = logging.getLogger(__name__)

MAX_PUT_BLOB_BYTES = 5000 * 1024 * 1024  # Azure's Put Blob limit
MAX_BLOCK_BYTES = limits.MAX_BLOCK_BYTES  # Azure's 4000 MiB: streamed to disk, never in memory
MAX_BLOCK_LIST_BYTES = 8 * 1024 * 1024  # room for Azure's 50,000 blocks
MAX_RANGE_MD5_BYTES = 4 * 1024 * 1024  # Azure's limit for x-ms-range-get-content-md5

T = TypeVar("T")


@dataclass
class _Call:
    """One parsed request."""

    scope: Scope
    method: str
    headers: Headers
    query: dict[str, str]
    container: str
    blob: str | None
    body: RequestBody


def create_blob_app(
    store: BlobStore,
    *,
    account_name: str,
    account_key: bytes,
    clock: Callable[[], datetime] | None = None,
) -> BlobApp:
    """The ASGI app serving ``store`` to SAS clients of ``account_name``.

    ``account_key`` is the raw (base64-decoded) key SAS tokens are signed with;
    ``clock`` (UTC) decides SAS expiry and defaults to the system clock.
    """
    return BlobApp(store, account_name=account_name, account_key=account_key, clock=clock)


async def _run(func: Callable[..., T], *args: object) -> T:
    return await to_thread.run_sync(func, *args)


class BlobApp:
    """ASGI application; see :func:`create_blob_app`."""

    def __init__(
        self,
        store: BlobStore,
        *,
        account_name: str,
        account_key: bytes,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.store = store
        # Reads give what is stored (ciphertext for storage-encrypted assets, as in AMS);
        # writes go through ``store``, which encrypts for those assets.
        self.raw: BlobStore = getattr(store, "raw", store)
        self.account_name = account_name
        self._account_key = account_key
        self._clock = clock or (lambda: datetime.now(UTC))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection scope."""
        if scope["type"] == "lifespan":
            await answer_lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        headers = Headers(scope=scope)
        body = RequestBody(receive)
        try:
            response = await self._dispatch(self._parse(scope, headers, body))
        except ClientGone:
            return
        except OpenvodError as exc:
            response = await _error_response(scope["method"], body, exc)
        except Exception:
            logger.exception("blob request failed: %s %s", scope["method"], scope["path"])
            response = await _error_response(scope["method"], body, StorageError("unexpected"))
        response.headers["x-ms-request-id"] = str(uuid.uuid4())
        response.headers["x-ms-version"] = headers.get("x-ms-version", SAS_VERSION)
        try:
            await response(scope, receive, send)
        except OSError:
            return  # the client went away mid-response

    def _parse(self, scope: Scope, headers: Headers, body: RequestBody) -> _Call:
        raw_path = scope.get("raw_path") or quote(scope["path"]).encode()
        container, blob = split_path(raw_path)
        if blob and container == self.account_name and self._path_style(container):
            container, _, rest = blob.partition("/")
            blob = rest or None
        return _Call(
            scope=scope,
            method=scope["method"],
            headers=headers,
            query=parse_query(scope.get("query_string", b"")),
            container=container,
            blob=blob,
            body=body,
        )

    def _path_style(self, first_segment: str) -> bool:
        try:
            validate_container_name(first_segment)
        except InvalidNameError:
            return True
        return not self.store.container_exists(first_segment)

    async def _dispatch(self, call: _Call) -> Response:
        comp = call.query.get("comp")
        if call.blob is None:
            if call.query.get("restype") != "container" or not call.container:
                self._authenticate(call, blob_scope=False)
                raise BlobServiceError(
                    400, "InvalidUri", "The requested URI does not represent any resource."
                )
            if comp == "list" and call.method == "GET":
                return await self._list_blobs(call)
            if comp is None and call.method in ("GET", "HEAD"):
                return await self._container_properties(call)
            self._authenticate(call, blob_scope=False)
            if comp is None and call.method in ("PUT", "DELETE"):
                raise BlobServiceError(
                    403,
                    "AuthorizationPermissionMismatch",
                    "Containers are created and deleted through the management API.",
                )
            raise BlobServiceError(501, "NotImplemented", f"comp={comp} is not implemented.")
        if "x-ms-structured-body" in call.headers:
            # CRC64 structured-message bodies would otherwise be stored framing and all.
            raise BlobServiceError(
                400,
                "UnsupportedHeader",
                "x-ms-structured-body (validate_content='crc64') is not supported; use MD5.",
            )
        handlers = {
            ("PUT", "block"): self._put_block,
            ("PUT", "blocklist"): self._put_block_list,
            ("PUT", None): self._put_blob,
            ("GET", None): self._get_blob,
            ("HEAD", None): self._get_blob_properties,
            ("DELETE", None): self._delete_blob,
        }
        handler = handlers.get((call.method, comp))
        if handler is None:
            self._authenticate(call, blob_scope=True)
            raise BlobServiceError(
                501, "NotImplemented", f"{call.method} comp={comp} is not implemented."
            )
        return await handler(call)

    # ---- authorisation ------------------------------------------------------

    def _authenticate(self, call: _Call, *, blob_scope: bool, required: str = "") -> None:
        client = call.scope.get("client")
        verify_sas(
            call.query,
            account_name=self.account_name,
            account_key=self._account_key,
            container=call.container,
            blob=call.blob if blob_scope else None,
            required=required,
            now=self._clock(),
            client_ip=client[0] if client else None,
            scheme=call.scope.get("scheme"),
        )

    def _authorize_write(self, call: _Call, existing: BlobInfo | None) -> None:
        """'c' lets a SAS create a blob but never overwrite one, as in Azure."""
        granted = call.query.get("sp", "")
        creating = existing is None and "c" in granted and "w" not in granted
        check_permission(call.query, "c" if creating else "w")
        check_conditions(call.headers, existing, write=True)

    async def _existing(self, call: _Call) -> BlobInfo | None:
        assert call.blob is not None
        try:
            return await _run(self.raw.get_info, call.container, call.blob)
        except NotFoundError as exc:
            if exc.code == "BlobNotFound":
                return None
            raise

    # ---- writes -------------------------------------------------------------

    async def _put_blob(self, call: _Call) -> Response:
        assert call.blob is not None
        self._authenticate(call, blob_scope=True)
        blob_type = call.headers.get("x-ms-blob-type")
        if blob_type != "BlockBlob":
            code = "InvalidHeaderValue" if blob_type else "MissingRequiredHeader"
            raise BlobServiceError(400, code, "Only x-ms-blob-type: BlockBlob is supported.")
        check_length(call.headers, MAX_PUT_BLOB_BYTES)
        transactional = parse_md5_header(call.headers, "content-md5")
        stored = parse_md5_header(call.headers, "x-ms-blob-content-md5")
        if transactional and stored and transactional != stored:
            raise BlobServiceError(
                400, "Md5Mismatch", "Content-MD5 and x-ms-blob-content-md5 differ."
            )
        self._authorize_write(call, await self._existing(call))
        content_type = call.headers.get("x-ms-blob-content-type") or call.headers.get(
            "content-type"
        )
        writer = await _run(
            self.store.open_writer, call.container, call.blob, content_type,
            transactional or stored,
        )  # fmt: skip
        info = await _upload(call.body, writer, MAX_PUT_BLOB_BYTES)
        return Response(status_code=201, headers=written_headers(info))

    async def _put_block(self, call: _Call) -> Response:
        assert call.blob is not None
        self._authenticate(call, blob_scope=True)
        granted = call.query.get("sp", "")
        check_permission(call.query, "c" if "c" in granted and "w" not in granted else "w")
        block_id = parse_block_id(call.query.get("blockid", ""))
        check_length(call.headers, MAX_BLOCK_BYTES)
        expected_md5 = parse_md5_header(call.headers, "content-md5")
        writer = await _run(
            self.store.open_block_writer, call.container, call.blob, block_id, expected_md5
        )
        await _upload(call.body, writer, MAX_BLOCK_BYTES)
        headers = {"x-ms-request-server-encrypted": "false"}
        if expected_md5 is not None:
            headers["content-md5"] = base64.b64encode(expected_md5).decode()
        return Response(status_code=201, headers=headers)

    async def _put_block_list(self, call: _Call) -> Response:
        assert call.blob is not None
        self._authenticate(call, blob_scope=True)
        self._authorize_write(call, await self._existing(call))
        check_length(call.headers, MAX_BLOCK_LIST_BYTES)
        block_list = await call.body.read(MAX_BLOCK_LIST_BYTES)
        entries = parse_block_list(block_list)
        info = await _run(
            self.store.commit_block_list,
            call.container,
            call.blob,
            [block_id for _, block_id in entries],
            call.headers.get("x-ms-blob-content-type"),
            parse_md5_header(call.headers, "x-ms-blob-content-md5"),
        )
        headers = written_headers(info)
        # Here Content-MD5 is that of the request body (the block list), as Azure answers.
        headers["content-md5"] = base64.b64encode(md5_of(block_list)).decode()
        return Response(status_code=201, headers=headers)

    async def _delete_blob(self, call: _Call) -> Response:
        assert call.blob is not None
        self._authenticate(call, blob_scope=True, required="d")
        info = await _run(self.raw.get_info, call.container, call.blob)
        check_conditions(call.headers, info, write=True)
        await _run(self.store.delete_blob, call.container, call.blob)
        return Response(status_code=202, headers={"x-ms-delete-type-permanent": "true"})

    # ---- reads --------------------------------------------------------------

    async def _get_blob_properties(self, call: _Call) -> Response:
        assert call.blob is not None
        self._authenticate(call, blob_scope=True, required="r")
        info = await _run(self.raw.get_info, call.container, call.blob)
        check_conditions(call.headers, info, write=False)
        return Response(status_code=200, headers=blob_headers(info))

    async def _get_blob(self, call: _Call) -> Response:
        assert call.blob is not None
        self._authenticate(call, blob_scope=True, required="r")
        handle, info = await _run(self._open, call.container, call.blob)
        try:
            return await self._blob_content(call, handle, info)
        except BaseException:
            handle.close()
            raise

    def _open(self, container: str, name: str) -> tuple[BinaryIO, BlobInfo]:
        """Open the blob and describe the very version that was opened."""
        for _ in range(3):
            handle = self.raw.open_read(container, name)
            info = self.raw.get_info(container, name)
            if handle.seek(0, 2) == info.size_bytes:
                return handle, info
            handle.close()  # replaced between the two calls: try again
        raise StorageError(f"{container}/{name} keeps changing while being opened")

    async def _blob_content(self, call: _Call, handle: BinaryIO, info: BlobInfo) -> Response:
        """The 200/206 answer for Get Blob; the response takes over ``handle``."""
        verdict = check_conditions(call.headers, info, write=False)
        headers = blob_headers(info)
        span = requested_span(call.headers, info.size_bytes, range_applies=verdict.range_applies)
        status = 200 if span is None else 206
        if span is None:
            span = ByteSpan(0, info.size_bytes)
        else:
            headers["content-range"] = content_range(span, info.size_bytes)
            if "content-md5" in headers:
                headers["x-ms-blob-content-md5"] = headers.pop("content-md5")
        headers["content-length"] = str(span.length)
        if call.headers.get("x-ms-range-get-content-md5", "").lower() == "true":
            if status != 206 or span.length > MAX_RANGE_MD5_BYTES:
                raise BlobServiceError(
                    400, "OutOfRangeInput", "x-ms-range-get-content-md5 needs a range of <= 4 MiB."
                )
            data = await _run(_read_at, handle, span.start, span.length)
            handle.close()
            headers["content-md5"] = base64.b64encode(md5_of(data)).decode()
            return Response(content=data, status_code=status, headers=headers)
        return FileRangeResponse(
            handle, span.start, span.length, status_code=status, headers=headers
        )

    async def _list_blobs(self, call: _Call) -> Response:
        self._authenticate(call, blob_scope=False, required="l")
        prefix = call.query.get("prefix", "")
        delimiter = call.query.get("delimiter", "")
        marker = call.query.get("marker", "")
        max_results = parse_max_results(call.query.get("maxresults"))
        blobs = await _run(self.raw.list_blobs, call.container, prefix)
        blobs = [b for b in blobs if not b.name.startswith(STAGING_PREFIX)]
        page = page_listing(blobs, prefix, delimiter, marker, max_results or MAX_LIST_RESULTS)
        host = call.headers.get("host", "localhost")
        body = build_blob_list(
            service_endpoint=f"{call.scope.get('scheme', 'http')}://{host}/",
            container=call.container,
            prefix=prefix,
            marker=marker,
            max_results=max_results,
            delimiter=delimiter,
            page=page,
        )
        return Response(content=body, status_code=200, media_type="application/xml")

    async def _container_properties(self, call: _Call) -> Response:
        self._authenticate(call, blob_scope=False)
        if not await _run(self.store.container_exists, call.container):
            raise NotFoundError("The specified container does not exist.", code="ContainerNotFound")
        headers = {
            "etag": '"0x8D0000000000000"',
            "last-modified": "Thu, 01 Jan 2015 00:00:00 GMT",
            "x-ms-lease-status": "unlocked",
            "x-ms-lease-state": "available",
            "x-ms-has-immutability-policy": "false",
            "x-ms-has-legal-hold": "false",
            "content-length": "0",
        }
        return Response(status_code=200, headers=headers)


# ---- helpers ---------------------------------------------------------------


async def _upload(body: RequestBody, writer: BlobWriter[T], limit_bytes: int) -> T:
    """The body written through ``writer`` and committed; aborted on any failure (a client
    that went away, a body over the limit, a failed write)."""
    try:
        await copy_into(body, writer, limit_bytes)
        return await _run(writer.commit)
    except BaseException:
        writer.abort()
        raise


async def _error_response(method: str, body: RequestBody, exc: OpenvodError) -> Response:
    """Azure's error answer: XML body (not for HEAD or 304) and ``x-ms-error-code``."""
    status, code, message = azure_error(exc)
    headers = {"x-ms-error-code": code}
    if isinstance(exc, BlobServiceError):
        headers.update(exc.headers)
    # What is left of a refused upload is not read here: the server drops a small
    # remainder and answers a large one with Connection: close (openvod.httpd).
    if method == "HEAD" or status == 304:
        return Response(status_code=status, headers=headers)
    return Response(
        content=build_error(code, message),
        status_code=status,
        headers=headers,
        media_type="application/xml",
    )


def _read_at(handle: BinaryIO, offset: int, length: int) -> bytes:
    handle.seek(offset)
    return handle.read(length)
