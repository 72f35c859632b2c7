"""One exception tree for the SDK, the CLI and the HTTP API.

Every error carries the HTTP status the server answers with, so ``server/`` is the only place
that maps exceptions to responses and a remote client can raise the same class again.
"""

from __future__ import annotations

from typing import Any


class WardenError(Exception):
    """Base of every error Warden raises on purpose."""

    http_status: int = 500
    code: str = "warden_error"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        # the API's error envelope (the class's ``code`` as ``error``), not the fields
        return {"error": self.code, "message": self.message, "details": self.details}


class ValidationError(WardenError, ValueError):
    """Bad input: a malformed reference, mismatched arrays, an unknown field."""

    http_status = 422
    code = "validation_error"


class PolicyError(ValidationError):
    """A policy rule Warden refuses to run: too long, too deeply nested, or over the
    evaluation budget (``mlwarden.limits``)."""

    code = "policy_error"


class NotFound(WardenError, LookupError):
    """A model, version, alias, event or other record does not exist."""

    http_status = 404
    code = "not_found"


class AlreadyExists(WardenError):
    """Creating something whose name is taken."""

    http_status = 409
    code = "already_exists"


class Conflict(WardenError):
    """A concurrent change won; retry with fresh state."""

    http_status = 409
    code = "conflict"


class IntegrityError(WardenError):
    """Stored bytes or records do not match their recorded hash."""

    http_status = 500
    code = "integrity_error"


class AuthenticationError(WardenError):
    """Missing, malformed, expired or revoked credentials."""

    http_status = 401
    code = "unauthenticated"


class PermissionDenied(WardenError, PermissionError):
    """The actor's role or the separation-of-duties rules forbid the action."""

    http_status = 403
    code = "permission_denied"


class PolicyViolation(WardenError):
    """A policy gate refused a promotion; ``details['failed_rules']`` lists why."""

    http_status = 409
    code = "policy_violation"


class UntrustedCode(PermissionDenied):
    """A version names code (a loader, a pickled type) the operator did not install or allow:
    only built-in flavors, entry-point plugins and ``MLWARDEN_TRUSTED_LOADERS`` run."""

    code = "untrusted_code"


class ArtifactRejected(ValidationError):
    """The artifact failed the sandbox check: it did not load, crashed, ran out of time or
    memory, or could not predict a sample of its inputs."""

    code = "artifact_rejected"


class MissingDependency(WardenError, ImportError):
    """An optional extra is needed for this feature."""

    http_status = 501
    code = "missing_dependency"


class MalformedJson(ValidationError):
    """A request body that is not JSON, or not the JSON the route takes."""

    http_status = 400
    code = "malformed_json"


class EgressRefused(ValidationError):
    """A destination (a webhook, a proxied endpoint) outside what the operator allows."""

    code = "egress_refused"


class NoScores(ValidationError, AttributeError):
    """The upstream returns no scores. An ``AttributeError`` too, so code that probes for
    ``predict_proba`` (registration, explainers) treats the model as having none."""

    code = "no_scores"


class KeyMismatch(IntegrityError):
    """The store was keyed by a key this process does not hold."""

    http_status = 503
    code = "key_mismatch"


class SchemaOutOfDate(WardenError):
    """The database schema is older (or newer) than this Warden: run ``mlwarden db upgrade``."""

    http_status = 503
    code = "schema_out_of_date"


class UpstreamError(WardenError):
    """The upstream model endpoint failed or answered something unusable."""

    http_status = 502
    code = "upstream_error"


class UpstreamRefused(UpstreamError):
    """The egress rules refuse the upstream endpoint: nothing was sent to it."""

    code = "upstream_refused"


class UpstreamUnavailable(WardenError):
    """The circuit to the upstream endpoint is open: calls are refused for a while."""

    http_status = 503
    code = "upstream_unavailable"


#: every class above by its code: how a remote client raises the server's exception again
#: (``remote.error_from_response``); tests/test_public_api.py checks that each one is here
ERRORS_BY_CODE: dict[str, type[WardenError]] = {
    cls.code: cls
    for cls in (
        WardenError,
        ValidationError,
        PolicyError,
        NotFound,
        AlreadyExists,
        Conflict,
        IntegrityError,
        AuthenticationError,
        PermissionDenied,
        PolicyViolation,
        MissingDependency,
        UntrustedCode,
        ArtifactRejected,
        MalformedJson,
        EgressRefused,
        NoScores,
        KeyMismatch,
        SchemaOutOfDate,
        UpstreamError,
        UpstreamRefused,
        UpstreamUnavailable,
    )
}


def require(module: str, extra: str) -> Any:
    """Import an optional dependency or say which extra brings it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependency(
            f"{module} is not installed; install it with: pip install 'mlwarden[{extra}]'",
            module=module,
            extra=extra,
        ) from exc
