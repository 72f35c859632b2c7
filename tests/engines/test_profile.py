"""Profiles: exact statistics against pandas, sketch bounds, merge laws, every input type."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlwarden.engines.profile import ColumnProfile, Profile, _hll, profile
from mlwarden.errors import ValidationError


def make_frame(n: int = 20_000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        {
            "num": rng.normal(10, 3, n),
            "int": rng.integers(0, 50, n),
            "cat": rng.choice(["red", "green", "blue", "teal"], n, p=[0.4, 0.3, 0.2, 0.1]),
            "flag": rng.random(n) < 0.3,
        }
    )
    df.loc[::13, "num"] = np.nan
    df["cat"] = df["cat"].astype(object)
    df.loc[::17, "cat"] = None
    return df


def exact_state(p: Profile, bins: bool = True) -> dict:
    """Everything in a profile that must merge exactly (moments up to rounding, compared apart).

    Reference edges come from a randomized KLL sketch, so two reference profiles of the same
    data may place them differently: compare ``bins`` only between profiles sharing edges.
    """
    out = {"n_rows": p.n_rows}
    for name in p.columns:
        c = p[name]
        out[name] = (
            c.kind,
            c.count_,
            c.null_count_,
            c.n_,
            c.n_finite_,
            tuple(sorted(c.type_counts_.items())),
            c.min_ if c.n_ else None,
            c.max_ if c.n_ else None,
            None if c.bin_counts_ is None or not bins else tuple(c.bin_counts_.tolist()),
            None if c.counts_ is None else tuple(sorted(c.counts_.items())),
        )
    return out


def assert_same_profile(a: Profile, b: Profile) -> None:
    assert exact_state(a) == exact_state(b)
    for name in a.columns:
        ca, cb = a[name], b[name]
        assert ca.mean_ == pytest.approx(cb.mean_, rel=1e-9, abs=1e-12)
        assert ca.m2_ == pytest.approx(cb.m2_, rel=1e-9, abs=1e-9)
        if ca.kll_ is not None:
            assert_quantiles_close(ca, cb)


def assert_bins_exact(p: Profile, df: pd.DataFrame) -> None:
    """Each numeric column's histogram counts equal exact counts in its own edges."""
    for name in p.columns:
        col = p[name]
        if col.edges_ is None:
            continue
        valid = df[name].dropna().to_numpy(dtype=float)
        idx = np.searchsorted(col.edges_[1:-1], valid, side="right")
        assert col.bins_exact_
        assert col.bin_counts_.tolist() == np.bincount(idx, minlength=len(col.edges_) - 1).tolist()


def assert_quantiles_close(a: ColumnProfile, b: ColumnProfile) -> None:
    """Two sketches of the same data agree in rank within both sketches' error bounds."""
    qs = np.linspace(0.05, 0.95, 19)
    eps = a.rank_error + b.rank_error
    # the level asked for must lie within eps of the rank range (in b) of a's quantile; the
    # range is [P(X < x), P(X <= x)], wide where x is a tied value of a discrete column
    x = np.atleast_1d(a.quantile(qs))
    lo, hi = b.cdf(x, inclusive=False), b.cdf(x)
    slack = eps + 1.0 / max(b.n_, 1) + 1e-12
    assert np.all((qs >= lo - slack) & (qs <= hi + slack))


# --------------------------------------------------------------------------- exact statistics
def test_exact_statistics_match_pandas():
    df = make_frame()
    p = profile(df)
    assert p.n_rows == len(df) and p.columns == ["num", "int", "cat", "flag"]
    num = p["num"]
    valid = df["num"].dropna()
    assert num.kind == "numeric" and num.count_ == len(df)
    assert num.null_count_ == df["num"].isna().sum()
    assert num.type_counts_ == {"numeric": len(valid), "string": 0, "bool": 0, "other": 0}
    assert num.min_ == valid.min() and num.max_ == valid.max()
    assert num.mean_ == pytest.approx(valid.mean(), rel=1e-12)
    assert num.variance_ == pytest.approx(valid.var(ddof=0), rel=1e-10)
    cat = p["cat"]
    assert cat.kind == "categorical" and cat.categories_exact
    assert cat.category_counts() == df["cat"].value_counts().to_dict()
    assert cat.null_count_ == df["cat"].isna().sum()
    assert cat.type_counts_["string"] == df["cat"].notna().sum()
    assert cat.distinct_count() == 4
    flag = p["flag"]
    assert flag.kind == "categorical" and flag.type_counts_["bool"] == len(df)
    assert flag.category_counts() == {
        str(k): v for k, v in df["flag"].value_counts().to_dict().items()
    }


