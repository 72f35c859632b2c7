"""Mirror an MLflow model registry into Warden over MLflow's REST API (MLflow is not imported).

For each registered model and each of its versions not yet mirrored: the version's ``MLmodel``
is read, its artifact converted to a safe format (LightGBM and XGBoost native files are loaded
natively; a scikit-learn model saved with skops is vetted like any skops upload; a pickled one
is refused unless an admin passes ``trust_pickle``, which the audit log records), then it is
registered with the MLflow facts in its lineage under ``lineage["mlflow"]``: tracking URI,
model, version, run id, source, tags, description, the run's params, metrics and dataset inputs.
The run's metrics are also stored as ``mlflow.NAME`` metrics marked *asserted* (MLflow measured
them, not Warden). Aliases are mirrored last. A re-sync skips versions already mirrored (found
by their ``lineage.mlflow.version``) and moves only aliases that changed, each move audited.
"""

from __future__ import annotations

import dataclasses
import io
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import httpx

from mlwarden import _yaml
from mlwarden.entities import ASSERTED
from mlwarden.entities.wire import Wire
from mlwarden.errors import (
    ArtifactRejected,
    NotFound,
    UpstreamError,
    WardenError,
)

if TYPE_CHECKING:
    from mlwarden.access.users import AccessService
    from mlwarden.entities import AliasChange, Model, ModelVersion
    from mlwarden.policy.gates import GateService
    from mlwarden.registry.service import RegistryService


class MirrorTarget(Protocol):
    """The members of the local ``Warden`` the mirror uses (a Protocol here, so mypy checks
    them without the registry importing the facade above it)."""

    @property
    def actor(self) -> str: ...
    @property
    def access(self) -> AccessService: ...
    @property
    def registry(self) -> RegistryService: ...
    @property
    def gates(self) -> GateService: ...

    def get_model(self, name: str) -> Model: ...
    def list_versions(self, name: str) -> list[ModelVersion]: ...
    # the parameters the mirror passes (the facade's has more, all with defaults)
    def set_alias(
        self, name: str, alias: str, version: int, *, reason: str | None
    ) -> AliasChange: ...


API = "/api/2.0/mlflow"
#: largest artifact file fetched from MLflow
MAX_ARTIFACT_BYTES = 512 * 1024 * 1024
TRUST_PICKLE = "mlflow.trust_pickle"


@dataclass
class SyncReport(Wire):
    imported: list[str] = field(default_factory=list)  # "name@warden_version (mlflow vN)"
    skipped: list[str] = field(default_factory=list)  # already mirrored
    refused: list[str] = field(default_factory=list)  # "name vN: reason"
    aliases: list[str] = field(default_factory=list)  # "name@alias -> warden version"


class MlflowRest:
    """The few MLflow REST calls the import needs (a tracking server's ``/api/2.0/mlflow``)."""

    def __init__(self, tracking_uri: str, *, timeout: float = 60.0) -> None:
        self.uri = tracking_uri.rstrip("/")
        self.http = httpx.Client(base_url=self.uri, timeout=timeout)

    def close(self) -> None:
        self.http.close()

    def _get(self, path: str, **params: Any) -> dict[str, Any]:
        try:
            r = self.http.get(path, params=params)
        except httpx.HTTPError as exc:
            raise UpstreamError(f"MLflow at {self.uri} did not answer: {exc}") from exc
        if r.status_code == 404:
            raise NotFound(f"MLflow has no {path} {params}: {r.text[:200]}")
        if r.status_code >= 400:
            raise UpstreamError(f"MLflow answered {r.status_code} to {path}: {r.text[:200]}")
        return r.json()  # type: ignore[no-any-return]  # MLflow answers JSON objects

    def _pages(self, path: str, key: str, **params: Any) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        token = None
        while True:
            page = self._get(
                path, max_results=1000, **params, **({"page_token": token} if token else {})
            )
            items.extend(page.get(key, []))
            token = page.get("next_page_token")
            if not token:
                return items

    def registered_models(self, name: str | None = None) -> list[dict[str, Any]]:
        if name is not None:
            return [self._get(f"{API}/registered-models/get", name=name)["registered_model"]]
        return self._pages(f"{API}/registered-models/search", "registered_models")

    def versions(self, name: str) -> list[dict[str, Any]]:
        quoted = name.replace("'", "\\'")
        found = self._pages(
            f"{API}/model-versions/search", "model_versions", filter=f"name='{quoted}'"
        )
        return sorted(found, key=lambda v: int(v["version"]))

    def run(self, run_id: str) -> dict[str, Any]:
        return self._get(f"{API}/runs/get", run_id=run_id)["run"]  # type: ignore[no-any-return]

    def artifact(self, name: str, version: str, path: str) -> bytes:
        """One file of a model version's artifacts (``/model-versions/get-artifact``)."""
        params = {"name": name, "version": version, "path": path}
        try:
            with self.http.stream("GET", "/model-versions/get-artifact", params=params) as r:
                if r.status_code >= 400:
                    r.read()
                    raise NotFound(f"MLflow has no artifact {path} of {name} v{version}")
                data = bytearray()
                for chunk in r.iter_bytes():
                    data.extend(chunk)
                    if len(data) > MAX_ARTIFACT_BYTES:
                        raise ArtifactRejected(
                            f"{path} of {name} v{version} is over {MAX_ARTIFACT_BYTES} bytes",
                            field="artifact",
                        )
                return bytes(data)
        except httpx.HTTPError as exc:
            raise UpstreamError(f"MLflow at {self.uri} did not answer: {exc}") from exc


