"""The prediction log's JSON inputs decoded with orjson give pandas' ``read_json`` frame."""

from __future__ import annotations

import io

import pandas as pd

from mlwarden.store.sql.predictions import decode_inputs


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
