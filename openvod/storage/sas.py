"""Azure service shared access signatures (SAS) for containers and blobs.

Tokens are byte-for-byte what ``azure.storage.blob.generate_container_sas`` /
``generate_blob_sas`` produce for the same inputs and signed version: the
string to sign is (one field a line, for versions 2020-12-06 and later)::

    sp, st, se, /blob/{account}/{container}[/{blob}], si, sip, spr, sv, sr,
    snapshot time, ses, rscc, rscd, rsce, rscl, rsct

signed with HMAC-SHA256 under the (base64-decoded) account key. Versions
2018-11-09 up to 2020-12-06 sign the same fields without ``ses``.
Stored access policies (``si``), user delegation keys and directory SAS are
not supported and are refused.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from openvod.errors import SasError

SAS_VERSION = "2026-10-06"
"""The signed version (``sv``) openvod puts in the tokens it makes; azure-storage-blob 12.31's."""

CONTAINER_PERMISSION_ORDER = "racwdxyltfmei"
BLOB_PERMISSION_ORDER = "racwdxytmei"
START_SKEW = timedelta(minutes=15)
"""How far in the future ``st`` may be: Azure tolerates this much clock skew."""

_OLDEST_VERSION = "2018-11-09"
_SCOPE_VERSION = "2020-12-06"  # first version that signs the encryption scope
_OVERRIDES = ("rscc", "rscd", "rsce", "rscl", "rsct")
_FRACTION = re.compile(r"\.(\d+)")


def format_sas_time(value: datetime) -> str:
    """``YYYY-MM-DDThh:mm:ssZ`` in UTC, as the SDK writes ``st`` and ``se`` (naive = UTC)."""
    if value.utcoffset() is not None:
        value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_sas_time(text: str) -> datetime:
    """Read an ISO 8601 ``st``/``se`` value (date, minutes, seconds or fractions) as UTC."""
    cleaned = _FRACTION.sub(lambda m: "." + m.group(1)[:6].ljust(6, "0"), text.strip())
    try:
        parsed = datetime.fromisoformat(cleaned)
    except ValueError:
        raise SasError(f"SAS time {text!r} is not an ISO 8601 date and time") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def canonical_permission(permission: str, order: str = CONTAINER_PERMISSION_ORDER) -> str:
    """Sort and de-duplicate permission letters into Azure's canonical order."""
    unknown = sorted(set(permission) - set(order))
    if unknown:
        raise ValueError(f"unknown SAS permission letters {''.join(unknown)!r} (allowed: {order})")
    return "".join(letter for letter in order if letter in permission)


def string_to_sign(fields: Mapping[str, str], canonical_resource: str) -> str:
    """The service SAS string to sign for the signed version in ``fields['sv']``."""
    names = ["sp", "st", "se", None, "si", "sip", "spr", "sv", "sr", "snapshot"]
    if fields.get("sv", "") >= _SCOPE_VERSION:
        names.append("ses")
    names.extend(_OVERRIDES)
    lines = [canonical_resource if n is None else fields.get(n, "") for n in names]
    return "\n".join(lines)


