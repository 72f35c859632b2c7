"""W3C Trace Context (https://www.w3.org/TR/trace-context/): the ``traceparent`` a caller
sends with a prediction, kept with the prediction so a decision links to the caller's trace.

An invalid header is ignored, as the recommendation asks of every participant (a new trace
starts, the request is not refused).
"""

from __future__ import annotations

import re

_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?")
#: longest value stored (version 00 is exactly 55 characters)
TRACEPARENT_LEN = 55


def parse_traceparent(value: str | None) -> str | None:
    """``value`` if it is a valid version-00 ``traceparent`` (or a later version's first four
    fields), else None."""
    if not value:
        return None
    match = _TRACEPARENT.fullmatch(value.strip())
    if match is None:
        return None
    version, trace_id, parent_id, _flags, rest = match.groups()
    if version == "ff" or (version == "00" and rest):
        return None
    if trace_id == "0" * 32 or parent_id == "0" * 16:
        return None
    return "-".join(match.groups()[:4])
