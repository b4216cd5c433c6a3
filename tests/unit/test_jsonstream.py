"""The incremental decoder gives exactly what json.loads gives."""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.jsonstream import loads_object_incrementally

scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=8) | st.floats(allow_nan=False, allow_infinity=False)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4), max_leaves=12)


@given(st.dictionaries(st.text(max_size=6), values, max_size=5), st.sampled_from([None, 1, 2]))
def test_same_as_json_loads(document, indent):
    text = json.dumps(document, indent=indent)
    assert loads_object_incrementally(text) == json.loads(text)


@pytest.mark.parametrize("bad", ['{"a": [1, 2}', '{"a" 1}', '[1, 2]', '{"a": [1,]}', ""])
def test_malformed_input_raises_value_error(bad):
    with pytest.raises(ValueError):
        loads_object_incrementally(bad)
