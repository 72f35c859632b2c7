"""The one YAML loader for text that may come from a client: safe tags only, no anchors or
aliases (a 500-byte "billion laughs" document expands to gigabytes through them), and caps on
size, depth and node count (``mlwarden.limits``). Every YAML read in Warden goes through here.
"""

from __future__ import annotations

from typing import Any

import yaml

from mlwarden import limits


class YamlLimitError(yaml.MarkedYAMLError):
    """A document this loader refuses; ``problem_mark`` points at the offending node."""


class _Loader(yaml.SafeLoader):
    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._nodes = 0

    def _refuse(self, problem: str, event: yaml.Event | None) -> YamlLimitError:
        return YamlLimitError(problem=problem, problem_mark=event.start_mark if event else None)

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            raise self._refuse(
                f"YAML aliases (*{event.anchor}) are not accepted: write the value out", event
            )
        anchor = getattr(event, "anchor", None)
        if anchor is not None:
            raise self._refuse(
                f"YAML anchors (&{anchor}) are not accepted: write the value out", event
            )
        self._nodes += 1
        if self._nodes > limits.YAML_MAX_NODES:
            raise self._refuse(f"the document has more than {limits.YAML_MAX_NODES} nodes", event)
        self._depth += 1
        try:
            if self._depth > limits.YAML_MAX_DEPTH:
                raise self._refuse(
                    f"the document nests deeper than {limits.YAML_MAX_DEPTH} levels", event
                )
            return super().compose_node(parent, index)  # type: ignore[no-any-return]
        finally:
            self._depth -= 1


def _check_size(text: str) -> None:
    # a cheap bound first: UTF-8 needs at most 4 bytes per character
    if len(text) * 4 > limits.YAML_MAX_BYTES and len(text.encode()) > limits.YAML_MAX_BYTES:
        raise YamlLimitError(
            problem=f"the document is larger than {limits.YAML_MAX_BYTES // 1024} KiB"
        )


def compose(text: str) -> yaml.Node | None:
    """The document's node tree (with line marks), or ``None`` for an empty document.
    Raises ``yaml.YAMLError`` (``YamlLimitError`` for refused documents)."""
    _check_size(text)
    loader = _Loader(text)
    try:
        return loader.get_single_node()  # type: ignore[no-any-return]
    finally:
        loader.dispose()


def load(text: str) -> Any:
    """The document as Python values (``yaml.safe_load`` within this module's limits)."""
    _check_size(text)
    loader = _Loader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()
