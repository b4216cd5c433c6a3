"""lightningd's `filter` request member: keep only the fields a client asked for.

A filter is an object whose keys name the members to keep: `true` keeps the member whole, an object
filters it further, a one-element array filters every element of an array member, e.g.
`{"channels": [{"short_channel_id": true, "fee_per_millionth": true}]}` (common/json_filter.c).
Using an array filter on an object or the reverse prints nothing there and adds
`warning_parameter_filter` to the result.
"""

from __future__ import annotations

from typing import Any

from .cln_params import ClnError, INVALID_PARAMS


def check_filter(spec: Any, name: str = "filter") -> None:
    """Refuse what lightningd's parse_filter refuses (before running the command)."""
    if not isinstance(spec, dict):
        raise ClnError(INVALID_PARAMS, f"{name}: Expected object: invalid token (see logs for details)")
    _check(spec, name)


def _check(spec: Any, name: str) -> None:
    if isinstance(spec, list):
        if len(spec) != 1:
            raise ClnError(INVALID_PARAMS, f"{name}: Arrays can only have one element: invalid token (see logs for details)")
        _check(spec[0], name)
        return
    for value in spec.values():
        if isinstance(value, (dict, list)):
            _check(value, name)
        elif value is not True:
            raise ClnError(INVALID_PARAMS, f"{name}: value must be true: invalid token (see logs for details)")


def apply_filter(result: dict, spec: dict) -> dict:
    misuse: list[str] = []
    out = _apply(result, spec, "", misuse)
    if misuse:
        out["warning_parameter_filter"] = misuse[0]
    return out


def _apply(value: Any, spec: Any, path: str, misuse: list[str]) -> Any:
    if spec is True:
        return value
    if isinstance(spec, list):
        if not isinstance(value, list):
            misuse.append(f"{path} is an object")
            return None
        return [_apply(v, spec[0], path + "[]", misuse) for v in value]
    if not isinstance(value, dict):
        misuse.append(f"{path} is an array")
        return None
    out = {}
    for key, sub in spec.items():
        if key in value:
            kept = _apply(value[key], sub, f"{path}.{key}", misuse)
            if kept is not None:
                out[key] = kept
    return out
