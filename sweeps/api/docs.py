"""A self-contained API reference page, rendered on the server from the OpenAPI schema.

drf-spectacular's Swagger and Redoc views load their JavaScript from a CDN, which offline
and air-gapped clusters cannot reach; this page needs nothing but the HTML it is sent in.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.template import engines
from django.utils.html import conditional_escape
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.http import require_GET
from drf_spectacular.generators import SchemaGenerator

TEMPLATE = Path(__file__).with_name("docs.html")
METHODS = ("get", "post", "put", "patch", "delete")
MAX_DEPTH = 6
# `code` in Markdown, ``code`` in the docstrings drf-spectacular takes descriptions from.
INLINE_CODE = re.compile(r"``(.+?)``|`([^`\n]+)`")


def build_schema() -> dict[str, Any]:
    """The API's OpenAPI schema (the same document ``/api/schema/`` serves)."""
    from sweeps.api.urls import schema_patterns

    return SchemaGenerator(patterns=schema_patterns()).get_schema(request=None, public=True)


def _ref_name(schema: dict[str, Any]) -> str | None:
    ref = schema.get("$ref")
    return ref.rsplit("/", 1)[-1] if isinstance(ref, str) else None


def _deref(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    name = _ref_name(schema)
    if name is not None:
        return components.get(name, {})
    # drf-spectacular wraps nullable references as {"allOf": [ref], "nullable": true}.
    if "allOf" in schema and len(schema["allOf"]) == 1:
        return {**_deref(schema["allOf"][0], components), "nullable": schema.get("nullable")}
    if "oneOf" in schema:
        variants = [_deref(s, components) for s in schema["oneOf"]]
        concrete = [v for v in variants if v.get("type") != "null"]
        if len(concrete) == 1:
            return {**concrete[0], "nullable": len(concrete) < len(variants)}
    return schema


def type_label(schema: dict[str, Any], components: dict[str, Any]) -> str:
    """A short human label: ``string``, ``integer``, ``array of Trial``, ``Sweep``..."""
    name = _ref_name(schema)
    if name is not None:
        return name
    if "allOf" in schema and len(schema["allOf"]) == 1:
        label = type_label(schema["allOf"][0], components)
        return f"{label} or null" if schema.get("nullable") else label
    if "oneOf" in schema:
        return " or ".join(type_label(s, components) for s in schema["oneOf"])
    kind = schema.get("type", "any")
    if kind == "array":
        return f"array of {type_label(schema.get('items', {}), components)}"
    if schema.get("format"):
        kind = f"{kind} ({schema['format']})"
    if schema.get("nullable"):
        kind = f"{kind} or null"
    return str(kind)


def _prose(text: str | None) -> str:
    # drf-spectacular describes enums as "* `a` - a" lines; the rules column lists them.
    lines = (text or "").splitlines()
    return "\n".join(line for line in lines if not line.startswith("* `")).strip()


def _rules(schema: dict[str, Any]) -> str:
    parts = []
    if "enum" in schema:
        parts.append("one of " + ", ".join(json.dumps(v) for v in schema["enum"] if v is not None))
    for key, label in (
        ("minimum", ">="),
        ("maximum", "<="),
        ("minLength", "min length"),
        ("maxLength", "max length"),
        ("minItems", "min items"),
    ):
        if key in schema:
            parts.append(f"{label} {schema[key]}")
    if "default" in schema:
        parts.append(f"default {json.dumps(schema['default'])}")
    return "; ".join(parts)


def field_rows(
    schema: dict[str, Any], components: dict[str, Any], prefix: str = "", depth: int = 0
) -> list[dict[str, Any]]:
    """The fields of an object schema, nested ones as dotted paths (``objective.mode``)."""
    schema = _deref(schema, components)
    required = set(schema.get("required", []))
    rows: list[dict[str, Any]] = []
    for name, prop in schema.get("properties", {}).items():
        path = f"{prefix}{name}"
        resolved = _deref(prop, components)
        rows.append(
            {
                "path": path,
                "type": type_label(prop, components),
                "required": name in required,
                "rules": _rules(resolved),
                "description": _prose(resolved.get("description") or prop.get("description")),
                "read_only": bool(resolved.get("readOnly") or prop.get("readOnly")),
            }
        )
        if depth < MAX_DEPTH and resolved.get("properties"):
            rows.extend(field_rows(resolved, components, f"{path}.", depth + 1))
        extra = resolved.get("additionalProperties")
        if depth < MAX_DEPTH and isinstance(extra, dict) and extra:
            rows.extend(field_rows(extra, components, f"{path}.<name>.", depth + 1))
    return rows


def operations(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """Every operation of ``schema`` with its parameters, request body and responses."""
    components = schema.get("components", {}).get("schemas", {})
    out = []
    for url, item in schema.get("paths", {}).items():
        for method in METHODS:
            op = item.get(method)
            if op is None:
                continue
            body = None
            content = op.get("requestBody", {}).get("content", {})
            if content:
                media, spec = next(iter(content.items()))
                body_schema = spec.get("schema", {})
                body = {
                    "media": media,
                    "type": type_label(body_schema, components),
                    "fields": field_rows(body_schema, components),
                }
            responses = []
            for code, response in op.get("responses", {}).items():
                for media, spec in (response.get("content") or {"": {}}).items():
                    label = type_label(spec.get("schema", {}), components) if spec else ""
                    ref = label.removeprefix("array of ").removesuffix(" or null")
                    responses.append(
                        {
                            "code": code,
                            "media": media,
                            "type": label,
                            "ref": ref if ref in components else "",
                            "description": response.get("description", ""),
                        }
                    )
            out.append(
                {
                    "id": op.get("operationId", f"{method}-{url}"),
                    "method": method.upper(),
                    "path": url,
                    "summary": op.get("summary", ""),
                    "description": op.get("description", ""),
                    "parameters": [
                        {
                            "name": p["name"],
                            "in": p["in"],
                            "required": p.get("required", False),
                            "type": type_label(p.get("schema", {}), components),
                            "rules": _rules(p.get("schema", {})),
                            "description": p.get("description", ""),
                        }
                        for p in op.get("parameters", [])
                    ],
                    "body": body,
                    "responses": responses,
                }
            )
    return out


def inline_code(text: str | None) -> SafeString:
    """``text`` as HTML: escaped, with its backticked spans (single or double) in ``<code>``."""
    escaped = str(conditional_escape(text or ""))
    return mark_safe(INLINE_CODE.sub(lambda m: f"<code>{m.group(1) or m.group(2)}</code>", escaped))


def _with_code(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**row, "description": inline_code(row.get("description"))} for row in rows]


def _page_operations(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """:func:`operations` with every description (and summary) as HTML for the page."""
    out = []
    for op in operations(schema):
        body = op["body"] and {**op["body"], "fields": _with_code(op["body"]["fields"])}
        out.append(
            {
                **op,
                "summary": inline_code(op["summary"]),
                "description": inline_code(op["description"]),
                "parameters": _with_code(op["parameters"]),
                "body": body,
                "responses": _with_code(op["responses"]),
            }
        )
    return out


@cache
def render_page() -> str:
    """The reference page's HTML; the schema only changes with the code, so build it once."""
    schema = build_schema()
    components = schema.get("components", {}).get("schemas", {})
    info = schema.get("info", {})
    context = {
        "info": {**info, "description": inline_code(info.get("description"))},
        "operations": _page_operations(schema),
        "components": [
            {
                "name": name,
                "description": inline_code(spec.get("description")),
                "fields": _with_code(field_rows(spec, components)),
            }
            for name, spec in sorted(components.items())
        ],  # fmt: skip
    }
    template = engines["django"].from_string(TEMPLATE.read_text())
    return template.render(context)


@login_not_required
@require_GET
def api_docs(request: HttpRequest) -> HttpResponse:
    """``/api/docs/``: the API reference, readable without JavaScript or network access."""
    return HttpResponse(render_page())
