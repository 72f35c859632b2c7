"""The prediction log's JSON inputs decoded with orjson give pandas' ``read_json`` frame; built
column by column, the frame ``pd.DataFrame(records)`` gives."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from mlwarden.store.sql.predictions import _time_order, decode_inputs
from mlwarden.store.sql.records import records_frame


def read_json(texts: list[str]) -> pd.DataFrame:
    return pd.read_json(io.StringIO("\n".join(texts)), lines=True, dtype=False)


def test_same_frame_as_read_json():
    texts = [
        '{"x":1.5,"n":3,"mixed":1,"s":"a","b":true,"gap":null}',
        '{"x":-2.0,"n":4,"mixed":2.5,"s":null,"b":false,"late":"new key"}',
        "{}",  # an erased subject's row
        '{"n":5,"x":1e-300,"s":"é \\u00e9","mixed":null,"b":true}',
    ]
    ours, theirs = decode_inputs(texts), read_json(texts)
    assert list(ours.columns) == ["x", "n", "mixed", "s", "b", "gap", "late"]
    pd.testing.assert_frame_equal(ours, theirs)


def test_integers_beyond_64_bits_still_decode():
    texts = ['{"big":123456789012345678901234567890}', '{"big":1}']
    ours = decode_inputs(texts)
    assert len(ours) == 2 and ours["big"].iloc[1] == 1


VALUES = {
    "float": [1.5, -2.0, 1e-300],
    "float_null": [1.5, None, 2.0],
    "nan": [float("nan"), 1.0, 2.0],
    "int": [1, 2, -3],
    "big_int": [2**63, 1, 2],  # uint64 for pandas, beyond numpy's int64
    "int_float": [1, 2.5, 3],
    "bool": [True, False, True],
    "str": ["a", "é", "b"],
    "str_null": ["a", None, "b"],
    "null": [None, None, None],
    "nested": [[1], {"a": 1}, "x"],
}


@pytest.mark.parametrize("kind", sorted(VALUES))
def test_records_frame_is_pandas_frame_of_the_records(kind):
    """Column by column where that is the same frame, pandas' own path otherwise: the frame
    is ``pd.DataFrame(records)`` whatever the value types."""
    for other in VALUES:
        records = [{"x": VALUES[kind][i], "y": VALUES[other][2 - i]} for i in range(3)]
        pd.testing.assert_frame_equal(
            records_frame(records), pd.DataFrame(records, index=pd.RangeIndex(3))
        )


def test_records_frame_aligns_records_with_missing_or_extra_keys():
    records = [{"a": 1.0, "b": "x"}, {"b": "y", "a": 2.0}, {"a": 3.0}, {"a": 4.0, "c": "z"}]
    got = records_frame(records)
    pd.testing.assert_frame_equal(got, pd.DataFrame(records, index=pd.RangeIndex(4)))
    assert list(got.columns) == ["a", "b", "c"]
    assert records_frame([]).empty


@pytest.mark.parametrize(
    ("micros", "ids"),
    [
        ([1, 2, 3], ["c", "b", "a"]),  # in time order: ids do not matter
        ([1, 1, 2], ["a", "b", "a"]),  # a tie, ids in order
        ([1, 1, 2], ["b", "a", "c"]),  # a tie, ids out of order
        ([3, 1, 2], ["a", "b", "c"]),  # out of time order
        ([5, 5, 5], ["é", "e", "z"]),  # code-point order, as lexsort
    ],
)
def test_time_order_is_lexsort_or_none_when_already_ordered(micros, ids):
    micros = np.asarray(micros, dtype=np.int64)
    expected = np.lexsort((np.asarray(ids), micros))
    order = _time_order(micros, ids)
    if order is None:
        assert list(expected) == list(range(len(ids)))
    else:
        assert list(order) == list(expected)