def _tags(items: Any) -> dict[str, str]:
    return {t["key"]: str(t.get("value", "")) for t in items or [] if "key" in t}


#: MLflow ColSpec types and the signature types Warden validates against
_COLSPEC_TYPES = {
    "double": "float",
    "float": "float",
    "long": "integer",
    "integer": "integer",
    "boolean": "boolean",
    "string": "string",
    "datetime": "datetime",
}


def signature_inputs(signature: Any) -> list[dict[str, Any]]:
    """Warden's input specs from an MLmodel's column signature (names, types, ``required``);
    ``[]`` when MLflow recorded none, or a tensor signature, which names no columns."""
    text = signature.get("inputs") if isinstance(signature, dict) else None
    try:
        columns = json.loads(text) if isinstance(text, str) else None
    except ValueError:
        return []
    if not isinstance(columns, list):
        return []
    specs = []
    for col in columns:
        kind = _COLSPEC_TYPES.get(str(col.get("type"))) if isinstance(col, dict) else None
        if kind is None or not isinstance(col.get("name"), str):
            return []
        nullable = not col.get("required", True)
        specs.append({"name": col["name"], "type": kind, "nullable": nullable, "sensitive": False})
    return specs


def load_safely(
    rest: MlflowRest, name: str, version: str, flavors: dict[str, Any], trust_pickle: bool
) -> tuple[Any, str]:
    """The model object of an MLflow version and how it was read; ``ArtifactRejected`` when
    only a pickle would do and ``trust_pickle`` is off."""
    lgb_flavor = flavors.get("lightgbm") or {}
    if str(lgb_flavor.get("model_class", "")).endswith("Booster") and lgb_flavor.get("data"):
        import lightgbm as lgb

        text = rest.artifact(name, version, lgb_flavor["data"]).decode()
        return lgb.Booster(model_str=text), "lightgbm-native"
    xgb_flavor = flavors.get("xgboost") or {}
    if str(xgb_flavor.get("model_class", "")).endswith("Booster") and xgb_flavor.get("data"):
        import xgboost as xgb

        booster = xgb.Booster()
        booster.load_model(bytearray(rest.artifact(name, version, xgb_flavor["data"])))
        return booster, "xgboost-native"
    sk = flavors.get("sklearn") or {}
    if sk.get("pickled_model") and sk.get("serialization_format") == "skops":
        import skops.io as sio

        from mlwarden.registry.flavors.sklearn import vetted_types

        data = rest.artifact(name, version, sk["pickled_model"])
        return sio.loads(data, trusted=vetted_types(data)), "skops"
    pickled = sk.get("pickled_model") or lgb_flavor.get("data") or xgb_flavor.get("data")
    if not pickled:
        raise ArtifactRejected(
            f"{name} v{version}: no flavor Warden can read ({sorted(flavors)})", field="flavor"
        )
    if not trust_pickle:
        raise ArtifactRejected(
            f"{name} v{version} is only available as a pickle ({pickled}); loading it runs "
            "arbitrary code: an admin may pass --trust-pickle",
            field="artifact",
        )
    import pickle

    data = rest.artifact(name, version, pickled)
    # the admin's explicit, audited decision (see import_mlflow); converted to skops/native
    # on registration, so the pickle is never stored nor loaded again
    return pickle.load(io.BytesIO(data)), "pickle"


def import_mlflow(
    wd: MirrorTarget,
    tracking_uri: str,
    *,
    model: str | None = None,
    trust_pickle: bool = False,
    rest: MlflowRest | None = None,
) -> SyncReport:
    """Mirror ``tracking_uri``'s registry (or one ``model``) into ``wd``; see the module doc."""
    if trust_pickle:  # an admin's decision (audited refusal otherwise)
        wd.access.require(wd.actor, TRUST_PICKLE, f"mlflow:{tracking_uri}")
    own = rest is None
    client = rest or MlflowRest(tracking_uri)
    report = SyncReport()
    try:
        for rm in client.registered_models(model):
            _sync_model(wd, client, rm, trust_pickle, report)
    finally:
        if own:
            client.close()
    return report


