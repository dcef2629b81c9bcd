"""The base of every resource model, and parsing a body into one with ARM errors.

Everything a request may carry is checked here, once: types are strict (a
string is never taken for a list, ``5`` never for a string), floats are finite,
unknown keys are refused, and a failure names the field's full path the way
ARM does: ``properties.outputs[0].preset.codecs[1].layers[0].bitrate``.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any, TypeVar
from uuid import UUID

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
)
from pydantic.alias_generators import to_camel

from openvod.clock import as_utc, canonical_duration
from openvod.errors import InvalidRequestError

M = TypeVar("M", bound=BaseModel)


class ArmModel(BaseModel):
    """A part of an AMS resource as the SDK serializes it (camelCase on the wire)."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        strict=True,
        allow_inf_nan=False,
        extra="forbid",
        frozen=False,
        str_max_length=64 * 1024,
    )

    def to_json(self) -> dict[str, Any]:
        """The wire form: aliases, ``None`` fields left out."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


def field_path(location: Sequence[int | str], prefix: str = "") -> str:
    """A pydantic error location as ARM names it: ``a.b[0].c``.

    Discriminated-union tags (``'#Microsoft.Media.H264Video'``) and validator
    names that pydantic inserts into locations are left out.
    """
    text = prefix
    for part in location:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part.startswith("#") or part.startswith("function-"):
            continue
        else:
            text = f"{text}.{part}" if text else part
    return text


def error_path(error: Any, prefix: str = "") -> str:
    """Where a pydantic error points, as ARM names it; a bad ``@odata.type`` names that field."""
    where = field_path(error.get("loc", ()), prefix)
    if error.get("type") in ("union_tag_invalid", "union_tag_not_found"):
        where = f"{where}.@odata.type" if where else "@odata.type"
    return where


def _message(error: Any) -> str:
    msg = str(error.get("msg", "is not valid"))
    if error.get("type") == "extra_forbidden":
        return "is not a known property"
    if error.get("type") == "missing":
        return "is required"
    if error.get("type") == "value_error":  # a ValueError raised by a validator: its text alone
        msg = msg.removeprefix("Value error, ")
    return msg[0].lower() + msg[1:] if msg else msg


def validation_error(exc: ValidationError, prefix: str = "") -> InvalidRequestError:
    """The ARM 400 for a pydantic failure: the first error's path and reason."""
    first = exc.errors()[0]
    where = error_path(first, prefix) or prefix or "body"
    return InvalidRequestError(f"'{where}' {_message(first)}.", code="InvalidInput")


def parse(model: type[M], data: Any, prefix: str = "") -> M:
    """Validate JSON data (already decoded) into ``model``, or raise an ARM 400.

    ``prefix`` is where ``data`` sits in the request body, e.g. ``"properties"``.
    """
    try:
        return model.model_validate(data, strict=None)
    except ValidationError as exc:
        raise validation_error(exc, prefix) from None


def _require_text(value: Any) -> Any:
    if not isinstance(value, str):
        raise ValueError("must be a string")
    return value


def _check_duration(value: str) -> str:
    # One duration grammar for presets, inputs and filters; stored in the form the SDK reads.
    return canonical_duration(value)


def sdk_time(value: datetime) -> str:
    """A time as the SDK writes it: UTC, milliseconds at least, a 'Z' (``...T00:00:00.000Z``)."""
    utc = as_utc(value)
    fraction = str(utc.microsecond).rjust(6, "0").rstrip("0").ljust(3, "0")
    return (
        f"{utc.year:04}-{utc.month:02}-{utc.day:02}"
        f"T{utc.hour:02}:{utc.minute:02}:{utc.second:02}.{fraction}Z"
    )


def _utc(value: datetime) -> datetime:
    try:
        return as_utc(value)
    except OverflowError:  # 0001-01-01T00:00:00+01:00 is before the first UTC instant
        raise ValueError("is out of the range of UTC times") from None


def _check_base64(value: str) -> str:
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("must be base64 text") from None
    return value


# JSON carries times, ids and durations as strings: these types accept the string form
# (strict mode alone would insist on Python objects).
IsoTime = Annotated[datetime, BeforeValidator(_require_text), Field(strict=False)]
"""An ISO 8601 time (naive ones are UTC), written back as the SDK writes times."""
ArmTime = Annotated[
    datetime,
    BeforeValidator(_require_text),
    AfterValidator(_utc),
    PlainSerializer(sdk_time, return_type=str, when_used="json"),
    Field(strict=False),
]
Guid = Annotated[UUID, BeforeValidator(_require_text), Field(strict=False)]
Duration = Annotated[str, AfterValidator(_check_duration)]
Base64 = Annotated[str, AfterValidator(_check_base64)]
"""Bytes as base64 text (the SDK's ``bytearray`` fields), kept as sent."""
Tags = Annotated[dict[Annotated[str, Field(max_length=512)], Annotated[str, Field(max_length=256)]],
                 Field(max_length=50)]
"""ARM resource tags: at most 50, names up to 512 characters, values up to 256."""


class ArmResource(ArmModel):
    """A resource PUT/PATCH body; the read-only envelope a GET returned is accepted and ignored.

    ARM lets a client send back what it read: ``id``, ``name``, ``type`` and
    ``systemData`` are taken (any JSON) and never stored or echoed.
    """

    id: Any = Field(default=None, exclude=True)
    name: Any = Field(default=None, exclude=True)
    type: Any = Field(default=None, exclude=True)
    system_data: Any = Field(default=None, exclude=True)
