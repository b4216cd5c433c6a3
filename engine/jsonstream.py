"""Decode a large JSON object piece by piece.

`json.loads` on the tens of MB of LND's describegraph holds the GIL for most of
a second, freezing the host's event loop even from a worker thread. Decoding
the top-level arrays one element at a time keeps every C call short, so the
event loop gets its turn between them.
"""

from __future__ import annotations

import json
from typing import Any

_decoder = json.JSONDecoder()
_WHITESPACE = " \t\n\r"


def _skip(text: str, index: int) -> int:
    while index < len(text) and text[index] in _WHITESPACE:
        index += 1
    return index


def _expect(text: str, index: int, char: str) -> int:
    index = _skip(text, index)
    if index >= len(text) or text[index] != char:
        raise ValueError(f"expected {char!r} at offset {index}")
    return index + 1


def loads_object_incrementally(text: str) -> dict[str, Any]:
    """Like json.loads for an object whose large values are arrays."""
    result: dict[str, Any] = {}
    index = _expect(text, 0, "{")
    index = _skip(text, index)
    if index < len(text) and text[index] == "}":
        return result
    while True:
        key, index = _decoder.raw_decode(text, _skip(text, index))
        index = _expect(text, index, ":")
        index = _skip(text, index)
        if index < len(text) and text[index] == "[":
            items, index = _array(text, index + 1)
            result[key] = items
        else:
            result[key], index = _decoder.raw_decode(text, index)
        index = _skip(text, index)
        if index < len(text) and text[index] == ",":
            index += 1
            continue
        _expect(text, index, "}")
        return result


def _array(text: str, index: int) -> tuple[list[Any], int]:
    items: list[Any] = []
    index = _skip(text, index)
    if index < len(text) and text[index] == "]":
        return items, index + 1
    while True:
        item, index = _decoder.raw_decode(text, _skip(text, index))
        items.append(item)
        index = _skip(text, index)
        if index < len(text) and text[index] == ",":
            index += 1
            continue
        return items, _expect(text, index, "]")
