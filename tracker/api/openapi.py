"""``openapi.json``, built from the recorded operations and their pydantic schemas."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from tracker.api.frame import OPERATIONS, Operation

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "fields"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "fields": {"type": "object", "additionalProperties": {"type": "string"}},
            },
        }
    },
}

REF_PREFIX = "#/components/schemas/"


def build_spec(version: str) -> dict[str, Any]:
    """The OpenAPI 3.1 document of every recorded operation."""
    models: list[tuple[type[BaseModel], Any]] = []
    for op in OPERATIONS:
        if op.body is not None:
            models.append((op.body, "validation"))
        for out in (op.response, op.list_of):
            if out is not None:
                models.append((out, "serialization"))
    unique = list(dict.fromkeys(models))
    _, schema = models_json_schema(unique, ref_template=REF_PREFIX + "{model}")
    components = dict(schema.get("$defs", {}))
    components["Error"] = ERROR_SCHEMA
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        paths.setdefault(op.path, {})[op.method] = _operation(op, components)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Tracker API", "version": version},
        "servers": [{"url": "/api/v1"}],
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
        "paths": paths,
    }


def _schema_ref(model: type[BaseModel], components: dict[str, Any]) -> dict[str, Any]:
    # models_json_schema names a model by its class name, adding -Input/-Output only where the
    # two modes differ; find whichever it used.
    for name in (model.__name__, f"{model.__name__}-Input", f"{model.__name__}-Output"):
        if name in components:
            return {"$ref": REF_PREFIX + name}
    return {"$ref": REF_PREFIX + model.__name__}


def _operation(op: Operation, components: dict[str, Any]) -> dict[str, Any]:
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "integer"}}
        for name in _path_params(op.path)
    ] + op.query
    responses: dict[str, Any] = {}
    if op.list_of is not None:
        item = _schema_ref(op.list_of, components)
        content = {
            "type": "object",
            "required": ["items", "total", "page", "per_page"],
            "properties": {
                "items": {"type": "array", "items": item},
                "total": {"type": "integer"},
                "page": {"type": "integer"},
                "per_page": {"type": "integer"},
            },
        }
        responses[str(op.status)] = {
            "description": "a page of items, newest first",
            "content": {"application/json": {"schema": content}},
        }
    elif op.response is not None:
        responses[str(op.status)] = {
            "description": "OK",
            "content": {op.content_type: {"schema": _schema_ref(op.response, components)}},
        }
    else:
        responses[str(op.status)] = {"description": "OK"}
    error = {"content": {"application/json": {"schema": {"$ref": REF_PREFIX + "Error"}}}}
    for status, why in (
        ("400", "malformed request"),
        ("401", "missing or bad token"),
        ("403", "role too low"),
        ("404", "not found"),
        ("422", "a field is invalid"),
    ):
        if op.public and status in ("401", "403"):
            continue
        responses[status] = {"description": why, **error}
    operation: dict[str, Any] = {
        "summary": op.summary,
        "tags": [op.tag],
        "operationId": _operation_id(op),
        "parameters": parameters,
        "responses": responses,
    }
    if op.public:
        operation["security"] = []
    if op.body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _schema_ref(op.body, components)}},
        }
    return operation


def _operation_id(op: Operation) -> str:
    words = op.path.strip("/").replace("{", "").replace("}", "").replace(".", "_").split("/")
    return "_".join([op.method, *words])


def _path_params(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{") and part.endswith("}")]
