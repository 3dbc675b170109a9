"""Inter-rater agreement: the human baseline (METHODS.md §6), computed from a store.

Tables (each an :class:`~dermx_bench.consensus.agreement_table.AgreementTable` whose
``frame`` has the csv columns):

- ``diagnosis-gold``, ``diagnosis-pairwise``, ``presence``: agreement on labels
  (:mod:`~dermx_bench.consensus.label_agreement`);
- ``localisation``, ``leave-one-out``: agreement on masks
  (:mod:`~dermx_bench.consensus.mask_agreement`);
- ``fleiss``: Fleiss' kappa per image over the pixel labels
  (:mod:`~dermx_bench.consensus.fleiss`);
- ``like-for-like``: the like-for-like human reference of METHODS §8, each rater's own
  explanation scored as a model's map (:mod:`~dermx_bench.consensus.human_reference`);
- ``floors``: trivial maps (ones, a centred Gaussian, zeros) scored as a model's map
  (:mod:`~dermx_bench.consensus.floors`).

The last two are what a model is placed beside; ``localisation`` is the rater-to-rater
agreement of the DermX paper (Table 3b), not a reference for a model.

Conventions for which evaluations count follow METHODS §3; the published DermX tables
use ``alphabetical`` for the diagnosis and presence tables and ``drop`` for the others
(:data:`DEFAULT_MULTI_DIAGNOSIS`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from dermx_bench.consensus.agreement_table import AgreementTable, OnImage, kept_evaluations
from dermx_bench.consensus.fleiss import fleiss_table_from_refs
from dermx_bench.consensus.floors import FLOORS_TABLE, floors_table_from_refs
from dermx_bench.consensus.human_reference import like_for_like_table_from_refs
from dermx_bench.consensus.label_agreement import (
    diagnosis_gold_table,
    diagnosis_pairwise_table,
    presence_table,
)
from dermx_bench.consensus.mask_agreement import (
    leave_one_out_table_from_refs,
    localisation_table_from_refs,
)
from dermx_bench.consensus.references import ImageReference, build_references
from dermx_bench.core.errors import RegistryError
from dermx_bench.core.names import LIKE_FOR_LIKE
from dermx_bench.darwin.ontology import Ontology, load_ontology
from dermx_bench.store.db import Store
from dermx_bench.store.selection import MultiDiagnosis

TABLES: tuple[str, ...] = (
    "diagnosis-gold", "diagnosis-pairwise", "presence", "localisation", "fleiss", "leave-one-out",
    LIKE_FOR_LIKE, FLOORS_TABLE,
)
#: The multi-diagnosis convention of the published DermX tables, per table.
DEFAULT_MULTI_DIAGNOSIS: dict[str, MultiDiagnosis] = {
    "diagnosis-gold": "alphabetical",
    "diagnosis-pairwise": "alphabetical",
    "presence": "alphabetical",
    "localisation": "drop",
    "fleiss": "drop",
    "leave-one-out": "drop",
    LIKE_FOR_LIKE: "drop",
    FLOORS_TABLE: "drop",
}


_PER_IMAGE_TABLES = {"localisation": localisation_table_from_refs, "fleiss": fleiss_table_from_refs,
                     "leave-one-out": leave_one_out_table_from_refs, LIKE_FOR_LIKE: like_for_like_table_from_refs,
                     FLOORS_TABLE: floors_table_from_refs}
"""The tables built image by image from the references (the others: from the evaluations at once)."""


def compute_tables(
    store: Store,
    tables: Sequence[str] = TABLES,
    multi_diagnosis: MultiDiagnosis | None = None,
    *,
    release: str | None = None,
    ontology: Ontology | None = None,
    on_image: OnImage = None,
    on_total: Callable[[int], None] | None = None,
) -> list[AgreementTable]:
    """Compute the named tables (in the order given).

    ``multi_diagnosis``: one convention for every table, or None for each table's
    published default (:data:`DEFAULT_MULTI_DIAGNOSIS`). ``release``: only that release's
    evaluations. ``on_image`` is called once per image visited (progress) and
    ``on_total(n)`` once before, with the number of such calls to come.
    """
    for t in tables:
        if t not in TABLES:
            raise RegistryError("agreement table", t, list(TABLES))
    onto = ontology or load_ontology()
    evals = store.evaluations(release)
    gold = {im.name: im.gold for im in store.images()}
    refs_cache: dict[str, tuple[list[ImageReference], dict[str, Any]]] = {}

    def refs_for(md: MultiDiagnosis) -> tuple[list[ImageReference], dict[str, Any]]:
        if md not in refs_cache:
            kept, report = kept_evaluations(evals, md)
            refs_cache[md] = (build_references(store, kept, onto), report)
        return refs_cache[md]

    if on_total is not None:
        on_total(sum(len(refs_for(multi_diagnosis or DEFAULT_MULTI_DIAGNOSIS[t])[0])
                     for t in tables if t in _PER_IMAGE_TABLES))
    out: list[AgreementTable] = []
    for t in tables:
        md = multi_diagnosis or DEFAULT_MULTI_DIAGNOSIS[t]
        if t == "diagnosis-gold":
            out.append(diagnosis_gold_table(evals, md, onto, gold))
        elif t == "diagnosis-pairwise":
            out.append(diagnosis_pairwise_table(evals, md, onto))
        elif t == "presence":
            out.append(presence_table(evals, md, onto))
        else:
            refs, report = refs_for(md)
            out.append(_PER_IMAGE_TABLES[t](refs, md, onto, report, on_image))
    return out


def compute_table(
    store: Store, table: str, multi_diagnosis: MultiDiagnosis | None = None, *,
    release: str | None = None, ontology: Ontology | None = None, on_image: OnImage = None,
) -> AgreementTable:
    """Compute one table (see :func:`compute_tables`)."""
    return compute_tables(store, [table], multi_diagnosis, release=release, ontology=ontology,
                          on_image=on_image)[0]
