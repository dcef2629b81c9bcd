"""PSSH boxes for W3C Common (ClearKey), Widevine and PlayReady.

- W3C Common PSSH (https://www.w3.org/TR/eme-initdata-cenc/): a version 1
  'pssh' listing the KIDs, with no data.
- Widevine: a version 0 'pssh' whose data is a ``WidevinePsshData`` protobuf
  carrying the ``key_ids`` (field 2), optionally the ``content_id`` (field 4)
  and the ``protection_scheme`` fourcc (field 9), encoded by hand.
- PlayReady: a version 0 'pssh' whose data is a PlayReady Object holding one
  Rights Management header (a WRM header in UTF-16LE): version 4.0.0.0 for
  'cenc' (one KID, AESCTR), 4.3.0.0 for 'cbcs' (KIDs with ALGID AESCBC), the
  KID in PlayReady's GUID byte order, base64, its ``CHECKSUM`` when the key
  is given (4.0), and ``LA_URL`` when given. With the same KID and key the
  three boxes are byte for byte the ones Shaka Packager writes.
"""

from __future__ import annotations

import base64
import struct
import uuid
from collections.abc import Sequence
from typing import Literal
from xml.sax.saxutils import escape

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from openvod.media.crypto.sample_cipher import check_key
from openvod.media.mp4.protection_boxes import KID_SIZE, ProtectionSystemSpecificHeaderBox

COMMON_SYSTEM_ID = uuid.UUID("1077efec-c0b2-4d02-ace3-3c1e52e2fb4b").bytes
WIDEVINE_SYSTEM_ID = uuid.UUID("edef8ba9-79d6-4ace-a3c8-27dcd51d21ed").bytes
PLAYREADY_SYSTEM_ID = uuid.UUID("9a04f079-9840-4286-ab92-e65be0885f95").bytes

PLAYREADY_HEADER_NAMESPACE = "http://schemas.microsoft.com/DRM/2007/03/PlayReadyHeader"
_PLAYREADY_RIGHTS_MANAGEMENT_RECORD = 1

SchemeName = Literal["cenc", "cbcs"]


def _check_kids(key_ids: Sequence[bytes]) -> None:
    if not key_ids or any(len(kid) != KID_SIZE for kid in key_ids):
        raise ValueError("PSSH boxes need one or more 16-byte KIDs")


def common_pssh(key_ids: Sequence[bytes]) -> ProtectionSystemSpecificHeaderBox:
    """The W3C Common PSSH (version 1, KIDs, no data), as used by ClearKey."""
    _check_kids(key_ids)
    return ProtectionSystemSpecificHeaderBox(COMMON_SYSTEM_ID, b"", list(key_ids))


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _length_delimited(field_number: int, value: bytes) -> bytes:
    return _varint(field_number << 3 | 2) + _varint(len(value)) + value


def widevine_pssh_data(
    key_ids: Sequence[bytes], *, scheme: SchemeName = "cenc", content_id: bytes = b""
) -> bytes:
    """A ``WidevinePsshData`` protobuf: key_ids (2), content_id (4), protection_scheme (9)."""
    _check_kids(key_ids)
    out = b"".join(_length_delimited(2, kid) for kid in key_ids)
    if content_id:
        out += _length_delimited(4, content_id)
    out += _varint(9 << 3 | 0) + _varint(int.from_bytes(scheme.encode("ascii"), "big"))
    return out


def widevine_pssh(
    key_ids: Sequence[bytes], *, scheme: SchemeName = "cenc", content_id: bytes = b""
) -> ProtectionSystemSpecificHeaderBox:
    """The Widevine PSSH (version 0) for these KIDs."""
    data = widevine_pssh_data(key_ids, scheme=scheme, content_id=content_id)
    return ProtectionSystemSpecificHeaderBox(WIDEVINE_SYSTEM_ID, data)


