"""Typed request bodies: decoded by ``json_body``, validated into a resource model.

FastAPI's own body parsing is not used: ``json_body`` is the one place JSON is
decoded (and hardened), and :func:`openvod.resources.base.parse` turns a bad
field into an ARM 400 naming its path. The models still appear in the OpenAPI
document: each route says which model its body is (:func:`body_schema`) and
:func:`install_body_schemas` adds the models' JSON schemas to the components.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from fastapi import Depends, FastAPI
from pydantic import BaseModel

from openvod.api.deps import json_body
from openvod.errors import InvalidRequestError
from openvod.resources.base import parse

M = TypeVar("M", bound=BaseModel)
_REF = "#/components/schemas/{model}"
_MODELS: dict[str, type[BaseModel]] = {}


def typed_body(model: type[M]) -> Callable[..., Coroutine[Any, Any, M]]:
    """A dependency giving the request body validated as ``model``."""
    _MODELS[model.__name__] = model

    async def dependency(body: dict[str, Any] = Depends(json_body)) -> M:
        try:
            return parse(model, body)
        except InvalidRequestError as exc:
            # AMS answered a bad transform or job body with 'BadRequest'; SDK users match on it.
            raise InvalidRequestError(exc.message, code="BadRequest") from None

    return dependency


def body_schema(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` for a route whose JSON body is ``model``."""
    _MODELS[model.__name__] = model
    content = {"application/json": {"schema": {"$ref": _REF.format(model=model.__name__)}}}
    return {"requestBody": {"required": True, "content": content}}


def install_body_schemas(app: FastAPI) -> None:
    """Put the JSON schema of every body model (and the models they use) in ``/openapi.json``."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        document = build()
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        for name, model in _MODELS.items():
            schema = model.model_json_schema(by_alias=True, ref_template=_REF)
            schemas.update(schema.pop("$defs", {}))
            schemas[name] = schema
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]
