"""Reading request bodies: each JSON member checked against a `Field`, every problem listed.

Whatever a request's JSON holds is checked once, where it is parsed (`load_json`, the JSON
module of `ExchangeRequest`): nesting deeper than `MAX_JSON_DEPTH` is a 400, and text no database
stores (NUL, lone UTF-16 surrogates), integers beyond 64 bits and non-finite numbers are a 422
naming the member. Multipart form text is decoded strictly (`StrictFormDataParser`): bytes that
are not UTF-8 become lone surrogates, which the API refuses by field like the JSON ones.
"""

from __future__ import annotations

import codecs
import copy
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import IO, Any

from flask import json, request
from werkzeug.datastructures import Headers
from werkzeug.formparser import FormDataParser, MultiPartParser

from exchange.errors import ExchangeError, ValidationError

MAX_JSON_DEPTH = 64
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


class JsonTooDeepError(ExchangeError):
    status = 400
    slug = "json-too-deep"
    title = "JSON lồng quá sâu"


def field_label(name: str) -> str:
    """A member's name as it can be shown back (lone surrogates written as `\\udXXX`)."""
    return name.encode("utf-8", "backslashreplace").decode("utf-8")


def text_problem(text: str) -> str | None:
    """Why a text cannot be stored (NUL, a lone surrogate, bytes that were not UTF-8), or None."""
    if "\x00" in text:
        return "chứa ký tự NUL (\\u0000), không được chấp nhận"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "không phải văn bản UTF-8 hợp lệ (có ký tự thay thế UTF-16 đứng lẻ)"
    return None


def _value_problems(value: Any) -> Iterator[tuple[str, str]]:
    """(member path, problem) for every member of a parsed JSON value no database can store."""
    stack: list[tuple[str, Any, int]] = [("", value, 0)]
    while stack:
        path, item, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise JsonTooDeepError(f"nội dung JSON lồng quá {MAX_JSON_DEPTH} cấp")
        if isinstance(item, dict):
            for key, member in item.items():
                child = f"{path}.{field_label(key)}" if path else field_label(key)
                problem = text_problem(key)
                if problem:
                    yield child, problem
                stack.append((child, member, depth + 1))
        elif isinstance(item, list):
            for index, member in enumerate(item):
                stack.append((f"{path}[{index}]", member, depth + 1))
        elif isinstance(item, str):
            problem = text_problem(item)
            if problem:
                yield path, problem
        elif isinstance(item, bool):
            continue
        elif isinstance(item, int) and not INT64_MIN <= item <= INT64_MAX:
            yield path, "số quá lớn"
        elif isinstance(item, float) and not math.isfinite(item):
            yield path, "số quá lớn hoặc không phải số"


def load_json(data: str | bytes, **kwargs: Any) -> Any:
    """The parsed JSON, checked: 400 when nested too deep, 422 naming every member unstorable."""
    try:
        value = json.loads(data, **kwargs)
    except RecursionError:
        raise JsonTooDeepError(f"nội dung JSON lồng quá {MAX_JSON_DEPTH} cấp") from None
    errors = {path or "(nội dung)": problem for path, problem in _value_problems(value)}
    if errors:
        raise ValidationError(
            "dữ liệu gửi lên không hợp lệ: " + ", ".join(sorted(errors)), errors=errors
        )
    return value


class CheckedJson:
    """The JSON module of `ExchangeRequest`: `flask.json` with `load_json` for parsing."""

    loads = staticmethod(load_json)
    dumps = staticmethod(json.dumps)
    dump = staticmethod(json.dump)
    load = staticmethod(json.load)


FORM_TEXT_CODEC = "congvan_form_utf_8"


def _form_text_decode(data: Any, errors: str = "strict", /) -> tuple[str, int]:
    # Werkzeug always asks for "replace"; undecodable bytes become lone surrogates instead, so
    # that the API refuses them by field rather than storing U+FFFD.
    return codecs.utf_8_decode(data, "surrogateescape", True)


def _find_form_codec(name: str) -> codecs.CodecInfo | None:
    if name != FORM_TEXT_CODEC:
        return None
    utf8 = codecs.lookup("utf-8")
    return codecs.CodecInfo(utf8.encode, _form_text_decode, name=FORM_TEXT_CODEC)


codecs.register(_find_form_codec)


class StrictMultiPartParser(MultiPartParser):
    def get_part_charset(self, headers: Headers) -> str:
        charset = super().get_part_charset(headers)
        return charset if charset == "iso-8859-1" else FORM_TEXT_CODEC


class StrictFormDataParser(FormDataParser):
    """Werkzeug's form parser, but multipart text that is not UTF-8 is kept recognisable."""

    def _parse_multipart(
        self, stream: IO[bytes], mimetype: str, content_length: int | None, options: dict[str, str]
    ) -> Any:
        parser = StrictMultiPartParser(
            stream_factory=self.stream_factory,
            max_form_memory_size=self.max_form_memory_size,
            max_form_parts=self.max_form_parts,
            cls=self.cls,
        )
        boundary = options.get("boundary", "").encode("ascii")
        if not boundary:
            raise ValueError("Missing boundary")
        form, files = parser.parse(stream, boundary, content_length)
        return stream, form, files


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
    minimum: int | None = None
    maximum: int | None = None


def required(kind: type, *, max_length: int | None = None, items: type | None = None) -> Field:
    return Field(kind, required=True, max_length=max_length, items=items)


def optional(
    kind: type,
    default: Any = None,
    *,
    max_length: int | None = None,
    items: type | None = None,
    nullable: bool = True,
    minimum: int | None = None,
    maximum: int | None = None,
) -> Field:
    return Field(
        kind,
        required=False,
        default=default,
        max_length=max_length,
        items=items,
        nullable=nullable,
        minimum=minimum,
        maximum=maximum,
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
    if isinstance(value, int | float):
        if spec.minimum is not None and value < spec.minimum:
            return f"tối thiểu {spec.minimum}"
        if spec.maximum is not None and value > spec.maximum:
            return f"tối đa {spec.maximum}"
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
