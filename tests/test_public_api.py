"""The public surface is what ``mlwarden/__init__.py`` exports, and it all resolves."""

from __future__ import annotations

import importlib
import pkgutil

import httpx
import pytest

import mlwarden as mw
from mlwarden.errors import ERRORS_BY_CODE, WardenError
from mlwarden.remote import error_from_response


def test_all_names_resolve():
    for name in mw.__all__:
        assert hasattr(mw, name), name


def test_all_is_exactly_the_public_names():
    """httpx's test: nothing public is missing from ``__all__``, and no subpackage leaks."""
    mw.Warden, mw.reports, mw.datasets  # noqa: B018 - loading them must not add names
    assert sorted(mw.__all__) == sorted(n for n in dir(mw) if not n.startswith("_"))
    assert dir(mw) == sorted(mw.__all__)
    assert mw.__version__
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        mw.nope  # noqa: B018


def _subclasses(cls: type[WardenError]) -> list[type[WardenError]]:
    return [c for sub in cls.__subclasses__() for c in (sub, *_subclasses(sub))]


def test_every_error_round_trips_through_the_remote_client():
    """Every WardenError subclass anywhere in the package has its own code in ERRORS_BY_CODE,
    and the JSON the server sends for it comes back, on the client, as that class."""
    for mod in pkgutil.walk_packages(mw.__path__, "mlwarden."):
        if ".migrations." not in mod.name:
            importlib.import_module(mod.name)
    classes = [WardenError, *_subclasses(WardenError)]
    assert len(classes) >= 20
    codes = [cls.code for cls in classes]
    assert len(set(codes)) == len(codes), sorted(c for c in codes if codes.count(c) > 1)
    for cls in classes:
        assert ERRORS_BY_CODE.get(cls.code) is cls, f"{cls.__module__}.{cls.__name__}"
        sent = cls("it went wrong", thing="x")
        resp = httpx.Response(cls.http_status, json=sent.to_dict())
        got = error_from_response(resp)
        assert type(got) is cls
        assert (got.message, got.details, got.http_status) == (
            "it went wrong",
            {"thing": "x"},
            cls.http_status,
        )


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
