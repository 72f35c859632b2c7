"""The same policy rules on cel-python (pure Python CEL), run in its own venv.

Reads ``{"rules": [...], "contexts": [...]}`` (JSON) from the file named on the command line;
prints one JSON line with the mean microseconds per rule, context conversion included.
"""

from __future__ import annotations

import json
import sys
import time

import celpy


def main(path: str) -> None:
    with open(path) as f:
        data = json.load(f)
    env = celpy.Environment()
    programs = [env.program(env.compile(check)) for check in data["rules"]]
    verdicts = {"pass": 0, "fail": 0, "error": 0}
    start = time.perf_counter()
    for context in data["contexts"]:
        activation = {k: celpy.json_to_cel(v) for k, v in context.items()}
        for program in programs:
            try:
                out = program.evaluate(activation)
            except Exception:
                verdicts["error"] += 1
                continue
            # cel-python answers with its own types (BoolType), or an error value
            if isinstance(out, celpy.celtypes.BoolType):
                verdicts["pass" if bool(out) else "fail"] += 1
            else:
                verdicts["error"] += 1
    elapsed = time.perf_counter() - start
    n = len(data["contexts"]) * len(programs)
    version = getattr(celpy, "__version__", None)
    print(json.dumps({"per_rule_us": elapsed / n * 1e6, "verdicts": verdicts, "version": version}))


if __name__ == "__main__":
    main(sys.argv[1])
