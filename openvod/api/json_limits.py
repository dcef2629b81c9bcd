"""Decoding a management request body: strict JSON within limits, or an ARM 400.

Python's ``json`` module takes what JSON does not allow (``NaN``,
``Infinity``), turns ``1e400`` into infinity, and raises other exceptions
than ``JSONDecodeError`` for a 5000-digit integer (ValueError) or deeply
nested arrays (RecursionError). Every one of those is a 400 here, so no
handler ever sees a non-finite float, an oversized integer or a deep tree.
"""

from __future__ import annotations

import json
import math
from typing import Any

from openvod.errors import InvalidRequestError

MAX_BODY_BYTES = 4 * 1024 * 1024  # ARM refuses request bodies over 4 MB
MAX_DEPTH = 64
MAX_INTEGER_DIGITS = 40  # any int64/uint64 fits; a bigger integer is never meaningful


class _Refused(ValueError):
    """A JSON value the decoder hooks refuse."""


def _constant(name: str) -> Any:
    raise _Refused(f"'{name}' is not a JSON number")


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _Refused(f"the number {text[:40]} is out of range")
    return value


def _int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INTEGER_DIGITS:
        raise _Refused(f"an integer has more than {MAX_INTEGER_DIGITS} digits")
    return int(text)


def _is_text(value: str) -> bool:
    """False for a string holding a lone surrogate (``"\\ud800"``), which is no Unicode text,
    or NUL, which no name or property holds (and PostgreSQL text cannot store)."""
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _tree_problem(value: Any) -> str | None:
    """Why a decoded body is refused: nested deeper than MAX_DEPTH, or a string that is not text.

    Iterative, so a deep tree cannot exhaust the stack.
    """
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, str):
            if not _is_text(node):
                return "a string holds an unpaired surrogate escape or NUL"
            continue
        if isinstance(node, dict):
            children: list[Any] = [*node.keys(), *node.values()]
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > MAX_DEPTH:
            return f"it nests deeper than {MAX_DEPTH} levels"
        stack.extend((child, depth + 1) for child in children)
    return None


def decode_json(raw: bytes) -> dict[str, Any]:
    """Decode a request body that must be a JSON object; InvalidRequestError otherwise."""
    if len(raw) > MAX_BODY_BYTES:
        raise InvalidRequestError(
            f"The request body is larger than {MAX_BODY_BYTES} bytes.", code="InvalidInput")
    try:
        text = raw.decode("utf-8")
        body = json.loads(text, parse_constant=_constant, parse_float=_float, parse_int=_int)
    except _Refused as exc:
        raise InvalidRequestError(f"The request body is not valid JSON: {exc}.") from None
    except RecursionError:
        raise InvalidRequestError(
            f"The request body nests deeper than {MAX_DEPTH} levels.") from None
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError is a ValueError
        raise InvalidRequestError(f"The request body is not valid JSON: {exc}") from None
    problem = _tree_problem(body)
    if problem is not None:
        raise InvalidRequestError(f"The request body is refused: {problem}.")
    if not isinstance(body, dict):
        raise InvalidRequestError("The request body must be a JSON object.")
    return body
