"""Limits every parser of client-supplied text enforces (YAML documents, CEL rules).

A policy, masking policy or monitoring rule can arrive from any token holder over HTTP, so
each parser refuses text beyond these bounds *before* handing it to a library that would
expand it (YAML aliases), recurse on it (the CEL runtime crashes the process on a chain of
about 12,500 operators) or run it for an unbounded time (nested CEL comprehensions). Real
policies stay far below every one of them.
"""

from __future__ import annotations

#: Largest YAML document accepted, in bytes of UTF-8 text.
YAML_MAX_BYTES = 256 * 1024
#: Deepest nesting of mappings and sequences in a YAML document.
YAML_MAX_DEPTH = 32
#: Most nodes (scalars, mappings, sequences) in a YAML document.
YAML_MAX_NODES = 20_000

#: Longest CEL expression, in characters.
CEL_MAX_CHARS = 4096
#: Deepest nesting of brackets (``()``, ``[]``, ``{}``), prefix operators and ``?:``.
CEL_MAX_DEPTH = 32
#: Most operators (binary, prefix, ``?:`` and indexing) in one CEL expression.
CEL_MAX_OPERATORS = 256
#: Most evaluation steps a rule may take (a static estimate; see ``mlwarden.policy.cost``).
CEL_MAX_COST = 100_000
#: Size assumed at load time for a list or map of the context whose size is not known yet.
CEL_NOMINAL_SIZE = 100
