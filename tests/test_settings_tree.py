"""The one settings tree (issue 16 item 4): every setting is in README's configuration table,
every documented ``MLWARDEN_*`` name still sets it, the services and the app take it injected,
``mlwarden serve``'s options are derived from it, and nothing else reads the environment.

``python tests/test_settings_tree.py`` rewrites README's table from the tree."""

from __future__ import annotations

import functools
import os
import pickle
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import httpx
import pytest
from pydantic import AliasChoices, BaseModel, SecretStr
from pydantic.fields import FieldInfo

from mlwarden.settings import (
    AlertSettings,
    DashboardSettings,
    OIDCSettings,
    OtelSettings,
    PrivacySettings,
    ProxySettings,
    ServerSettings,
    Settings,
)

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
SRC = ROOT / "src"
HEADER = "| setting | environment | default | meaning |\n|---|---|---|---|\n"


def _env_heads(name: str, field: FieldInfo) -> list[str]:
    """The names a section is read under: its alias first (the documented one), then its own."""
    alias = field.validation_alias
    heads = list(alias.choices) if isinstance(alias, AliasChoices) else []
    return [str(h) for h in heads if h != name] + [name]


def leaves() -> Iterator[tuple[str, list[str], FieldInfo]]:
    """(dotted name, environment variables, field) for every setting, sections walked."""
    for name, field in Settings.model_fields.items():
        section = field.annotation
        if isinstance(section, type) and issubclass(section, BaseModel):
            heads = _env_heads(name, field)
            for sub, sub_field in section.model_fields.items():
                envs = [f"MLWARDEN_{h}_{sub}".upper() for h in heads]
                yield f"{name}.{sub}", envs, sub_field
        else:
            yield name, [f"MLWARDEN_{name}".upper()], field


def _default(field: FieldInfo) -> str:
    value = field.get_default(call_default_factory=True)
    if value is None or value == () or value == []:
        return "—"
    if isinstance(value, bool):
        value = str(value).lower()
    if isinstance(value, Path) and not value.is_absolute() and not str(value).startswith("~"):
        value = f"./{value.as_posix()}"
    if isinstance(value, (tuple, list)):
        value = ",".join(map(str, value))
    return f"`{value}`"


def table() -> str:
    rows = []
    for name, envs, field in leaves():
        env = f"`{envs[0]}`"  # the documented name; a section's own name works in the tree too
        meaning = (field.description or "").replace("|", "\\|").replace("\n", " ")
        rows.append(f"| `{name}` | {env} | {_default(field)} | {meaning} |")
    return HEADER + "\n".join(rows) + "\n"


def readme_table(text: str) -> str:
    section = text.split("## Configuration", 1)[1]
    start = section.index("| setting |")
    end = section.index("\n\n", start)
    return section[start : end + 1]


def test_every_setting_says_what_it_means():
    assert [name for name, _, field in leaves() if not field.description] == []


def test_every_setting_is_in_the_readme_table():
    documented = readme_table(README.read_text())
    missing = [name for name, _, _ in leaves() if f"| `{name}` |" not in documented]
    assert not missing, f"settings missing from README's configuration table: {missing}"
    # the whole table is generated from the tree: defaults and meanings cannot drift either
    assert documented == table(), "README's table is stale: python tests/test_settings_tree.py"


def _other_value(field: FieldInfo) -> tuple[str, Any]:
    """An environment value unlike the default, and what the setting then holds."""
    ann = field.annotation
    default = field.get_default(call_default_factory=True)
    args = [a for a in get_args(ann) if a is not type(None)]
    if ann is bool:
        return str(not default).lower(), not default
    if ann is int:
        return str(default + 1), default + 1
    if args == [int]:  # int | None, default None
        return "3", 3
    if ann is float:
        value = default / 2 if default else 1.0
        return str(value), value
    if get_origin(ann) is Literal:
        other = next(a for a in get_args(ann) if a != default)
        return other, other
    if get_origin(ann) is tuple or get_origin(ann) is list:
        return "US, DE", ("US", "DE") if get_origin(ann) is tuple else ["US", "DE"]
    if Path in args or ann is Path:
        return "/tmp/set-by-env", Path("/tmp/set-by-env")
    if SecretStr in args:
        return "set-by-env", SecretStr("set-by-env")
    return "set-by-env", "set-by-env"


