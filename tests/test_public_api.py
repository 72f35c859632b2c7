"""The public surface is what ``mlwarden/__init__.py`` exports, and it all resolves."""

from __future__ import annotations

import mlwarden as mw


def test_all_names_resolve():
    for name in mw.__all__:
        assert hasattr(mw, name), name


def test_error_tree_and_statuses():
    errors = [
        mw.ValidationError,
        mw.NotFound,
        mw.AlreadyExists,
        mw.Conflict,
        mw.IntegrityError,
        mw.AuthenticationError,
        mw.PermissionDenied,
        mw.PolicyViolation,
        mw.MissingDependency,
    ]
    for cls in errors:
        assert issubclass(cls, mw.WardenError)
    assert {cls.http_status for cls in errors} >= {401, 403, 404, 409, 422}
    err = mw.NotFound("model 'x' does not exist", model="x")
    assert err.to_dict() == {
        "error": "not_found",
        "message": "model 'x' does not exist",
        "details": {"model": "x"},
    }


def test_adult_dataset_is_typed(adult):
    train, test = adult
    assert train.shape == (32561, 15) and test.shape == (16281, 15)
    assert str(train["sex"].dtype) == "category" and str(train["age"].dtype) == "int64"
    assert set(test["income"].unique()) == {"<=50K", ">50K"}
    assert train["workclass"].isna().sum() == 1836  # the '?' entries
    assert list(train["race"].cat.categories) == list(test["race"].cat.categories)


def test_german_dataset():
    frame = mw.datasets.load_german()
    assert frame.shape == (1000, 22)
    assert frame["credit"].value_counts().to_dict() == {"good": 700, "bad": 300}
    assert set(frame["sex"].unique()) == {"male", "female"}
