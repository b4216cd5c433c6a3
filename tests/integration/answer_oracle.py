"""What an answer built without pydantic (run_encoding.run_detail_json, model_dict) must still be:
the text FastAPI makes of the route's model parsed from it. A field left out, a default not
filled in, a float written as an int or a key out of order shows as a different text."""

from __future__ import annotations

import json

import httpx
from fastapi.encoders import jsonable_encoder

from devtools.extension_modules import load

PACKAGE = "feepilot_models_under_test"


def assert_is_the_models_json(response: httpx.Response, model_name: str) -> None:
    model = getattr(load(PACKAGE, "models"), model_name)
    expected = json.dumps(jsonable_encoder(model.parse_obj(response.json())), separators=(",", ":"), allow_nan=False)
    served = response.text
    if served != expected:
        at = next((i for i, (a, b) in enumerate(zip(served, expected)) if a != b), min(len(served), len(expected)))
        raise AssertionError(f"the answer is not {model_name}'s JSON from character {at}: "
                             f"served ...{served[max(0, at - 80):at + 80]}... model ...{expected[max(0, at - 80):at + 80]}...")
