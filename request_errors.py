"""Request-validation errors of our routes, in plain words.

FastAPI raises `RequestValidationError` when a query parameter, a path parameter or a body
does not validate; LNbits' process-wide handler answers it with 400 and pydantic's own
texts (`string does not match regex "^(pending|…)$"`, `ensure this value is less than or
equal to 365`). Our routes use `PlainErrorsRoute` (views_api's router): the same 400,
with `detail` saying each problem in words — the parameter as the API names it, and the
rule ("status must be one of: pending, applied, failed, conflict", "days must be between 1
and 365") — and `errors` listing each (`field`, `location`, `message`). LNbits' handler and
every other route stay as they are: nothing process-wide is changed.
"""

from __future__ import annotations

import re
from http import HTTPStatus
from typing import Any, Callable, Coroutine, Optional, Sequence

from fastapi.dependencies.utils import get_flat_dependant
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from loguru import logger
from starlette.requests import Request
from starlette.responses import Response

from .engine.settings import CHANNEL_ID_HELP

# What a parameter with a pattern must look like, by its name (a pattern of alternatives,
# `^(a|b|c)$`, says "one of: a, b, c" by itself). A test sweeps every route's parameters.
PATTERN_RULES = {
    "chan_id": f"must be a channel id: {CHANNEL_ID_HELP}",
    "run_id": "must be a run id: letters, digits, _ and - only",
    "decision_ids": "must be a decision id: letters, digits, _ and - only",  # said of an entry
}
_CHOICES = re.compile(r"^\^?\(([A-Za-z0-9_]+(?:\|[A-Za-z0-9_]+)+)\)\$?$")
LOCATIONS = {"query": "query", "path": "path", "body": "body", "header": "header", "cookie": "cookie"}


