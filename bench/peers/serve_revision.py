"""One ``mlwarden serve`` of a given checkout, for bench/serve_regression.py: registers the
bench model with that checkout's own code (``PYTHONPATH`` points at its ``src``), starts the
server, prints one JSON line (token and request row) and serves until killed.

    python bench/peers/serve_revision.py ROOT TMPDIR PORT LOG(0|1)
"""

import json
import signal
import sys
import time
from pathlib import Path

root, tmp, port, log = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1"
sys.path[:0] = [f"{root}/bench", f"{root}/src"]
import serve  # noqa: E402  (the checkout's own bench helpers)

import mlwarden as mw  # noqa: E402

tmp.mkdir(parents=True, exist_ok=True)
(model, X, y), rows, _ = serve.prepare(tmp)
uri = f"sqlite:///{tmp / 'warden' / 'warden.db'}"
serve.STORE_URI = uri  # the server's store (checkouts whose start_warden reads it)
wd = mw.Warden(uri, artifacts=str(tmp / "warden" / "artifacts"), actor="bench")
wd.create_user("bench", "admin")
token = wd.create_token("bench").token
wd.register_model("adult", model, train=mw.Dataset(X.head(5000), y.head(5000)))
try:  # protected aliases (issue 14) move only with an audited override
    wd.set_alias("adult", "production", 1, override=True, reason="bench setup")
except TypeError:  # a checkout from before them
    wd.set_alias("adult", "production", 1)
wd.close()
proc = serve.start_warden(tmp, port, log_predictions=log, durability="sync")
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # so the server below is stopped too
print(json.dumps({"token": token, "row": rows[0]}), flush=True)
try:
    while True:
        time.sleep(1)
finally:
    serve.stop(proc)
