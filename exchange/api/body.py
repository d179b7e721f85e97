"""Reading JSON request bodies: each member checked against a `Field`, every problem listed."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask import request

from exchange.errors import ValidationError

_TYPE_NAMES: dict[type, str] = {
    str: "chuỗi",
    int: "số nguyên",
    float: "số",
    bool: "true hoặc false",
    list: "danh sách",
    dict: "đối tượng JSON",
}


@dataclass(frozen=True)
class Field:
    """One member of a JSON request body: its type, whether it is required, its default."""

    kind: type
    required: bool = True
    default: Any = None
    max_length: int | None = None
    items: type | None = None  # the element type of a list
    nullable: bool = False


def required(kind: type, *, max_length: int | None = None, items: type | None = None) -> Field:
    return Field(kind, required=True, max_length=max_length, items=items)


def optional(
    kind: type,
    default: Any = None,
    *,
    max_length: int | None = None,
    items: type | None = None,
    nullable: bool = True,
) -> Field:
    return Field(
        kind, required=False, default=default, max_length=max_length, items=items, nullable=nullable
    )


def check_value(value: Any, spec: Field) -> str | None:
    """Why `value` does not fit `spec`, or None when it does."""
    if value is None:
        return None if spec.nullable else "không được để null"
    # bool is an int in Python, never in a JSON schema.
    if spec.kind is not bool and isinstance(value, bool):
        return f"phải là {_TYPE_NAMES.get(spec.kind, spec.kind.__name__)}"
    accepted: tuple[type, ...] = (int, float) if spec.kind is float else (spec.kind,)
    if not isinstance(value, accepted):
        return f"phải là {_TYPE_NAMES.get(spec.kind, spec.kind.__name__)}"
    limit = spec.max_length
    if limit is not None and isinstance(value, str | list | dict) and len(value) > limit:
        unit = "ký tự" if isinstance(value, str) else "phần tử"
        return f"tối đa {spec.max_length} {unit}"
    if spec.items is not None and isinstance(value, list):
        element = Field(spec.items)
        for index, item in enumerate(value):
            problem = check_value(item, element)
            if problem:
                return f"phần tử thứ {index + 1} {problem}"
    return None


def parse_body(body: Any, fields: Mapping[str, Field]) -> dict[str, Any]:
    """The body's members checked against `fields`, defaults filled; 422 listing every problem."""
    if not isinstance(body, dict):
        raise ValidationError("nội dung yêu cầu phải là một đối tượng JSON")
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}
    for name in body:
        if name not in fields:
            errors[name] = "trường không được hỗ trợ"
    for name, spec in fields.items():
        if name not in body:
            if spec.required:
                errors[name] = "bắt buộc"
            else:
                values[name] = copy.copy(spec.default)  # a shared [] must not leak between calls
            continue
        problem = check_value(body[name], spec)
        if problem:
            errors[name] = problem
        else:
            values[name] = body[name]
    if errors:
        raise ValidationError(
            "dữ liệu gửi lên không hợp lệ: " + ", ".join(sorted(errors)), errors=errors
        )
    return values


def json_body(**fields: Field) -> dict[str, Any]:
    """The request's JSON object checked against `fields` (see `required`, `optional`)."""
    return parse_body(request.get_json(), fields)