def _number(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"{value:,}" if isinstance(value, int) and abs(value) >= 100_000 else str(value)


class _Field:
    """What one parameter or body field allows, read from its declaration."""

    def __init__(self, name: str, model_field: Any = None):
        self.name = name
        info = getattr(model_field, "field_info", None)
        types = [getattr(model_field, "outer_type_", None), getattr(model_field, "type_", None)]

        def find(attr: str) -> Any:
            for source in [info, *types]:
                value = getattr(source, attr, None)
                if value is not None and not callable(value):
                    return value
            return None

        self.ge, self.le, self.gt, self.lt = find("ge"), find("le"), find("gt"), find("lt")
        self.max_length, self.min_length = find("max_length"), find("min_length")
        self.max_items = find("max_items")
        regex = find("regex")
        self.pattern = getattr(regex, "pattern", regex)
        # an Optional[conlist(...)] keeps the entries' type among the sub-fields
        item = None
        for sub in getattr(model_field, "sub_fields", None) or []:
            item = sub
        self.item = item

    def range(self) -> Optional[str]:
        low = self.ge if self.ge is not None else self.gt
        high = self.le if self.le is not None else self.lt
        if self.ge is not None and self.le is not None:
            return f"between {_number(self.ge)} and {_number(self.le)}"
        parts = []
        if low is not None:
            parts.append(f"at least {_number(self.ge)}" if self.ge is not None else f"above {_number(self.gt)}")
        if high is not None:
            parts.append(f"at most {_number(self.le)}" if self.le is not None else f"below {_number(self.lt)}")
        return " and ".join(parts) or None

    def pattern_rule(self) -> str:
        if self.name in PATTERN_RULES:
            return PATTERN_RULES[self.name]
        choices = _CHOICES.match(self.pattern or "")
        if choices:
            return "must be one of: " + ", ".join(choices.group(1).split("|"))
        return "is not in the expected form"


def _fields_of(route: APIRoute) -> dict[tuple[str, str], _Field]:
    """(location, name) -> what it allows, for every parameter of the route and its
    dependencies, and every field of its body model."""
    flat = get_flat_dependant(route.dependant)
    fields: dict[tuple[str, str], _Field] = {}
    for location, params in (("query", flat.query_params), ("path", flat.path_params),
                             ("header", flat.header_params), ("cookie", flat.cookie_params)):
        for param in params:
            fields[(location, param.alias)] = _Field(param.alias, param)
    for param in flat.body_params:
        fields[("body", param.alias)] = _Field(param.alias, param)
        model_fields = getattr(getattr(param, "type_", None), "__fields__", None) or {}
        for name, model_field in model_fields.items():
            fields[("body", model_field.alias or name)] = _Field(model_field.alias or name, model_field)
    return fields


def _name(loc: Sequence[Any]) -> tuple[str, str, list[Any]]:
    """(location, the parameter's name as the API names it, what follows it in `loc`)."""
    location = str(loc[0]) if loc else "body"
    rest = list(loc[1:])
    if location == "body" and not rest:
        return location, "", []
    return location, str(rest[0]) if rest else location, rest[1:]


def _subject(location: str, name: str, rest: list[Any]) -> str:
    if location == "body" and not name:
        return "The request body"
    subject = name
    if rest and isinstance(rest[0], int):
        subject = f"entry {rest[0] + 1} of {name}"
    return subject


def _rule(kind: str, error: dict, field: _Field, entry: bool) -> str:
    """What is wrong, in words that follow the parameter's name."""
    ctx = error.get("ctx") or {}
    limit = ctx.get("limit_value")
    if entry and field.item is not None:
        field = _Field(field.name, field.item)
    if kind == "value_error.missing":
        return "is required"
    if kind == "type_error.none.not_allowed":
        return "must not be null"
    if kind in ("type_error.integer", "value_error.number.not_ge", "value_error.number.not_le",
                "value_error.number.not_gt", "value_error.number.not_lt"):
        bounds = field.range()
        if bounds is None:  # the error's own bound
            word = {"not_ge": "at least", "not_le": "at most", "not_gt": "above", "not_lt": "below"}
            bounds = f"{word.get(kind.rsplit('.', 1)[-1], 'at most')} {_number(limit)}" if limit is not None else None
        whole = "a whole number"
        if kind == "type_error.integer":
            return f"must be {whole} {bounds}" if bounds else f"must be {whole}"
        return f"must be {bounds}"
    if kind in ("type_error.float", "type_error.number"):
        return "must be a number"
    if kind in ("type_error.bool", "value_error.strictbool"):
        return "must be true or false"
    if kind == "value_error.str.regex":
        return field.pattern_rule()
    if kind == "value_error.any_str.max_length":
        return f"must be at most {_number(limit if limit is not None else field.max_length)} characters"
    if kind == "value_error.any_str.min_length":
        size = limit if limit is not None else field.min_length
        return "must not be empty" if size == 1 else f"must be at least {_number(size)} characters"
    if kind in ("type_error.str", "type_error.string"):
        return "must be text"
    if kind in ("type_error.list", "type_error.sequence"):
        return "must be a list"
    if kind == "value_error.list.max_items":
        return f"must have at most {_number(limit if limit is not None else field.max_items)} entries"
    if kind == "value_error.list.min_items":
        return f"must have at least {_number(limit)} entries"
    if kind == "type_error.dict":
        return "must be a JSON object"
    if kind == "value_error.extra":
        return "is not a field of this request"
    if kind == "value_error.jsondecode" or kind == "json_invalid":
        return "is not valid JSON"
    if kind == "type_error.uuid":
        return "must be a user id (a UUID)"
    return "is not valid"


def described(errors: Sequence[dict], fields: dict[tuple[str, str], _Field]) -> list[dict[str, str]]:
    """Each validation error as {field, location, message}: `message` is a whole sentence."""
    out: list[dict[str, str]] = []
    for error in errors:
        loc = list(error.get("loc") or ())
        location, name, rest = _name(loc)
        kind = str(error.get("type", ""))
        if kind in ("value_error.jsondecode", "json_invalid"):
            name, rest = "", []
        field = fields.get((location, name)) or _Field(name)
        subject = _subject(location, name, rest)
        message = f"{subject} {_rule(kind, error, field, entry=bool(rest and isinstance(rest[0], int)))}"
        if location == "body" and not name and kind == "value_error.missing":
            message = "The request body is required: send a JSON object (for the defaults, {})"
        entry = {"field": name or "body", "location": LOCATIONS.get(location, location), "message": message}
        if entry not in out:  # a body sent as null reports the same error once per field
            out.append(entry)
    return out


def bad_request(errors: Sequence[dict], fields: dict[tuple[str, str], _Field]) -> JSONResponse:
    items = described(errors, fields)
    return JSONResponse(
        status_code=HTTPStatus.BAD_REQUEST,
        content={"detail": "; ".join(item["message"] for item in items) + ".", "errors": items},
    )


class PlainErrorsRoute(APIRoute):
    """An APIRoute whose request-validation errors are answered here, in plain words (400,
    as LNbits answers them); everything else goes on to LNbits' handlers."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        fields: Optional[dict[tuple[str, str], _Field]] = None

        async def route_handler(request: Request) -> Response:
            nonlocal fields
            try:
                return await handler(request)
            except RequestValidationError as exc:
                if fields is None:
                    fields = _fields_of(self)
                answer = bad_request(exc.errors(), fields)
                logger.info(f"feepilot: {request.method} {request.url.path}: 400 {answer.body.decode()[:300]}")
                return answer

        return route_handler