def playready_kid(key_id: bytes) -> str:
    """A KID as PlayReady writes it: the GUID's little-endian byte order, base64."""
    if len(key_id) != KID_SIZE:
        raise ValueError("a KID is 16 bytes")
    return base64.b64encode(uuid.UUID(bytes=key_id).bytes_le).decode("ascii")


def playready_checksum(key_id: bytes, key: bytes) -> str:
    """The WRM header's key checksum: the first 8 bytes of AES-ECB(key, KID in GUID order)."""
    check_key(key)
    encryptor = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    digest = encryptor.update(base64.b64decode(playready_kid(key_id))) + encryptor.finalize()
    return base64.b64encode(digest[:8]).decode("ascii")


def playready_header_xml(
    key_ids: Sequence[bytes],
    *,
    scheme: SchemeName = "cenc",
    license_url: str = "",
    content_key: bytes | None = None,
) -> str:
    """The WRM header: v4.0.0.0 (one KID, AESCTR) for 'cenc', v4.3.0.0 (AESCBC) for 'cbcs'.

    With ``content_key`` (one KID, 'cenc') the header carries its CHECKSUM.
    """
    _check_kids(key_ids)
    la_url = f"<LA_URL>{escape(license_url)}</LA_URL>" if license_url else ""
    if scheme == "cenc" and len(key_ids) == 1:
        checksum = ""
        if content_key is not None:
            checksum = f"<CHECKSUM>{playready_checksum(key_ids[0], content_key)}</CHECKSUM>"
        data = (
            "<PROTECTINFO><KEYLEN>16</KEYLEN><ALGID>AESCTR</ALGID></PROTECTINFO>"
            f"<KID>{playready_kid(key_ids[0])}</KID>{checksum}{la_url}"
        )
        version = "4.0.0.0"
    else:
        algid = "AESCTR" if scheme == "cenc" else "AESCBC"
        kids = "".join(
            f'<KID ALGID="{algid}" VALUE="{playready_kid(kid)}"></KID>' for kid in key_ids
        )
        data = f"<PROTECTINFO><KIDS>{kids}</KIDS></PROTECTINFO>{la_url}"
        version = "4.3.0.0"
    return (
        f'<WRMHEADER xmlns="{PLAYREADY_HEADER_NAMESPACE}" version="{version}">'
        f"<DATA>{data}</DATA></WRMHEADER>"
    )


def playready_object(header_xml: str) -> bytes:
    """A PlayReady Object with one Rights Management record holding ``header_xml``."""
    record = header_xml.encode("utf-16-le")
    size = 6 + 4 + len(record)
    return struct.pack("<IHHH", size, 1, _PLAYREADY_RIGHTS_MANAGEMENT_RECORD, len(record)) + record


def parse_playready_object(data: bytes) -> str:
    """The WRM header XML of a PlayReady Object (its first Rights Management record)."""
    size, count = struct.unpack_from("<IH", data, 0)
    if size != len(data):
        raise ValueError("PlayReady Object length does not match its data")
    pos = 6
    for _ in range(count):
        kind, length = struct.unpack_from("<HH", data, pos)
        if kind == _PLAYREADY_RIGHTS_MANAGEMENT_RECORD:
            return data[pos + 4 : pos + 4 + length].decode("utf-16-le")
        pos += 4 + length
    raise ValueError("PlayReady Object has no Rights Management header")


def playready_pssh(
    key_ids: Sequence[bytes],
    *,
    scheme: SchemeName = "cenc",
    license_url: str = "",
    content_key: bytes | None = None,
) -> ProtectionSystemSpecificHeaderBox:
    """The PlayReady PSSH (version 0) whose data is a PlayReady Object."""
    xml = playready_header_xml(
        key_ids, scheme=scheme, license_url=license_url, content_key=content_key
    )
    return ProtectionSystemSpecificHeaderBox(PLAYREADY_SYSTEM_ID, playready_object(xml))