def _get(tree: BaseModel, dotted: str) -> Any:
    value: Any = tree
    for part in dotted.split("."):
        value = getattr(value, part)
    return value


SECTIONS = {
    "server": ServerSettings,
    "proxy": ProxySettings,
    "alerts": AlertSettings,
    "dashboard": DashboardSettings,
    "privacy": PrivacySettings,
    "otel": OtelSettings,
    "oidc": OIDCSettings,
}

#: Settings whose values are checked: an other value that passes the check.
VALID_OTHER = {
    "audit_reads": ("high, medium", ("high", "medium")),
    "oidc.algorithms": ("ES256, PS256", ("ES256", "PS256")),
    "oidc.role_map": ("ops=admin, ds=developer", ("ops=admin", "ds=developer")),
}


@pytest.mark.parametrize("name,envs,field", list(leaves()), ids=lambda v: str(v)[:40])
def test_every_documented_name_sets_the_setting(monkeypatch, name, envs, field):
    for key in list(os.environ):
        if key.startswith("MLWARDEN_"):
            monkeypatch.delenv(key)
    raw, expected = VALID_OTHER.get(name) or _other_value(field)
    for env in envs:  # each name alone; the documented one in its section read alone too
        monkeypatch.setenv(env, raw)
        got = _get(Settings(), name)
        if isinstance(expected, SecretStr):
            got, expected_value = got.get_secret_value(), expected.get_secret_value()
        else:
            expected_value = expected
        assert got == expected_value, (env, got)
        if "." in name and env == envs[0]:
            section, sub = name.split(".")
            alone = getattr(SECTIONS[section](), sub)
            alone = alone.get_secret_value() if isinstance(alone, SecretStr) else alone
            assert alone == expected_value, (env, alone)
        monkeypatch.delenv(env)


def test_nested_section_names_also_work(monkeypatch):
    monkeypatch.setenv("MLWARDEN_SERVER_PORT", "9191")
    monkeypatch.setenv("MLWARDEN_SERVE_HOST", "0.0.0.0")
    monkeypatch.setenv("MLWARDEN_PRIVACY_PHONE_REGIONS", "FR")
    tree = Settings()
    assert (tree.server.port, tree.server.host) == (9191, "0.0.0.0")
    assert tree.privacy.phone_regions == ("FR",)
    assert Settings(server={"port": 1}).server.host == "0.0.0.0"  # kwargs merge with the env


def test_a_bad_value_names_its_variable(monkeypatch):
    monkeypatch.setenv("MLWARDEN_SERVE_PORT", "http")
    with pytest.raises(ValueError, match="port"):
        Settings()


# -- nothing else reads the environment -----------------------------------------------------

#: The reads that are not settings: the OS user name, the sandbox's child environment, and a
#: webhook channel's secret, whose variable is named by the channel (checked against
#: ``alerts.secret_envs``).
ALLOWED_READS = {
    "settings.py": 1,
    "registry/sandbox.py": 1,
    "alerts/notify.py": 1,
}


def test_no_raw_environment_reads_outside_the_settings():
    pattern = re.compile(r"os\.environ|os\.getenv|getenv\(")
    found: dict[str, int] = {}
    for path in (SRC / "mlwarden").rglob("*.py"):
        n = len(pattern.findall(path.read_text()))
        if n:
            found[path.relative_to(SRC / "mlwarden").as_posix()] = n
    assert found == ALLOWED_READS


# -- injected -----------------------------------------------------------------------------


@pytest.fixture
def local(tmp_path):
    import mlwarden as mw

    wd = mw.Warden(f"sqlite:///{tmp_path}/w.db", artifacts=str(tmp_path / "a"), actor="alice")
    yield wd
    wd.close()


def test_warden_hands_its_alert_section_to_the_notifier(tmp_path):
    import mlwarden as mw

    tree = Settings(home=tmp_path, alerts={"attempts": 7})
    with mw.Warden(settings=tree) as wd:
        assert wd.alerting.notifier.settings.attempts == 7


