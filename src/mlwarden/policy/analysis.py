"""Static checks of a CEL rule against the context schema, before any evaluation.

The CEL runtime we use parses and evaluates but has no type checker, so a misspelt key or a rule
that yields a number would only show up when a promotion fails. This module parses the rule
(after ``cel.compile`` accepted it, so it may be lenient) into a small tree and reports:

- every path the rule reads (``fairness.sex.disparate_impact``), recorded with each decision;
- paths whose root or whose fields the schema does not know, with their position;
- the rule's result type when it is certainly not ``bool``.

Anything it cannot parse (rare syntax such as optional selection ``a.?b``) degrades to the
runtime's own list of variables, so the loader never rejects a rule CEL accepts on a guess.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from mlwarden.policy.schema import CONTEXT, MapOf, Node, Struct

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+|//[^\n]*)
  | (?P<str>[rRbB]{0,2}(?:\"\"\"(?:\\.|[^\\])*?\"\"\"|'''(?:\\.|[^\\])*?'''
                        |"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*'))
  | (?P<num>0[xX][0-9a-fA-F]+[uU]?|(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?[uU]?)
  | (?P<id>[_a-zA-Z][_a-zA-Z0-9]*)
  | (?P<op>==|!=|<=|>=|&&|\|\||[<>!+\-*/%?:.,()\[\]{}])
    """,
    re.VERBOSE | re.DOTALL,
)
_BINARY = [
    ("||",),
    ("&&",),
    ("==", "!=", "<", "<=", ">", ">=", "in"),
    ("+", "-"),
    ("*", "/", "%"),
]
_BOOL_OPS = {"||", "&&", "==", "!=", "<", "<=", ">", ">=", "in"}
_MACROS = {"all", "exists", "exists_one", "map", "filter"}
_CALL_TYPES = {
    "has": "bool",
    "size": "int",
    "int": "int",
    "uint": "int",
    "double": "double",
    "string": "string",
    "bool": "bool",
    "timestamp": "timestamp",
    "duration": "duration",
    "matches": "bool",
    "contains": "bool",
    "startsWith": "bool",
    "endsWith": "bool",
    "all": "bool",
    "exists": "bool",
    "exists_one": "bool",
    "map": "list",
    "filter": "list",
}
_NUMERIC = {"int", "double"}


#: Functions this CEL runtime (common-expression-language 0.10) provides; anything else fails
#: at evaluation with "Undefined variable or function", so the loader reports it up front.
FUNCTIONS = frozenset(
    {
        "size", "int", "uint", "double", "string", "bytes", "timestamp", "duration", "dyn",
        "type", "matches", "contains", "startsWith", "endsWith", "has", "all", "exists",
        "exists_one", "map", "filter", "getFullYear", "getMonth", "getDate", "getDayOfMonth",
        "getDayOfWeek", "getDayOfYear", "getHours", "getMinutes", "getSeconds",
        "getMilliseconds",
    }
)  # fmt: skip


def unknown_functions(src: str, functions: list[str]) -> list[Issue]:
    """Named functions (not operators) the runtime does not provide, with a position."""
    out = []
    for name in functions:
        if name in FUNCTIONS or not name[:1].isalpha():
            continue
        m = re.search(rf"\b{re.escape(name)}\s*\(", src)
        out.append(
            Issue(
                f"unknown function {name!r} (available: {', '.join(sorted(FUNCTIONS))})",
                m.start() if m else 0,
            )
        )
    return out


class _Unsupported(Exception):
    """Syntax this checker does not model; fall back to root-level checks."""


@dataclass
class Tok:
    kind: str
    text: str
    pos: int


@dataclass
class Issue:
    """A problem found in a rule; ``pos`` is an offset into the rule's source."""

    message: str
    pos: int


@dataclass
class Analysis:
    paths: list[str] = field(default_factory=list)  # dotted, first occurrence order
    issues: list[Issue] = field(default_factory=list)
    type: str = "dyn"
    exact: bool = True  # False when the checker fell back to root-level checks


def _tokens(src: str) -> list[Tok]:
    out: list[Tok] = []
    pos = 0
    while pos < len(src):
        m = _TOKEN.match(src, pos)
        if m is None:
            raise _Unsupported(src[pos])
        kind = m.lastgroup or ""
        if kind != "ws":
            out.append(Tok(kind, m.group(), pos))
        pos = m.end()
    out.append(Tok("eof", "", len(src)))
    return out