def test_quantiles_within_kll_bound():
    rng = np.random.default_rng(1)
    x = rng.lognormal(size=300_000)
    col = profile(x)["x0"]
    qs = np.linspace(0.01, 0.99, 99)
    est = col.quantile(qs)
    exact_ranks = np.searchsorted(np.sort(x), est, side="right") / len(x)
    assert col.rank_error == pytest.approx(col.kll_.normalized_rank_error(False))
    assert np.max(np.abs(exact_ranks - qs)) <= col.rank_error
    assert col.quantile(0.5) == pytest.approx(np.median(x), rel=0.05)


def test_mixed_object_column_type_counts():
    s = pd.Series(["a", 1, 2.5, True, None, "b", b"raw"], dtype=object)
    col = profile(s.to_frame("m"))["m"]
    assert col.kind == "categorical"
    assert col.type_counts_ == {"numeric": 2, "string": 2, "bool": 1, "other": 1}
    assert col.null_count_ == 1


def test_categorical_cap_switches_to_frequent_items():
    rng = np.random.default_rng(2)
    heavy = np.repeat(["h0", "h1", "h2"], [30_000, 20_000, 10_000])
    tail = np.array([f"id{i}" for i in range(5_000)])
    values = rng.permutation(np.concatenate([heavy, tail]))
    col = profile(pd.DataFrame({"c": values}), categorical_cap=100)["c"]
    assert not col.categories_exact
    top = col.category_counts(3)
    assert list(top) == ["h0", "h1", "h2"]
    err = col.frequent_.get_epsilon_for_lg_size(col._lg_map_size()) * len(values)
    for key, true in zip(["h0", "h1", "h2"], [30_000, 20_000, 10_000], strict=True):
        assert abs(top[key] - true) <= err
    assert col.distinct_count() == pytest.approx(5_003, rel=3 * _hll.RELATIVE_ERROR)


