"""What a store holds: counts per release, rater, diagnosis and characteristic."""

from __future__ import annotations

from collections import Counter
from typing import Any

from dermx_bench.darwin.ontology import load_ontology
from dermx_bench.store.db import Store
from dermx_bench.store.selection import discard_reason


def inventory(store: Store) -> dict[str, Any]:
    """Counts of the store's content, names in ontology order.

    ``diagnoses`` counts diagnosis tags over all evaluations, discarded ones included
    (an evaluation may tag several diagnoses or none: ``evaluations_by_number_of_diagnoses``
    says how many did, so the sum can differ from both counts of evaluations);
    ``characteristics`` counts the evaluations that drew (localisable) or tagged
    (non-localisable) each; ``discarded`` counts evaluations by discard reason.
    """
    onto = load_ontology()
    evals = store.evaluations()
    images = store.images()
    by_release: dict[str, Counter[str]] = {}
    for e in evals:
        c = by_release.setdefault(e.release, Counter())
        c["evaluations"] += 1
        c["discarded"] += discard_reason(e) is not None
    for rel, c in by_release.items():
        c["images"] = len({e.image for e in evals if e.release == rel})
        c["raters"] = len({e.rater for e in evals if e.release == rel})
    diagnoses = Counter(d for e in evals for d in e.diagnoses)
    chars = Counter(c for e in evals for c in set(e.characteristics) | set(e.tags))
    reasons = Counter(r for e in evals if (r := discard_reason(e)) is not None)
    n_dx = Counter(min(len(e.diagnoses), 2) for e in evals)
    return {
        "store": str(store.path),
        "content_hash": store.content_hash(),
        "images": len(images),
        "images_without_gold_diagnosis": sum(im.gold is None for im in images),
        "evaluations": len(evals),
        "discarded": dict(sorted(reasons.items())),
        "evaluations_by_number_of_diagnoses": {"0": n_dx[0], "1": n_dx[1], "2 or more": n_dx[2]},
        "releases": {r: dict(c) for r, c in sorted(by_release.items())},
        "raters": dict(sorted(Counter(e.rater for e in evals).items())),
        "diagnoses": {d: diagnoses[d] for d in onto.order(list(diagnoses))},
        "gold_diagnoses": dict(Counter(im.gold or "(none)" for im in images)),
        "characteristics": {c: chars[c] for c in onto.order(list(chars))},
        "saved_results": store.result_keys("agreement"),
    }