class _Parser:
    """Precedence climbing over CEL's grammar; nodes are tuples ``(kind, pos, …)``."""

    def __init__(self, src: str) -> None:
        self.toks = _tokens(src)
        self.i = 0

    def peek(self, text: str | None = None) -> bool:
        tok = self.toks[self.i]
        return tok.kind != "str" and tok.text == text if text is not None else False

    def take(self, text: str | None = None) -> Tok:
        tok = self.toks[self.i]
        if text is not None and (tok.text != text or tok.kind == "str"):
            raise _Unsupported(f"expected {text!r} at {tok.pos}")
        self.i += 1
        return tok

    def parse(self) -> tuple:
        node = self.expr()
        if self.toks[self.i].kind != "eof":
            raise _Unsupported("trailing input")
        return node

    def expr(self) -> tuple:
        cond = self.binary(0)
        if self.peek("?"):
            pos = self.take().pos
            a = self.expr()
            self.take(":")
            return ("cond", pos, cond, a, self.expr())
        return cond

    def binary(self, level: int) -> tuple:
        if level == len(_BINARY):
            return self.unary()
        left = self.binary(level + 1)
        while self.toks[self.i].text in _BINARY[level] and self.toks[self.i].kind != "str":
            op = self.take()
            left = ("binary", op.pos, op.text, left, self.binary(level + 1))
        return left

    def unary(self) -> tuple:
        if self.peek("!") or self.peek("-"):
            op = self.take()
            return ("unary", op.pos, op.text, self.unary())
        return self.member()

    def args(self, close: str) -> list[tuple]:
        items: list[tuple] = []
        while not self.peek(close):
            items.append(self.expr())
            if not self.peek(close):
                self.take(",")
        self.take(close)
        return items

    def member(self) -> tuple:
        node = self.primary()
        while True:
            if self.peek("."):
                self.take()
                name = self.take()
                if name.kind != "id":
                    raise _Unsupported("optional selection or odd member")
                if self.peek("("):
                    self.take()
                    node = ("call", name.pos, name.text, node, self.args(")"))
                else:
                    node = ("select", name.pos, node, name.text)
            elif self.peek("["):
                pos = self.take().pos
                index = self.expr()
                self.take("]")
                node = ("index", pos, node, index)
            else:
                return node

    def primary(self) -> tuple:
        tok = self.take()
        if tok.kind == "num":
            text = tok.text.lower()
            is_int = text.startswith("0x") or not any(c in text for c in ".e")
            return ("lit", tok.pos, "int" if is_int else "double")
        if tok.kind == "str":
            return ("lit", tok.pos, "bytes" if tok.text[:2].lower().count("b") else "string")
        if tok.kind == "id":
            if tok.text in ("true", "false"):
                return ("lit", tok.pos, "bool")
            if tok.text == "null":
                return ("lit", tok.pos, "null")
            if self.peek("("):
                self.take()
                return ("call", tok.pos, tok.text, None, self.args(")"))
            if self.peek("{"):
                raise _Unsupported("message construction")
            return ("ident", tok.pos, tok.text)
        if tok.text == "(":
            node = self.expr()
            self.take(")")
            return node
        if tok.text == "[":
            return ("list", tok.pos, self.args("]"))
        if tok.text == "{":
            entries: list[tuple] = []
            while not self.peek("}"):
                entries.append(self.expr())
                self.take(":")
                entries.append(self.expr())
                if not self.peek("}"):
                    self.take(",")
            self.take("}")
            return ("map", tok.pos, entries)
        raise _Unsupported(f"unexpected {tok.text!r}")


def _chain(node: tuple) -> tuple[tuple[str, int], list[tuple[str, int]]] | None:
    """``a.b["c"].d`` → ``(("a", pos), [("b", pos), ("c", pos), ("d", pos)])``, else None."""
    fields: list[tuple[str, int]] = []
    while True:
        if node[0] == "select":
            fields.append((node[3], node[1]))
            node = node[2]
        elif node[0] == "index" and node[3][0] == "lit" and node[3][2] == "string":
            return None  # the key's text is not kept; treat as dynamic
        elif node[0] == "ident":
            return (node[2], node[1]), fields[::-1]
        else:
            return None