def _mirrored(wd: MirrorTarget, name: str) -> dict[str, int]:
    """MLflow version -> Warden version, for the versions of ``name`` already mirrored."""
    try:
        versions = wd.list_versions(name)
    except NotFound:
        return {}
    found = {}
    for v in versions:
        ml = (v.lineage or {}).get("mlflow") or {}
        if ml.get("version") is not None:
            found[str(ml["version"])] = v.version
    return found


def _sync_model(
    wd: MirrorTarget, rest: MlflowRest, rm: dict[str, Any], trust_pickle: bool, report: SyncReport
) -> None:
    name = rm["name"]
    done = _mirrored(wd, name)
    for mv in rest.versions(name):
        version = str(mv["version"])
        if version in done:
            report.skipped.append(f"{name} v{version}")
            continue
        try:
            mlmodel = _yaml.load(rest.artifact(name, version, "MLmodel").decode()) or {}
            obj, how = load_safely(rest, name, version, mlmodel.get("flavors") or {}, trust_pickle)
            inputs = signature_inputs(mlmodel.get("signature"))
        except WardenError as exc:
            report.refused.append(f"{name} v{version}: {exc.message}")
            continue
        if how == "pickle":
            wd.access.recorder.record(
                wd.actor,
                TRUST_PICKLE,
                f"model:{name}",
                {"mlflow": rest.uri, "version": version, "source": mv.get("source")},
            )
        registered = _register(wd, rest, rm, mv, obj, how, inputs)
        done[version] = registered.version
        report.imported.append(f"{name}@{registered.version} (mlflow v{version})")
    current = wd.get_model(name).aliases if done else {}
    for item in rm.get("aliases") or []:
        alias, target = item["alias"], done.get(str(item["version"]))
        if target is None or current.get(alias) == target:
            continue
        try:
            wd.set_alias(name, alias, target, reason=f"mirrored from MLflow {rest.uri}")
            report.aliases.append(f"{name}@{alias} -> {target}")
        except WardenError as exc:  # a protected alias moves only through its gate
            report.refused.append(f"{name}@{alias}: {exc.message}")


def _run_facts(rest: MlflowRest, run_id: str | None) -> dict[str, Any]:
    if not run_id:
        return {}
    try:
        run = rest.run(run_id)
    except NotFound:
        return {"run_id": run_id, "run": "deleted"}
    data = run.get("data") or {}
    inputs = (run.get("inputs") or {}).get("dataset_inputs") or []
    return {
        "run_id": run_id,
        "experiment_id": (run.get("info") or {}).get("experiment_id"),
        "params": {p["key"]: p.get("value") for p in data.get("params") or []},
        "metrics": {m["key"]: m.get("value") for m in data.get("metrics") or []},
        "datasets": [
            {
                **{
                    k: d.get("dataset", {}).get(k)
                    for k in ("name", "digest", "source_type", "source")
                },
                "context": _tags(d.get("tags")).get("mlflow.data.context"),
            }
            for d in inputs
        ],
    }


def _register(
    wd: MirrorTarget,
    rest: MlflowRest,
    rm: dict[str, Any],
    mv: dict[str, Any],
    obj: Any,
    how: str,
    inputs: list[dict[str, Any]],
) -> Any:
    name = rm["name"]
    wd.access.require(wd.actor, "model.register", f"model:{name}")
    run = _run_facts(rest, mv.get("run_id"))
    prepared = wd.registry.prepare(
        name,
        obj,
        actor=wd.actor,
        risk_tier=wd.gates.assign_tier(wd.actor, None),
        description=mv.get("description") or rm.get("description") or None,
        tags=_tags(rm.get("tags")),
    )
    metrics = {
        f"mlflow.{k}": float(v)
        for k, v in (run.get("metrics") or {}).items()
        if isinstance(v, (int, float))
    }
    lineage = {
        **prepared.spec.lineage,
        "mlflow": {
            "tracking_uri": rest.uri,
            "name": name,
            "version": str(mv["version"]),
            "source": mv.get("source"),
            "tags": _tags(mv.get("tags")),
            "description": mv.get("description"),
            "read_as": how,
            **run,
        },
    }
    spec = dataclasses.replace(
        prepared.spec,
        # no data travels with an import: the signature is MLflow's column spec, so the
        # version is validated and served like any other
        signature={**prepared.spec.signature, "inputs": inputs}
        if inputs
        else prepared.spec.signature,
        lineage=lineage,
        metrics={**prepared.spec.metrics, **metrics},
        provenance={**prepared.spec.provenance, **{f"metrics.{k}": ASSERTED for k in metrics}},
    )
    return wd.registry.commit(dataclasses.replace(prepared, spec=spec), actor=wd.actor)


def watch(
    sync: Callable[[], SyncReport],
    interval_s: float,
    on_report: Callable[[SyncReport], None],
    *,
    rounds: int | None = None,
) -> None:
    """``sync`` every ``interval_s`` seconds (``rounds`` times, or until interrupted)."""
    done = 0
    while rounds is None or done < rounds:
        on_report(sync())
        done += 1
        if rounds is None or done < rounds:
            time.sleep(interval_s)
