"""A static bound on how many steps a CEL rule takes, before the runtime runs it.

The CEL runtime has no cost limit and holds the GIL while it evaluates, so a rule of six nested
comprehensions over 20 items (20^6 = 64 million iterations, 370 bytes of text) froze the whole
server for 19 s. The bound here walks the rule's syntax tree: every node is a step, and a
comprehension (``all``, ``exists``, ``exists_one``, ``map``, ``filter``) costs its range's size
times its body. A list literal's size is its length; a context value's size is looked up
(``size_of``); anything else is assumed to be ``default`` items. At load time the context is
not known, so ``default`` is a nominal size; before evaluation the real sizes are used.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from mlwarden.policy.analysis import _MACROS, _chain, _Parser, _Unsupported

#: steps charged for one call of a function costlier than an operator
_CALL_WEIGHT = {"matches": 20}
_MACRO_CALL = re.compile(r"\.\s*(?:all|exists|exists_one|map|filter)\s*\(")

SizeOf = Callable[[str], "int | None"]


class _Estimator:
    def __init__(self, size_of: SizeOf, default: int) -> None:
        self.size_of = size_of
        self.default = default

    def est(self, node: tuple, scope: Mapping[str, int | None]) -> tuple[int, int | None, int]:
        """``(steps, size, element size)``; size is None for a scalar."""
        kind = node[0]
        d = self.default
        if kind == "lit":
            return 1, None, d
        if kind in ("ident", "select"):
            chain = _chain(node)
            if chain is not None:
                (root, _), fields = chain
                if root in scope:
                    size = scope[root] if not fields else d
                    return 1 + len(fields), size, d
                path = ".".join([root, *(name for name, _ in fields)])
                return 1 + len(fields), self.size_of(path), d
            steps = 0
            while node[0] == "select":  # (expr).a.b: no recursion per field
                steps += 1
                node = node[2]
            cost, _, _ = self.est(node, scope)
            return cost + steps, d, d
        if kind == "index":
            ca, _, elem = self.est(node[2], scope)
            cb, _, _ = self.est(node[3], scope)
            return ca + cb + 1, elem, d
        if kind == "unary":
            return self.est(node[3], scope)[0] + 1, None, d
        if kind == "binary":
            op = node[2]
            cl, sl, _ = self.est(node[3], scope)
            cr, sr, _ = self.est(node[4], scope)
            cost = cl + cr + 1
            if op == "+" and sl is not None and sr is not None:  # concatenation copies
                return cost + sl + sr, sl + sr, d
            if op == "in" and sr is not None:
                cost += sr
            return cost, None, d
        if kind == "cond":
            cc = self.est(node[2], scope)[0]
            ca, sa, _ = self.est(node[3], scope)
            cb, sb, _ = self.est(node[4], scope)
            size = None if sa is None and sb is None else max(sa or 0, sb or 0)
            return cc + max(ca, cb) + 1, size, d
        if kind in ("list", "map"):
            parts = [self.est(item, scope) for item in node[2]]
            cost = 1 + sum(p[0] for p in parts)
            if kind == "list":
                elem = max((p[1] or 0 for p in parts), default=0)
                return cost, len(parts), elem or d
            return cost, len(parts) // 2, d
        if kind == "call":
            name, target, args = node[2], node[3], node[4]
            if name in _MACROS and target is not None and args and args[0][0] == "ident":
                ct, st, et = self.est(target, scope)
                n = st if st is not None else d
                inner = {**scope, args[0][2]: et}
                body = sum(self.est(a, inner)[0] for a in args[1:])
                size = n if name in ("map", "filter") else None
                return ct + n * (body + 1) + 1, size, d
            cost = _CALL_WEIGHT.get(name, 1)
            for a in ([target] if target is not None else []) + list(args):
                cost += self.est(a, scope)[0]
            return cost, (d if name == "dyn" else None), d
        return 1, d, d


def parse(src: str) -> tuple | None:
    """The rule's syntax tree for ``estimate``, or None for syntax the checker does not model.
    Parsed once per compiled rule: the bound is re-estimated before each evaluation."""
    try:
        return _Parser(src).parse()
    except (_Unsupported, IndexError):
        return None


def estimate(
    src: str, size_of: SizeOf | None = None, default: int = 100, *, tree: Any = False
) -> int:
    """Steps ``src`` takes at most when every collection whose size ``size_of(path)`` does not
    give (``None`` means a scalar) has ``default`` items. ``tree``: ``parse(src)``, if known."""
    lookup: SizeOf = size_of or (lambda path: default)
    if tree is False:
        tree = parse(src)
    if tree is None:
        # syntax the checker does not model: bound it by its comprehensions, as if nested
        return (len(src) + 1) * default ** len(_MACRO_CALL.findall(src))
    return _Estimator(lookup, default).est(tree, {})[0]


_SCALARS = (str, bytes, int, float, type(None))


def largest_collection(value: Any, limit: int = 100_000) -> int:
    """The size of the largest list or map anywhere inside ``value`` (visiting at most
    ``limit`` values): a bound for the collections whose path is not known."""
    largest, seen, stack = 0, 0, [value]
    while stack and seen < limit:
        item = stack.pop()
        seen += 1
        if isinstance(item, Mapping):
            children: Any = item.values()
        elif isinstance(item, list | tuple | set | frozenset):
            children = item
        else:
            continue
        largest = max(largest, len(children))
        for child in children:  # scalars are counted, not stacked: a long list of strings
            if isinstance(child, _SCALARS):  # (an agent's recent tools) stays cheap
                seen += 1
            else:
                stack.append(child)
    return largest
