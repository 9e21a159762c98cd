"""The API reference at /api/docs, drawn on the server from the OpenAPI document.

Plain HTML in the app's own look: it works offline, needs no script, and is readable by screen
readers and keyboards (Swagger UI was neither). Each operation shows its parameters, request
body and responses; each schema its fields, linked wherever it is used.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

METHODS = ("get", "post", "put", "patch", "delete")


@dataclass
class Field:
    name: str
    type: str
    required: bool
    description: str
    schema_ref: str | None = None


@dataclass
class Operation:
    id: str
    method: str
    path: str
    summary: str
    description: str
    secured: bool
    parameters: list[Field] = field(default_factory=list)
    body: list[Field] = field(default_factory=list)
    body_ref: str | None = None
    body_type: str = ""
    responses: list[tuple[str, str, str | None]] = field(default_factory=list)


@dataclass
class Tag:
    name: str
    title: str
    description: str
    operations: list[Operation] = field(default_factory=list)


def _ref_name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


def describe_type(schema: dict[str, Any]) -> tuple[str, str | None]:
    """A short type for people ("array of QRCode", "string, one of: a, b") and the schema it
    links to, if any."""
    if "$ref" in schema:
        name = _ref_name(schema["$ref"])
        return name, name
    kind = schema.get("type", "object")
    if kind == "array":
        inner, ref = describe_type(schema.get("items", {}))
        return f"array of {inner}", ref
    words = kind + (f" ({schema['format']})" if schema.get("format") else "")
    if schema.get("enum"):
        words += ", one of: " + ", ".join(str(v) for v in schema["enum"])
    limits = [f"{label} {schema[key]}" for key, label in (
        ("minimum", "≥"), ("maximum", "≤"), ("minLength", "length ≥"), ("maxLength", "length ≤"))
        if key in schema]
    if limits:
        words += "; " + ", ".join(limits)
    if schema.get("nullable"):
        words += "; may be null"
    return words, None


def _fields(schema: dict[str, Any]) -> list[Field]:
    required = set(schema.get("required", []))
    result = []
    for name, prop in (schema.get("properties") or {}).items():
        kind, ref = describe_type(prop)
        notes = prop.get("description", "")
        if prop.get("readOnly"):
            notes = ("read only. " + notes).strip()
        if prop.get("writeOnly"):
            notes = ("write only. " + notes).strip()
        if "default" in prop and prop["default"] not in ("", None):
            notes = f"{notes} Default: {prop['default']}.".strip()
        result.append(Field(name, kind, name in required, notes, ref))
    return result


def _body(operation: dict[str, Any]) -> tuple[list[Field], str | None, str]:
    content = (operation.get("requestBody") or {}).get("content") or {}
    for media_type, media in content.items():
        schema = media.get("schema") or {}
        if "$ref" in schema:
            return [], _ref_name(schema["$ref"]), media_type
        return _fields(schema), None, media_type
    return [], None, ""


def _responses(spec: dict[str, Any], operation: dict[str, Any]):
    shared = spec.get("components", {}).get("responses", {})
    rows = []
    for status, response in sorted(operation.get("responses", {}).items()):
        if "$ref" in response:
            response = shared.get(_ref_name(response["$ref"]), {})
        schema = ((response.get("content") or {}).get("application/json") or {}).get("schema")
        ref = describe_type(schema)[1] if schema else None
        rows.append((status, response.get("description", ""), ref))
    return rows


def tag_title(name: str) -> str:
    """A tag's heading: its name in words, without the "_api" blueprints end with
    (``assets_api`` → "Assets", ``qr_codes`` → "QR codes"); the tag itself is left as it is in
    the document, which clients may group by."""
    words = name.removesuffix("_api").replace("_", " ").capitalize()
    return "QR" + words[2:] if words.lower().startswith("qr") else words


def build(spec: dict[str, Any]) -> dict[str, Any]:
    """The document regrouped for the page: tags with their operations, and the schemas."""
    tags = {t["name"]: Tag(t["name"], tag_title(t["name"]), t.get("description", ""))
            for t in spec.get("tags", [])}
    for path, item in spec.get("paths", {}).items():
        for method in METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            tag_name = (operation.get("tags") or ["other"])[0]
            tag = tags.setdefault(tag_name, Tag(tag_name, tag_title(tag_name), ""))
            parameters = [Field(p["name"], describe_type(p.get("schema", {}))[0],
                                bool(p.get("required")), p.get("description", ""))
                          for p in operation.get("parameters", []) + item.get("parameters", [])
                          if p.get("in") != "header"]
            body, body_ref, body_type = _body(operation)
            slug = f"{method}-{path}".replace("/", "-").replace("{", "").replace("}", "")
            tag.operations.append(Operation(
                id="op" + slug.lower(), method=method.upper(), path=path,
                summary=operation.get("summary", ""),
                description=operation.get("description", ""),
                secured=bool(operation.get("security")), parameters=parameters, body=body,
                body_ref=body_ref, body_type=body_type,
                responses=_responses(spec, operation)))
    schemas = {name: _fields(schema) for name, schema in
               sorted(spec.get("components", {}).get("schemas", {}).items())}
    return {"info": spec.get("info", {}), "tags": [t for t in tags.values() if t.operations],
            "schemas": schemas}