class _Checker:
    def __init__(self, src: str, schema: Struct) -> None:
        self.src = src
        self.schema = schema
        self.out = Analysis()

    def issue(self, message: str, pos: int) -> None:
        self.out.issues.append(Issue(message, pos))

    def resolve(self, node: tuple, scope: frozenset[str]) -> str | None:
        """Type of a select chain rooted at a context key; None if it is not such a chain."""
        chain = _chain(node)
        if chain is None:
            return None
        (root, root_pos), fields = chain
        if root in scope:
            return "dyn"
        path = root
        schema: Node | None = self.schema.fields.get(root)
        if schema is None:
            self.issue(
                f"unknown context key {root!r}: the context has {', '.join(self.schema.fields)}",
                root_pos,
            )
            return "dyn"
        for name, pos in fields:
            if isinstance(schema, Struct):
                if name not in schema.fields:
                    self.issue(
                        f"unknown field {path}.{name}: {path} has {', '.join(schema.fields)}",
                        pos,
                    )
                    return "dyn"
                schema = schema.fields[name]
            elif isinstance(schema, MapOf):
                schema = schema.value
            elif schema.type != "dyn":
                self.issue(f"{path} is a {schema.type}; it has no field {name!r}", pos)
                return "dyn"
            path = f"{path}.{name}"
        if path not in self.out.paths:
            self.out.paths.append(path)
        return schema.type if schema is not None else "dyn"

    def infer(self, node: tuple, scope: frozenset[str]) -> str:
        kind = node[0]
        if kind == "lit":
            return node[2]
        if kind in ("ident", "select"):
            resolved = self.resolve(node, scope)
            if resolved is not None:
                return resolved
            while node[0] == "select":  # (expr).a.b: a loop, not a frame per field
                node = node[2]
            self.infer(node, scope)  # check inside, type unknown
            return "dyn"
        if kind == "index":
            self.infer(node[2], scope)
            self.infer(node[3], scope)
            return "dyn"
        if kind == "unary":
            inner = self.infer(node[3], scope)
            if node[2] == "!":
                return "bool"
            return inner if inner != "dyn" else "number"
        if kind == "binary":
            op, left, right = node[2], self.infer(node[3], scope), self.infer(node[4], scope)
            if op in _BOOL_OPS:
                return "bool"
            # Arithmetic never yields a bool in CEL, whatever the operands' types.
            if left == right and left != "dyn":
                return left
            return "number" if _NUMERIC & {left, right} else "value"
        if kind == "cond":
            self.infer(node[2], scope)
            a, b = self.infer(node[3], scope), self.infer(node[4], scope)
            return a if a == b else "dyn"
        if kind in ("list", "map"):
            for item in node[2]:
                self.infer(item, scope)
            return kind
        if kind == "call":
            name, target, args = node[2], node[3], node[4]
            if name in _MACROS and target is not None and args and args[0][0] == "ident":
                self.infer(target, scope)
                bound = scope | {args[0][2]}
                for a in args[1:]:
                    self.infer(a, bound)
            else:
                for a in ([target] if target is not None else []) + list(args):
                    self.infer(a, scope)
            return _CALL_TYPES.get(name, "dyn")
        return "dyn"


def analyse(src: str, variables: list[str], schema: Struct = CONTEXT) -> Analysis:
    """Check one rule; ``variables`` is what the CEL runtime found (used as the fallback)."""
    checker = _Checker(src, schema)
    try:
        tree = _Parser(src).parse()
    except (_Unsupported, IndexError):
        out = Analysis(exact=False)
        for name in variables:
            if name not in schema.fields:
                pos = src.find(name)
                out.issues.append(
                    Issue(
                        f"unknown context key {name!r}: the context has {', '.join(schema.fields)}",
                        max(pos, 0),
                    )
                )
            elif name not in out.paths:
                out.paths.append(name)
        return out
    checker.out.type = checker.infer(tree, frozenset())
    return checker.out


def line_col(src: str, pos: int) -> tuple[int, int]:
    """1-based line and column of offset ``pos`` in ``src``."""
    line = src.count("\n", 0, pos) + 1
    return line, pos - (src.rfind("\n", 0, pos) + 1) + 1
