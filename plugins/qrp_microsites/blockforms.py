"""A block type's form in the builder, drawn from its schema (``Block.schema``), so a block
type another plugin adds gets its form with no template of its own.

``form_fields(block)`` describes each input from the marshmallow field (a ``Text`` is a text
box, ``RichText`` the small editor, ``Url`` a link, ``AssetId`` a pick from the media library,
``Color``, a ``Choice`` a select, ``Boolean`` a checkbox, numbers, and a list of nested items as
repeatable rows). A field's ``metadata`` may say ``label``, ``description`` (the help line),
``labels`` (a choice's value -> label) and ``input`` (``textarea``, ``time``...).

``read_form(block, form)`` turns the posted inputs (``f.<name>``, ``f.<list>.<i>.<name>``) back
into the raw block the service validates; ``field_errors(messages)`` puts the service's
messages (``blocks.3.links`` -> ``{0: {"url": [...]}}``) on the inputs' names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from marshmallow import Schema, fields, missing, validate

from qrp_microsites import blocks as block_registry
from qrp_microsites.fields import AssetId, Color, RichText, Text, Url

PREFIX = "f"
LABELS = {
    "asset_id": "Picture", "avatar_asset_id": "Profile picture",
    "poster_asset_id": "Picture shown before playing", "url": "Link", "html": "Text",
    "alt": "Alternative text", "bio": "Short bio", "ssid": "Network name (SSID)",
    "organization": "Organisation", "level": "Size", "align": "Alignment",
    "button": "Button label", "success": "Message after sending", "consent": "Privacy note",
    "links": "Links", "items": "Pictures", "days": "Days", "fields": "Fields to ask for",
    "security": "Security", "hidden": "Hidden network", "postcode": "Postcode",
    "closed": "Closed", "opens": "Opens", "closes": "Closes", "network": "Network",
}
CHOICE_LABELS = {
    "network": block_registry.SOCIAL_NETWORKS,
    "day": block_registry.DAY_NAMES,
    "level": {"h2": "Large", "h3": "Small"},
    "security": {"WPA": "WPA/WPA2/WPA3", "WEP": "WEP", "nopass": "Open (no password)"},
    "icon": {"": "No icon"},
}
# Inputs chosen by a field's name when its metadata says nothing.
INPUTS_BY_NAME = {"opens": "time", "closes": "time", "email": "email", "phone": "tel",
                  "mobile": "tel"}


@dataclass
class FieldSpec:
    name: str            # the key in the block's data and in the posted form
    label: str
    kind: str            # text textarea richtext url email tel time asset color select
    #                      checkbox number list
    required: bool = False
    help: str = ""
    choices: list[tuple[str, str]] = field(default_factory=list)
    max_length: int | None = None
    asset_kinds: tuple[str, ...] = ()
    items: list[FieldSpec] = field(default_factory=list)   # a list's row fields
    max_items: int | None = None
    allow_none: bool = False
    default: Any = None               # what the schema fills in when the input is left out


def _length(declared) -> tuple[int | None, int | None]:
    validators = declared.validators or []
    for validator in validators:
        if isinstance(validator, validate.Length):
            return validator.min, validator.max
    return None, None


def _choices(name: str, declared) -> list[tuple[str, str]] | None:
    for validator in declared.validators or []:
        if isinstance(validator, validate.OneOf):
            labels = {**CHOICE_LABELS.get(name, {}), **(declared.metadata.get("labels") or {})}
            if name == "name" and set(validator.choices) <= set(block_registry.LEAD_FIELDS):
                labels = {**block_registry.LEAD_FIELDS, **labels}
            return [(str(v), labels.get(v) or str(v).replace("_", " ").capitalize())
                    for v in validator.choices]
    return None


def _help(declared) -> str:
    text = declared.metadata.get("description", "")
    # A link's own line (the schemes it takes) and the rich text's (the HTML it keeps) are
    # for API clients; the page's editor shows them instead.
    if isinstance(declared, Url) and text.startswith("a link: "):
        return ""
    return "" if isinstance(declared, RichText) and text.startswith("HTML") else text


def _default(declared) -> Any:
    value = declared.load_default
    return None if value is missing or callable(value) else value


def _label(name: str, declared) -> str:
    if declared.metadata.get("label"):
        return declared.metadata["label"]
    if isinstance(declared, AssetId) and tuple(declared.kinds) == ("pdf",):
        return "PDF file"
    return LABELS.get(name) or name.replace("_", " ").capitalize()


def _spec(name: str, declared) -> FieldSpec:
    low, high = _length(declared)
    spec = FieldSpec(name=name, label=_label(name, declared), kind="text",
                     required=bool(declared.required or (low or 0) >= 1),
                     help=_help(declared), max_length=high,
                     allow_none=bool(declared.allow_none), default=_default(declared))
    if isinstance(declared, RichText):
        spec.kind, spec.max_length = "richtext", None
    elif isinstance(declared, Url):
        spec.kind = "url"
    elif isinstance(declared, AssetId):
        spec.kind, spec.asset_kinds = "asset", tuple(declared.kinds)
    elif isinstance(declared, Color):
        spec.kind = "color"
    elif isinstance(declared, fields.Boolean):
        spec.kind = "checkbox"
    elif isinstance(declared, fields.Number):
        spec.kind = "number"
    elif isinstance(declared, fields.List) and isinstance(declared.inner, fields.Nested):
        spec.kind, spec.max_items, spec.max_length = "list", high, None
        spec.items = form_fields_of(declared.inner.nested)
    elif (choices := _choices(name, declared)) is not None:
        spec.kind, spec.choices = "select", choices
    elif isinstance(declared, Text) and declared.multiline:
        spec.kind = "textarea"
    elif isinstance(declared, fields.String):
        spec.kind = INPUTS_BY_NAME.get(name, "text")
    spec.kind = declared.metadata.get("input", spec.kind)
    return spec


def form_fields_of(schema) -> list[FieldSpec]:
    schema_class = schema if isinstance(schema, type) else type(schema)
    if not issubclass(schema_class, Schema):
        return []
    return [_spec(declared.data_key or name, declared)
            for name, declared in schema_class._declared_fields.items()
            if not declared.dump_only]


def form_fields(block: block_registry.Block) -> list[FieldSpec]:
    return form_fields_of(block.schema)


# -- reading the posted form -------------------------------------------------------------------

def _value(spec: FieldSpec, form, key: str) -> tuple[bool, Any]:
    """(present, value) of one input. Left empty: a required input is sent empty (so the
    check names it), a text stays empty, a field that takes none gets None, anything else is
    left out (its default applies)."""
    if spec.kind == "checkbox":
        return True, key in form
    raw = form.get(key)
    if raw is None:
        return False, None
    raw = raw if spec.kind in ("richtext", "textarea") else raw.strip()
    if raw != "":
        return True, raw
    if spec.kind == "select" and "" in (value for value, _label in spec.choices):
        return True, ""
    if spec.allow_none:
        return True, None
    if spec.required or spec.kind in ("text", "textarea", "richtext", "time", "email", "tel"):
        return True, ""
    return False, None


def _rows(form, key: str) -> list[int]:
    marker = f".{'_row'}"
    found = set()
    for name in form:
        if name.startswith(key + ".") and name.endswith(marker):
            index = name[len(key) + 1:-len(marker)]
            if index.isdigit() and len(index) < 4:
                found.add(int(index))
    return sorted(found)


def read_fields(specs: list[FieldSpec], form, prefix: str) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for spec in specs:
        key = f"{prefix}.{spec.name}"
        if spec.kind == "list":
            data[spec.name] = [read_fields(spec.items, form, f"{key}.{i}")
                               for i in _rows(form, key)]
            continue
        present, value = _value(spec, form, key)
        if present:
            data[spec.name] = value
    return data


def read_form(block: block_registry.Block, form) -> dict[str, Any]:
    """The raw block (``type`` and its fields) from a posted block form."""
    return {"type": block.name, **read_fields(form_fields(block), form, PREFIX)}


def change_rows(block: block_registry.Block, data: dict[str, Any], action: str
                ) -> dict[str, Any]:
    """``add:<list>`` or ``remove:<list>:<index>``: a row more or fewer (not saved yet)."""
    specs = {s.name: s for s in form_fields(block) if s.kind == "list"}
    parts = action.split(":")
    spec = specs.get(parts[1]) if len(parts) >= 2 else None
    if spec is None:
        return data
    rows = list(data.get(spec.name) or [])
    if parts[0] == "add" and (spec.max_items is None or len(rows) < spec.max_items):
        rows.append({})
    elif parts[0] == "remove" and len(parts) == 3 and parts[2].isdigit():
        index = int(parts[2])
        if 0 <= index < len(rows):
            rows.pop(index)
    return {**data, spec.name: rows}


# -- the service's messages beside the inputs --------------------------------------------------

def _flatten(messages: Any, key: str, into: dict[str, list[str]]) -> None:
    if isinstance(messages, dict):
        for name, inner in messages.items():
            if name == "_schema":
                _flatten(inner, key, into)
            else:
                _flatten(inner, f"{key}.{name}", into)
    elif isinstance(messages, list | tuple):
        for message in messages:
            if isinstance(message, dict | list | tuple):
                _flatten(message, key, into)
            else:
                into.setdefault(key, []).append(str(message))
    elif messages is not None:
        into.setdefault(key, []).append(str(messages))


def field_errors(fields_messages: dict[str, Any], position: int | None) -> dict[str, list[str]]:
    """The messages about the block at ``position`` (``blocks.<position>...``), keyed by the
    form's input names (``f.url``, ``f.links.0.url``); ``f`` holds those about the whole
    block."""
    found: dict[str, list[str]] = {}
    head = f"blocks.{position}" if position is not None else None
    for name, messages in (fields_messages or {}).items():
        if head and (name == head or name.startswith(head + ".")):
            rest = name[len(head):]
            _flatten(messages, PREFIX + rest, found)
        elif name in ("blocks", "_schema") or head is None:
            _flatten(messages, PREFIX, found)
    return found


def input_labels(specs: list[FieldSpec], data: dict[str, Any], prefix: str = PREFIX,
                 within: str = "") -> dict[str, str]:
    """Input name -> what to call it in the summary of problems (``Links 2: Link``)."""
    names = {}
    for spec in specs:
        key = f"{prefix}.{spec.name}"
        names[key] = f"{within}{spec.label}"
        if spec.kind == "list":
            for i, row in enumerate(data.get(spec.name) or []):
                names[f"{key}.{i}"] = f"{within}{spec.label} {i + 1}"
                names |= input_labels(spec.items, row if isinstance(row, dict) else {},
                                      f"{key}.{i}", f"{within}{spec.label} {i + 1}: ")
    return names