def sign(account_key: bytes, text: str) -> str:
    """Base64 HMAC-SHA256 of ``text`` under the raw (already base64-decoded) key."""
    digest = hmac.new(account_key, text.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def canonical_resource(account_name: str, container: str, blob: str | None = None) -> str:
    """``/blob/{account}/{container}[/{blob}]``, the resource a service SAS names."""
    resource = f"/blob/{account_name}/{container}"
    return resource if blob is None else f"{resource}/{blob}"


def _make_token(fields: dict[str, str], account_key: bytes, resource: str) -> str:
    fields["sig"] = sign(account_key, string_to_sign(fields, resource))
    # The SDK's query order and quoting (urllib.parse.quote, '/' left alone).
    order = ["st", "se", "sp", "sip", "spr", "sv", "sr", "sig"]
    return "&".join(f"{name}={quote(fields[name])}" for name in order if fields.get(name))


def _base_fields(
    permission: str,
    expiry: datetime,
    start: datetime | None,
    version: str,
    ip: str | None,
    protocol: str | None,
    resource: str,
) -> dict[str, str]:
    fields = {"se": format_sas_time(expiry), "sp": permission, "sv": version, "sr": resource}
    if start is not None:
        fields["st"] = format_sas_time(start)
    if ip:
        fields["sip"] = ip
    if protocol:
        fields["spr"] = protocol
    return fields


def generate_container_sas(
    account_name: str,
    account_key: bytes,
    container: str,
    permission: str,
    expiry: datetime,
    start: datetime | None = None,
    *,
    version: str = SAS_VERSION,
    ip: str | None = None,
    protocol: str | None = None,
) -> str:
    """A container SAS query string (without '?'); ``permission`` is put in canonical order."""
    letters = canonical_permission(permission, CONTAINER_PERMISSION_ORDER)
    fields = _base_fields(letters, expiry, start, version, ip, protocol, "c")
    return _make_token(fields, account_key, canonical_resource(account_name, container))


def generate_blob_sas(
    account_name: str,
    account_key: bytes,
    container: str,
    blob: str,
    permission: str,
    expiry: datetime,
    start: datetime | None = None,
    *,
    version: str = SAS_VERSION,
    ip: str | None = None,
    protocol: str | None = None,
) -> str:
    """A SAS query string (without '?') for one blob, e.g. a signed download URL."""
    letters = canonical_permission(permission, BLOB_PERMISSION_ORDER)
    fields = _base_fields(letters, expiry, start, version, ip, protocol, "b")
    return _make_token(fields, account_key, canonical_resource(account_name, container, blob))


def verify_sas(
    query: Mapping[str, str],
    *,
    account_name: str,
    account_key: bytes,
    container: str,
    blob: str | None,
    required: str,
    now: datetime,
    client_ip: str | None = None,
    scheme: str | None = None,
) -> None:
    """Check that the SAS in ``query`` grants ``required`` on the container or blob.

    ``blob`` is None for container operations (List Blobs), which a blob SAS
    never grants. Every letter of ``required`` must be in ``sp``. ``client_ip``
    and ``scheme``, when given, are checked against ``sip`` and ``spr``.
    Raises SasError whose ``code`` is the Azure error code to answer with.
    """
    missing = [name for name in ("sv", "sr", "sp", "se", "sig") if not query.get(name)]
    if missing:
        raise SasError(f"SAS is missing required fields: {', '.join(missing)}")
    if query.get("si"):
        raise SasError("SAS with a stored access policy (si) is not supported")
    if any(query.get(name) for name in ("skoid", "sdd", "snapshot")):
        raise SasError("user delegation, directory and snapshot SAS are not supported")
    if query["sv"] < _OLDEST_VERSION:
        raise SasError(f"SAS signed version {query['sv']!r} is older than {_OLDEST_VERSION}")
    resource = _resource_for(query["sr"], account_name, container, blob)
    expected = sign(account_key, string_to_sign(query, resource))
    if not hmac.compare_digest(expected.encode(), query["sig"].encode()):
        raise SasError("Server failed to authenticate the request. Signature did not match.")
    _check_times(query, now)
    _check_transport(query, client_ip, scheme)
    check_permission(query, required)


def check_permission(query: Mapping[str, str], required: str) -> None:
    """Raise ``AuthorizationPermissionMismatch`` unless ``sp`` holds every letter of ``required``.

    Use after :func:`verify_sas` when the letter needed depends on state the
    caller looks up only once the request is authenticated (write vs. create).
    """
    granted = query.get("sp", "")
    lacking = [letter for letter in required if letter not in granted]
    if lacking:
        raise SasError(
            "This request is not authorized to perform this operation using this permission "
            f"(needs {''.join(lacking)!r}, SAS grants {granted!r}).",
            code="AuthorizationPermissionMismatch",
        )


def _resource_for(sr: str, account_name: str, container: str, blob: str | None) -> str:
    if sr == "c":
        return canonical_resource(account_name, container)
    if sr == "b":
        if blob is None:
            raise SasError(
                "This request is not authorized to perform this operation using this "
                "resource type (a blob SAS cannot list or read container properties).",
                code="AuthorizationResourceTypeMismatch",
            )
        return canonical_resource(account_name, container, blob)
    raise SasError(f"SAS resource type sr={sr!r} is not supported (use 'c' or 'b')")


def _check_times(query: Mapping[str, str], now: datetime) -> None:
    expiry = parse_sas_time(query["se"])
    if expiry < now:
        raise SasError(f"Signature not valid in the specified time frame: expired at {query['se']}")
    start_text = query.get("st")
    if start_text:
        start = parse_sas_time(start_text)
        if start > now + START_SKEW:
            raise SasError(
                f"Signature not valid in the specified time frame: not valid before {start_text}"
            )
        if expiry <= start:
            raise SasError("Signed expiry time must be after signed start time")


def _check_transport(query: Mapping[str, str], client_ip: str | None, scheme: str | None) -> None:
    protocols = query.get("spr")
    if protocols and scheme is not None and scheme not in protocols.split(","):
        raise SasError(
            f"This request is not authorized to perform this operation using this protocol "
            f"({scheme}; SAS allows {protocols}).",
            code="AuthorizationProtocolMismatch",
        )
    allowed = query.get("sip")
    if allowed and client_ip is not None and not _ip_allowed(client_ip, allowed):
        raise SasError(
            "This request is not authorized to perform this operation using this source IP "
            f"{client_ip}.",
            code="AuthorizationSourceIPMismatch",
        )


def _ip_allowed(client_ip: str, allowed: str) -> bool:
    try:
        address = ipaddress.ip_address(client_ip)
        low_text, _, high_text = allowed.partition("-")
        low = ipaddress.ip_address(low_text)
        high = ipaddress.ip_address(high_text) if high_text else low
        return low.version == address.version and low <= address <= high  # type: ignore[operator]
    except ValueError:
        return False
