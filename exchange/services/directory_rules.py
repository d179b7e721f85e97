"""The agency directory's pure decisions: codes, names, the tree at any depth, certificates.

No database here: these functions take plain values and are tested without one. An agency's code
is checked for its form only and otherwise kept opaque: nothing reads levels out of it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from typing import TypeVar

from cryptography import x509

from exchange.errors import ValidationError

AGENCY_CODE = re.compile(r"[0-9A-Z]+(?:\.[0-9A-Z]+)*")
GROUP_CODE = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
MAX_CODE = 35
MAX_NAME = 255

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)


def validate_agency_code(code: str) -> str:
    """The code if it is 1-35 characters of 0-9, A-Z and '.', in non-empty dot-separated groups."""
    if not 1 <= len(code) <= MAX_CODE or not AGENCY_CODE.fullmatch(code):
        raise ValidationError(
            f"mã định danh {code!r} không hợp lệ: tối đa {MAX_CODE} ký tự gồm chữ số, "
            "chữ in hoa A-Z và dấu chấm ngăn cách các nhóm",
            errors={"code": "tối đa 35 ký tự 0-9, A-Z, '.' (ví dụ 000.00.00.H58)"},
        )
    return code


def validate_group_code(code: str) -> str:
    """The code if it is 1-64 characters of a-z, 0-9, '.', '_', '-'."""
    if not GROUP_CODE.fullmatch(code):
        raise ValidationError(
            f"mã nhóm {code!r} không hợp lệ: 1-64 ký tự a-z, 0-9, '.', '_', '-'",
            errors={"code": "1-64 ký tự a-z, 0-9, '.', '_', '-' (ví dụ cac-xa)"},
        )
    return code


def validate_name(name: str, field: str = "name") -> str:
    """The name without surrounding spaces; refuse an empty or overlong one."""
    cleaned = name.strip()
    if not cleaned:
        raise ValidationError("tên không được để trống", errors={field: "bắt buộc"})
    if len(cleaned) > MAX_NAME:
        raise ValidationError("tên quá dài", errors={field: f"tối đa {MAX_NAME} ký tự"})
    return cleaned


def unknown_codes(requested: Iterable[str], known: Iterable[str]) -> list[str]:
    """The requested codes not among the known ones, once each, in the order asked."""
    have = set(known)
    return list(dict.fromkeys(code for code in requested if code not in have))


def dedupe(items: Iterable[T], key: Callable[[T], K]) -> list[T]:
    """Items without repeats by `key`, the first occurrence kept in place."""
    seen: set[K] = set()
    result: list[T] = []
    for item in items:
        marker = key(item)
        if marker not in seen:
            seen.add(marker)
            result.append(item)
    return result


def tree_order(
    nodes: Sequence[tuple[int, int | None, str]],
) -> list[tuple[int, int]]:
    """(id, depth) of `(id, parent_id, code)` nodes, depth first, siblings by code."""
    ids = {node_id for node_id, _, _ in nodes}
    children: dict[int | None, list[tuple[str, int]]] = {}
    for node_id, parent_id, code in nodes:
        # A parent outside the given nodes makes a root rather than hiding the subtree.
        children.setdefault(parent_id if parent_id in ids else None, []).append((code, node_id))
    ordered: list[tuple[int, int]] = []
    placed: set[int] = set()
    stack = [(node_id, 0) for _, node_id in sorted(children.get(None, []), reverse=True)]
    while stack:
        node_id, depth = stack.pop()
        if node_id in placed:
            continue
        placed.add(node_id)
        ordered.append((node_id, depth))
        for _, child in sorted(children.get(node_id, []), reverse=True):
            stack.append((child, depth + 1))
    return ordered


def creates_cycle(node: int, new_parent: int | None, parents: Mapping[int, int | None]) -> bool:
    """True when putting `node` under `new_parent` would make it its own ancestor."""
    current = new_parent
    seen: set[int] = set()
    while current is not None and current not in seen:
        if current == node:
            return True
        seen.add(current)
        current = parents.get(current)
    return False


def is_within(node: int, ancestor: int, parents: Mapping[int, int | None]) -> bool:
    """True when `node` is `ancestor` or lies below it."""
    return node == ancestor or creates_cycle(ancestor, node, parents)


def read_certificate(data: bytes) -> x509.Certificate:
    """A certificate from PEM or DER bytes; ValidationError when it is neither."""
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            return x509.load_pem_x509_certificate(data)
        return x509.load_der_x509_certificate(data)
    except ValueError:
        raise ValidationError(
            "tệp không phải chứng thư số X.509 (PEM hoặc DER)",
            errors={"certificate": "không đọc được chứng thư"},
        ) from None
