"""Shared pieces of the AMS wire models: ``@odata.type`` unions, enums, whole numbers.

AMS marks every polymorphic object with ``@odata.type``. The unions here
check that tag before pydantic picks a member, so a type the SDK knows but
openvod cannot run (``H265Video``, ``JobInputSequence``) is refused with a
sentence saying so, and the error names the ``@odata.type`` field.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, get_args

from pydantic import BeforeValidator, Field
from pydantic_core import PydanticCustomError

NS = "#Microsoft.Media."
ODATA = "@odata.type"


def odata_field() -> Any:
    """The ``@odata.type`` discriminator field (a ``Literal`` of one tag on each model)."""
    return Field(alias=ODATA)


def refusal(reason: str) -> PydanticCustomError:
    """A validation error whose message is exactly ``reason`` (no 'Value error,' prefix)."""
    return PydanticCustomError("refused", "{reason}", {"reason": reason})


def check_odata_type(
    supported: Sequence[str], kind: str, refused: Mapping[str, str] | None = None
) -> BeforeValidator:
    """Refuse an object whose ``@odata.type`` is missing or not one of ``supported``.

    ``refused`` maps tags openvod knows but cannot run to the reason.
    """
    refused = refused or {}
    names = ", ".join(tag.removeprefix(NS) for tag in supported)

    def check(value: Any) -> Any:
        if not isinstance(value, dict):
            return value  # the model reports 'must be an object'
        tag = value.get(ODATA)
        if tag in supported:
            return value
        if tag is None:
            reason = f"is required: the {kind} type, one of {names}"
        elif isinstance(tag, str) and tag in refused:
            reason = refused[tag]
        else:
            reason = f"is not a supported {kind} type: {tag!r}; use one of {names}"
        raise PydanticCustomError(
            "union_tag_invalid", "{reason}", {"reason": reason, "discriminator": f"'{ODATA}'"}
        )

    return BeforeValidator(check)


def canonical_case(literal: Any) -> BeforeValidator:
    """Match an enum string case-insensitively (the SDK's enums are) and give its canonical case."""
    choices: tuple[str, ...] = get_args(literal)

    def canonical(value: Any) -> Any:
        if isinstance(value, str):
            for choice in choices:
                if choice.lower() == value.lower():
                    return choice
        return value  # the Literal reports the allowed values

    return BeforeValidator(canonical)


def _whole(value: Any) -> Any:
    # JSON has one number type: 1e6 and 3000000.0 are whole numbers, True is not.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


WHOLE = BeforeValidator(_whole)


def checked(check: Callable[[str], object]) -> Callable[[str], str]:
    """An after-validator running ``check`` on a string and keeping the string as sent."""

    def validate(value: str) -> str:
        try:
            check(value)
        except ValueError as exc:
            raise refusal(str(exc)) from None
        return value

    return validate
