"""The scope grammar of service tokens (access/scopes.py) and how it narrows ``decide``: a
scope limits what a token may do; it never adds to its user's role or grants."""

from __future__ import annotations

from dataclasses import replace

import pytest

from mlwarden.access.scopes import normalize_scope, parse_scope, scope_allows
from mlwarden.errors import ValidationError


def test_clauses_name_models_and_actions():
    scope = "model:credit-risk:read,predict; model:churn:*"
    assert scope_allows(scope, "predict", "model:credit-risk")
    assert scope_allows(scope, "read", "model:credit-risk/3")
    assert not scope_allows(scope, "model.promote", "model:credit-risk/production")
    assert scope_allows(scope, "model.promote", "model:churn/production")
    assert not scope_allows(scope, "read", "model:other")
    # a list of models: allowed when some clause has the action (the list is then filtered)
    assert scope_allows(scope, "read", "model:*")
    assert not scope_allows("model:a:predict", "read", "model:*")
    # nothing but models: users, tokens, the audit log are out of every scope
    for action, subject in [
        ("token.create", "user:x"),
        ("read", "user:*"),
        ("audit.read", "audit"),
    ]:
        assert not scope_allows("model:*:*", action, subject)


def test_the_canonical_form_sorts_actions():
    assert normalize_scope(" model:credit:read , predict ") == "model:credit:predict,read"
    assert normalize_scope(None) is None


@pytest.mark.parametrize(
    "bad",
    ["", " ", "credit:read", "model:credit", "model::read", "team:risk:read",
     "model:credit:fly", "model:bad name:read", "model:credit\n:read", "x" * 5000],
)  # fmt: skip
def test_a_bad_scope_is_refused_naming_the_field(bad):
    with pytest.raises(ValidationError) as err:
        parse_scope(bad)
    assert err.value.details["field"] == "scope"


def test_a_scope_narrows_the_decision_and_never_widens_it(warden, registered):
    warden.create_user("alice", "admin")
    warden.create_user("svc", "viewer")
    svc = replace(warden.access.get_user("svc"), scope="model:*:*")
    model = registered.name
    assert warden.access.decide(svc, "read", f"model:{model}").allowed
    refused = warden.access.decide(svc, "model.promote", f"model:{model}")
    assert (refused.allowed, refused.rule) == (False, "none")  # the viewer role still rules
    admin = replace(warden.access.get_user("alice"), scope=f"model:{model}:read")
    narrowed = warden.access.decide(admin, "alias.set", f"model:{model}/production")
    assert (narrowed.allowed, narrowed.rule) == (False, "scope")
    assert not warden.access.decide(admin, "user.create", "user:x").allowed
    assert warden.access.readable(admin, [model, "other"]) == {model}