@pytest.mark.parametrize("n", [0, 1, 10, 1_000, 20_000, 300_000])
def test_hll_distinct_count(n):
    regs = _hll.new_registers()
    values = np.arange(n, dtype=np.float64) * 0.37
    _hll.update(regs, _hll.hash_floats(np.concatenate([values, values[: n // 2]])))
    assert _hll.estimate(regs) == pytest.approx(n, rel=3 * _hll.RELATIVE_ERROR, abs=0.5)


def test_hll_agrees_with_datasketches():
    """Same register layout as DataSketches HLL_8 at lg_k = 12: estimates of equal quality."""
    import datasketches as ds

    values = np.random.default_rng(4).integers(0, 30_000, 40_000).astype(np.float64)
    ref = ds.hll_sketch(_hll.P, ds.tgt_hll_type.HLL_8)
    for v in values.tolist():  # scalar-only binding: fine for a 40k-value test
        ref.update(v)
    regs = _hll.new_registers()
    _hll.update(regs, _hll.hash_floats(values))
    truth = len(np.unique(values))
    tol = 3 * _hll.RELATIVE_ERROR * truth
    assert abs(ref.get_estimate() - truth) <= tol
    assert abs(_hll.estimate(regs) - truth) <= tol


@pytest.mark.parametrize("n", [2, 999, 5_000, 200_000])
def test_kll_items_parse_equals_iteration(n):
    import datasketches as ds

    from mlwarden.engines.profile._common import kll_items

    rng = np.random.default_rng(n)
    a, b = ds.kll_doubles_sketch(200), ds.kll_doubles_sketch(1000)
    a.update(rng.normal(size=n))
    b.update(rng.lognormal(size=n))
    b.merge(a)
    items, weights = kll_items(a.serialize(), a.n)
    expect = np.array(list(a)).reshape(-1, 2)
    assert np.array_equal(items, expect[:, 0]) and np.array_equal(weights, expect[:, 1])
    # after a merge the binding's iterator reports weight 1 for every item (weights no longer
    # add up to n); the parsed weights reproduce the sketch's own ranks exactly
    for sketch in (b, ds.kll_doubles_sketch.deserialize(b.serialize())):
        items, weights = kll_items(sketch.serialize(), sketch.n)
        assert weights.sum() == sketch.n
        order = np.argsort(items, kind="stable")
        cum = np.cumsum(weights[order]) / sketch.n
        for x in np.quantile(items, [0.1, 0.5, 0.9]):
            idx = np.searchsorted(items[order], x, side="right") - 1
            assert cum[idx] == pytest.approx(sketch.get_rank(float(x), True), abs=1e-12)
    assert kll_items(ds.kll_doubles_sketch(200).serialize(), 0) is None  # empty: iterate


# --------------------------------------------------------------------------- reference bins
def test_reference_bins_are_exact_and_current_uses_them():
    df = make_frame(30_000)
    ref = profile(df, reference=True)
    col = ref["num"]
    assert ref.reference and col.bins_exact_
    edges = col.edges_
    assert edges[0] == -np.inf and edges[-1] == np.inf and len(edges) == 11
    valid = df["num"].dropna().to_numpy()
    expected = np.bincount(np.searchsorted(edges[1:-1], valid, side="right"), minlength=10)
    assert col.bin_counts_.tolist() == expected.tolist()
    cur_df = make_frame(10_000, seed=5)
    cur = profile(cur_df, bins_from=ref)
    cur_valid = cur_df["num"].dropna().to_numpy()
    expected = np.bincount(np.searchsorted(edges[1:-1], cur_valid, side="right"), minlength=10)
    assert np.array_equal(cur["num"].edges_, edges)
    assert cur["num"].bin_counts_.tolist() == expected.tolist()
    # deduplicated edges for a column with few distinct values
    assert len(ref["int"].edges_) <= 11 and np.all(np.diff(ref["int"].edges_) > 0)


def test_one_shot_iterator_reference_marks_bins_approximate():
    df = make_frame(20_000)
    ref = profile((df.iloc[i : i + 5000] for i in range(0, len(df), 5000)), reference=True)
    col = ref["num"]
    assert not col.bins_exact_ and col.bin_counts_.sum() == pytest.approx(col.n_, abs=10)


# --------------------------------------------------------------------------- merge laws
def test_merge_of_chunks_equals_whole():
    df = make_frame(40_000)
    whole = profile(df)
    parts = [profile(df.iloc[i : i + 7_000]) for i in range(0, len(df), 7_000)]
    merged = parts[0]
    for p in parts[1:]:
        merged = merged.merge(p)
    assert_same_profile(merged, whole)


frames = st.lists(
    st.tuples(
        st.lists(
            st.one_of(st.none(), st.floats(-1e6, 1e6, allow_nan=False)), min_size=0, max_size=40
        ),
        st.lists(st.one_of(st.none(), st.sampled_from("abcdefg")), min_size=0, max_size=40),
    ),
    min_size=3,
    max_size=3,
)


def _profile_of(nums: list, cats: list, cap: int) -> Profile:
    n = min(len(nums), len(cats))
    df = pd.DataFrame(
        {
            "x": pd.Series(nums[:n], dtype="float64"),
            "c": pd.Series(cats[:n], dtype=object),
        }
    )
    return profile(df, categorical_cap=cap)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frames, st.sampled_from([3, 1000]))
def test_merge_is_associative_and_commutative(parts, cap):
    a, b, c = (_profile_of(nums, cats, cap) for nums, cats in parts)
    left = a.merge(b).merge(c)
    right = a.merge(b.merge(c))
    assert exact_state(left) == exact_state(right)
    assert exact_state(a.merge(b)) == exact_state(b.merge(a))
    for name in ("x", "c"):
        assert left[name].mean_ == pytest.approx(right[name].mean_, rel=1e-9, abs=1e-6)
        assert left[name].m2_ == pytest.approx(right[name].m2_, rel=1e-9, abs=1e-3)
    # commutativity of the moments is exact (symmetric weighted-mean update)
    assert a.merge(b)["x"].mean_ == b.merge(a)["x"].mean_
    nums = [v for x, c in parts for v in x[: min(len(x), len(c))]]
    cats = [v for x, c in parts for v in c[: min(len(x), len(c))]]
    whole = _profile_of(nums, cats, cap)
    assert exact_state(left) == exact_state(whole)
    if whole["x"].kll_ is not None:
        assert_quantiles_close(left["x"], whole["x"])


# --------------------------------------------------------------------------- serialization
def test_bytes_round_trip_and_summary_is_json():
    df = make_frame()
    p = profile(df, reference=True)
    raw = p.to_bytes()
    assert raw.startswith(b"MWPROF1\n") and len(raw) < 60_000
    back = Profile.from_bytes(raw)
    assert_same_profile(back, p)
    assert back.to_dict() == p.to_dict()
    assert back["num"].quantile(0.5) == p["num"].quantile(0.5)
    again = pickle.loads(pickle.dumps(p))  # goes through to_bytes, never pickled sketches
    assert exact_state(again) == exact_state(p)
    json.dumps(p.to_dict(), allow_nan=False)
    with_inf = profile(pd.DataFrame({"a": [1.0, np.inf, -np.inf, 2.0]}))
    json.dumps(with_inf.to_dict(), allow_nan=False)  # strict JSON: infinities become null
    with pytest.raises(ValidationError, match="magic"):
        Profile.from_bytes(b"garbage")
    with pytest.raises(ValidationError, match="corrupt"):
        Profile.from_bytes(b"MWPROF1\nnot zlib")


# --------------------------------------------------------------------------- input types
def test_every_in_memory_input_gives_the_same_profile(tmp_path):
    df = make_frame(25_000)
    base = profile(df, reference=True)
    path = tmp_path / "data.parquet"
    pq.write_table(pa.Table.from_pandas(df), path, row_group_size=4_000)
    variants = {
        "polars": pl.from_pandas(df),
        "arrow": pa.Table.from_pandas(df),
        "parquet": str(path),
        "list of chunks": [df.iloc[:10_000], df.iloc[10_000:]],
        "mapping": {c: df[c] for c in df.columns},
    }
    for label, data in variants.items():
        got = profile(data, reference=True, chunk_rows=6_000)
        assert exact_state(got, bins=False) == exact_state(base, bins=False), label
        assert_bins_exact(got, df)
    gen = profile(df.iloc[i : i + 3_000] for i in range(0, len(df), 3_000))
    assert exact_state(gen) == {**exact_state(profile(df)), "n_rows": len(df)}
    arr = np.random.default_rng(0).normal(size=(500, 3))
    p2 = profile(arr)
    assert p2.columns == ["x0", "x1", "x2"] and p2["x1"].min_ == arr[:, 1].min()
    assert profile(arr[:, 0]).columns == ["x0"]
    assert profile(df, columns=["cat"]).columns == ["cat"]


def test_bad_input_raises_validation_error(tmp_path):
    with pytest.raises(ValidationError, match=r"builtins\.int"):
        profile(42)
    with pytest.raises(ValidationError, match=r"builtins\.set"):
        profile({1, 2})
    with pytest.raises(ValidationError, match="3-D"):
        profile(np.zeros((2, 2, 2)))
    with pytest.raises(ValidationError, match="no such file"):
        profile(str(tmp_path / "missing.parquet"))
    with pytest.raises(ValidationError, match="not in the data"):
        profile(make_frame(100), columns=["nope"])
    chunks = [pd.DataFrame({"a": [1.0, 2.0]}), pd.DataFrame({"a": ["x", "y"]})]
    with pytest.raises(ValidationError, match="'a' is numeric"):
        profile(chunks)
    with pytest.raises(ValidationError, match="numeric column"):
        profile(make_frame(100))["cat"].quantile(0.5)


def test_columns_appearing_late_and_all_null_chunks():
    chunks = [
        pd.DataFrame({"a": [1.0, 2.0]}),
        pd.DataFrame({"a": [None, None], "b": [None, None]}, dtype=object),
        pd.DataFrame({"a": [3.0], "b": ["x"]}),
    ]
    p = profile(chunks)
    assert p["a"].count_ == 5 and p["a"].null_count_ == 2 and p["a"].kind == "numeric"
    assert p["b"].count_ == 5 and p["b"].null_count_ == 4 and p["b"].category_counts() == {"x": 1}


@pytest.mark.slow
def test_dask_distributed_matches_single_process():
    dd = pytest.importorskip("dask.dataframe")
    distributed = pytest.importorskip("distributed")
    df = make_frame(60_000)
    base = profile(df, reference=True)
    with (
        distributed.LocalCluster(
            n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster),
    ):
        got = profile(dd.from_pandas(df, npartitions=6), reference=True)
    # edges come from the merged sketch, so counts are exact in *those* edges
    assert_bins_exact(got, df)
    for name in df.columns:
        a, b = got[name], base[name]
        assert (a.count_, a.null_count_, a.n_, a.min_, a.max_) == (
            b.count_,
            b.null_count_,
            b.n_,
            b.min_,
            b.max_,
        ), name
        assert a.type_counts_ == b.type_counts_
        assert a.mean_ == pytest.approx(b.mean_, rel=1e-9)
        if a.kind == "numeric":
            assert a.variance_ == pytest.approx(b.variance_, rel=1e-9)
            assert_quantiles_close(a, b)
        else:
            assert a.category_counts() == b.category_counts()
