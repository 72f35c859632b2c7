"""Model metadata after the first registration: ``update_model`` over SDK, HTTP and CLI,
audited; later registrations that carry different fields say so; the risk tier is not here."""

from __future__ import annotations

import warnings

import pytest
from typer.testing import CliRunner

import mlwarden as mw
from mlwarden.cli.main import app


def test_update_model_changes_fields_and_audits(warden, registered):
    model = warden.update_model(
        "credit-risk",
        owner="risk-team@bank.example",
        description="Retail credit scorecard",
        tags={"human_oversight": "analyst reviews every refusal", "stage": "pilot"},
    )
    assert model.owner == "risk-team@bank.example"
    assert model.tags["human_oversight"] == "analyst reviews every refusal"
    model = warden.update_model("credit-risk", tags={"stage": None})
    assert "stage" not in model.tags and "human_oversight" in model.tags
    (event,) = [e for e in warden.audit.events() if e.action == "model.update"][:1]
    assert event.payload["owner"]["to"] == "risk-team@bank.example"
    assert warden.update_model("credit-risk", owner="risk-team@bank.example") == warden.get_model(
        "credit-risk"
    )  # no change, no event
    assert len([e for e in warden.audit.events() if e.action == "model.update"]) == 2
    with pytest.raises(TypeError):
        warden.update_model("credit-risk", risk_tier="low")  # governed apart


def test_a_later_registration_with_other_fields_warns(
    warden, registered, fitted_pipeline, small_adult
):
    train, _ = small_adult
    X, y = train.drop(columns="income"), train["income"]
    with pytest.warns(UserWarning, match=r"owner, tags given here differ.*update_model"):
        warden.register_model(
            "credit-risk", fitted_pipeline, train=mw.Dataset(X, y), owner="someone-else",
            tags={"stage": "prod"},
        )  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        warden.register_model("credit-risk", fitted_pipeline, train=mw.Dataset(X, y))


def test_update_model_from_the_cli(warden, registered, store_uri):
    result = CliRunner().invoke(
        app,
        ["models", "update", "credit-risk", "--owner", "ops", "--tag", "human_oversight=yes",
         "--uri", store_uri, "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert warden.get_model("credit-risk").tags["human_oversight"] == "yes"
    bad = CliRunner().invoke(app, ["models", "update", "credit-risk", "--tag", "oops",
                                   "--uri", store_uri])  # fmt: skip
    assert bad.exit_code != 0 and "KEY=VALUE" in bad.output
