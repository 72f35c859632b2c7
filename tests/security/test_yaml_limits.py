"""The one YAML loader: no anchors or aliases, bounded size, depth and node count, and every
YAML reader in Warden goes through it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from security_support import BILLION_LAUGHS

from mlwarden import _yaml, limits
from mlwarden.errors import PolicyError, ValidationError
from mlwarden.policy.loader import loads
from mlwarden.privacy.masking import MaskingPolicy


def test_plain_documents_load_as_safe_load_does():
    text = "name: x\nrules:\n  - {id: a, check: 'true'}\nn: 1.5\nwhen: 2024-01-01\n"
    assert _yaml.load(text) == yaml.safe_load(text)
    assert _yaml.compose(text).start_mark.line == 0
    assert _yaml.load("") is None


@pytest.mark.parametrize(
    ("text", "needle", "line"),
    [
        (BILLION_LAUGHS, "anchors (&a)", 1),
        ("a: 1\nb: *x\n", "aliases (*x)", 2),
        ("base: &b {x: 1}\nother:\n  <<: *b\n", "anchors (&b)", 1),
    ],
)
def test_anchors_and_aliases_are_refused_with_their_line(text, needle, line):
    with pytest.raises(_yaml.YamlLimitError) as err:
        _yaml.load(text)
    assert needle in str(err.value)
    assert err.value.problem_mark.line + 1 == line


def test_size_depth_and_node_count_are_capped():
    with pytest.raises(_yaml.YamlLimitError, match="larger than 256 KiB"):
        _yaml.load("x: '" + "a" * limits.YAML_MAX_BYTES + "'\n")
    deep = "[" * (limits.YAML_MAX_DEPTH + 1) + "]" * (limits.YAML_MAX_DEPTH + 1)
    with pytest.raises(_yaml.YamlLimitError, match="deeper than 32"):
        _yaml.load(deep)
    ok = "[" * limits.YAML_MAX_DEPTH + "]" * limits.YAML_MAX_DEPTH
    assert _yaml.load(ok) is not None
    with pytest.raises(_yaml.YamlLimitError, match="more than 20000 nodes"):
        _yaml.load("[" + ",".join(["1"] * limits.YAML_MAX_NODES) + "]")


def test_gate_and_monitoring_policies_refuse_anchors_as_policy_errors():
    from mlwarden.alerts.policy import loads as load_monitoring

    with pytest.raises(PolicyError) as err:
        loads(BILLION_LAUGHS, "gate.yaml")
    assert "gate.yaml:1" in err.value.message and "anchors" in err.value.message
    with pytest.raises(PolicyError, match="anchors"):
        load_monitoring("kind: monitoring\n" + BILLION_LAUGHS, "mon.yaml")


def test_masking_policy_refuses_anchors():
    with pytest.raises(ValidationError, match="anchors"):
        MaskingPolicy.from_yaml(BILLION_LAUGHS)


def test_no_other_yaml_reader_in_the_package():
    src = Path(__file__).resolve().parents[1] / "src" / "mlwarden"
    readers = re.compile(r"(?<![\w.])yaml\.(safe_load|load|unsafe_load|full_load|compose)\b")
    found = [
        f"{p.relative_to(src)}:{i}"
        for p in src.rglob("*.py")
        if p.name != "_yaml.py"
        for i, line in enumerate(p.read_text().splitlines(), 1)
        if readers.search(line)
    ]
    assert found == []
