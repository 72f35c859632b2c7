"""The one way Warden compiles CEL text: limits first, then the runtime, then a cost bound.

The CEL runtime (``common-expression-language``) crashes the whole process on a chain of about
12,500 operators (a stack overflow in native code, not an exception), has no cost limit, and
holds the GIL while it evaluates. So text is checked for length, nesting and operator count
(``mlwarden.limits``) before the runtime sees it, and the compiled rule is refused when its
static cost bound (``mlwarden.policy.cost``) exceeds the budget at nominal sizes. The program
returned checks the bound again against the real context before each evaluation.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import cel

from mlwarden import limits
from mlwarden.errors import PolicyError
from mlwarden.policy.analysis import _TOKEN
from mlwarden.policy.cost import estimate, largest_collection, parse

_OPEN = {"(": ")", "[": "]", "{": "}"}
_CLOSE = {")", "]", "}"}
_BINARY = {"==", "!=", "<=", ">=", "&&", "||", "<", ">", "+", "-", "*", "/", "%", "in"}
# after these tokens (or at the start) a ``-`` or ``!`` is a prefix operator
_PREFIX_AFTER = {"(", "[", "{", ",", ":", "?", *_BINARY, "!"}


def check_text(src: str) -> None:
    """Refuse CEL text beyond the length, nesting and operator limits, with the offset of
    the first place that breaks one (``PolicyError`` with ``pos``)."""
    if len(src) > limits.CEL_MAX_CHARS:
        raise PolicyError(
            f"the expression is {len(src)} characters long; the limit is {limits.CEL_MAX_CHARS}",
            pos=limits.CEL_MAX_CHARS,
            limit="length",
        )
    # per open bracket: the ternaries and prefix operators around it, restored when it closes
    brackets: list[tuple[int, int]] = []
    ternaries = prefix = operators = 0
    prev = ""  # the previous token ("" at the start, "lit" for an operand)
    pos = 0
    while pos < len(src):
        m = _TOKEN.match(src, pos)
        if m is None:  # the runtime will report it as a syntax error
            pos += 1
            continue
        kind, text, start = m.lastgroup, m.group(), pos
        pos = m.end()
        if kind == "ws":
            continue
        op = text if kind == "op" or (kind == "id" and text == "in") else ""
        after_operator = prev in _PREFIX_AFTER or prev == ""
        if op in ("!", "-") and after_operator:
            prefix += 1
            operators += 1
        elif op in _BINARY or op == "?" or (op == "[" and not after_operator):
            operators += 1  # a binary operator, a ternary or indexing
            ternaries += op == "?"
        if op in _OPEN:
            brackets.append((ternaries, prefix))
            ternaries = prefix = 0
        elif op in _CLOSE and brackets:
            ternaries, _ = brackets.pop()
        depth = len(brackets) + sum(t + p for t, p in brackets) + ternaries + prefix
        if depth > limits.CEL_MAX_DEPTH:
            raise PolicyError(
                f"the expression nests deeper than {limits.CEL_MAX_DEPTH} levels "
                "(brackets, prefix operators and ?: together)",
                pos=start,
                limit="depth",
            )
        if operators > limits.CEL_MAX_OPERATORS:
            raise PolicyError(
                f"the expression has more than {limits.CEL_MAX_OPERATORS} operators",
                pos=start,
                limit="operators",
            )
        if not (op in ("!", "-") and after_operator):
            prefix = 0  # a prefix run ends at its operand
        prev = op or "lit"


def check_cost(
    src: str, size_of: Any = None, default: int = limits.CEL_NOMINAL_SIZE, *, tree: Any = False
) -> int:
    """The rule's cost bound; ``PolicyError`` when it is over ``CEL_MAX_COST``. ``tree``: the
    rule's ``cost.parse`` (parsed once per compiled rule), if known."""
    steps = estimate(src, size_of, default, tree=tree)
    if steps > limits.CEL_MAX_COST:
        raise PolicyError(
            f"the expression may take about {steps:,} evaluation steps; the budget is "
            f"{limits.CEL_MAX_COST:,} (each comprehension multiplies by the size of its range, "
            f"{default} items where the size is not known)",
            pos=0,
            limit="cost",
            steps=steps,
        )
    return steps


class Program:
    """A compiled rule: the runtime's program, re-checked against the real sizes of the
    context before each evaluation."""

    def __init__(self, src: str, program: Any) -> None:
        self.source = src
        self._program = program
        self._tree = parse(src)  # once: the bound is re-estimated on every evaluation

    def variables(self) -> list[str]:
        return self._program.variables()  # type: ignore[no-any-return]

    def functions(self) -> list[str]:
        return self._program.functions()  # type: ignore[no-any-return]

    def check_budget(self, context: Mapping[str, Any], largest: int | None = None) -> int:
        """Raise ``PolicyError`` when the rule is over budget on this context's sizes.
        ``largest``: ``largest_collection(context)``, when the caller measured it already
        (once per context for all its rules)."""

        def size_of(path: str) -> int | None:
            value: Any = context
            for part in path.split("."):
                if not isinstance(value, Mapping) or part not in value:
                    return None
                value = value[part]
            return len(value) if isinstance(value, Mapping | list | tuple) else None

        if largest is None:
            largest = largest_collection(context)
        return check_cost(self.source, size_of, default=max(1, largest), tree=self._tree)

    def execute(
        self,
        activation: Any,
        context: Mapping[str, Any] | None = None,
        largest: int | None = None,
    ) -> Any:
        if context is not None:
            self.check_budget(context, largest)
        return self._program.execute(activation)


def compile_cel(src: str) -> Program:
    """Check ``src`` against the limits, compile it, and bound its cost at nominal sizes.

    Raises ``PolicyError`` (with ``pos``, an offset into ``src``) for a rule over a limit,
    and the runtime's ``ValueError``/``RuntimeError`` for a syntax error.
    """
    check_text(src)
    program = Program(src, cel.compile(src))
    check_cost(src, tree=program._tree)
    return program