def test_create_app_takes_the_tree(local, tmp_path):
    from fastapi.testclient import TestClient

    from mlwarden.server import create_app

    (tmp_path / "team").mkdir()
    (tmp_path / "team" / "house-rules.yaml").write_text("version: 1\n")
    tree = local.settings.model_copy(
        update={
            "server": ServerSettings(max_body_bytes=2048),
            "alerts": AlertSettings(metrics_auth=False, interval_s=0),
            "dashboard": DashboardSettings(policy_dir=tmp_path / "team"),
        }
    )
    app = create_app(tree, local)
    assert app.state.settings is tree
    with TestClient(app) as client:
        assert client.get("/metrics").status_code == 200  # alerts.metrics_auth=False
        big = client.post(
            "/v1/models", content=b"{" + b" " * 4096 + b"}", headers={"content-type": "json"}
        )
        assert big.status_code == 413  # server.max_body_bytes
    from starlette.requests import Request

    from mlwarden.server.dashboard.routes import policy_choices

    request = Request({"type": "http", "app": app})
    assert policy_choices(request)["house-rules"].endswith("house-rules.yaml")


def test_create_app_still_takes_the_server_section_alone(local):
    from mlwarden.server import create_app

    app = create_app(ServerSettings(max_rows=5), local)
    assert app.state.ctx.settings.max_rows == 5
    assert app.state.settings.uri == local.settings.uri  # the rest is the warden's tree


def test_the_tree_pickles_into_worker_processes():
    from mlwarden.server.app import app_for

    tree = Settings(token="t", master_key="k", server={"port": 1})
    factory = pickle.loads(pickle.dumps(functools.partial(app_for, tree)))
    assert factory.args[0] == tree
    assert factory.args[0].master_key.get_secret_value() == "k"


# -- CLI options derived from the tree ------------------------------------------------------


def _invoke(args: list[str]) -> Any:
    from typer.testing import CliRunner

    from mlwarden.cli.main import app

    return CliRunner().invoke(app, args)


def test_serve_has_one_option_per_server_setting():
    import inspect

    from mlwarden.cli.serve import serve

    assert set(inspect.signature(serve).parameters) == set(ServerSettings.model_fields) | {"uri"}
    out = _invoke(["serve", "--help"])
    assert out.exit_code == 0
    assert "--batch-wait-ms" in out.output and "--no-settle-heap" in out.output


def test_serve_options_override_the_environment_and_only_when_given(monkeypatch):
    from mlwarden.server import run as server_run  # what `mlwarden serve` calls

    seen: list[Settings] = []
    monkeypatch.setattr(server_run, "run", seen.append)
    monkeypatch.setenv("MLWARDEN_SERVE_PORT", "9001")
    monkeypatch.setenv("MLWARDEN_SERVE_MAX_ROWS", "7")
    out = _invoke(["serve", "--max-rows", "9", "--no-access-log", "--durability", "async"])
    assert out.exit_code == 0, out.output
    server = seen[0].server
    assert (server.port, server.max_rows, server.access_log, server.durability) == (
        9001,
        9,
        False,
        "async",
    )


def test_a_bad_serve_option_is_one_line(monkeypatch):
    from mlwarden.server import run as server_run

    monkeypatch.setattr(server_run, "run", lambda tree: None)
    out = _invoke(["serve", "--durability", "sometimes"])
    assert out.exit_code == 1
    assert "--durability" in out.output and "Traceback" not in out.output


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_with_workers_gets_its_options_without_the_environment(tmp_path):
    """``--workers 2``: both processes build the app from the tree the command made (here
    ``--max-body-bytes``), with no ``MLWARDEN_SERVE_*`` in anyone's environment."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLWARDEN_")}
    env |= {"PYTHONPATH": str(SRC), "MLWARDEN_HOME": str(tmp_path)}
    code = "import sys; from mlwarden.cli.main import app; sys.argv[0] = 'mlwarden'; app()"
    args = ["serve", "--workers", "2", "--port", str(port), "--max-body-bytes", "2048"]
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-c", code, *args], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            if log.read_text().count("Application startup complete") == 2:
                break  # both workers have built their app
            time.sleep(0.2)
        statuses = {
            httpx.post(
                f"http://127.0.0.1:{port}/v1/models",
                content=b"{" + b" " * 4096 + b"}",
                headers={"content-type": "application/json"},
            ).status_code
            for _ in range(8)
        }
        assert statuses == {413}
        assert httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200
    finally:
        proc.terminate()
        proc.wait(30)


if __name__ == "__main__":
    text = README.read_text()
    old = readme_table(text)
    README.write_text(text.replace(old, table(), 1))
    print(f"README configuration table: {len(list(leaves()))} settings")
