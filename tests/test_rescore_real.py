"""Issue 16 on the real v1-2021 annotations (needs DERMX_DATA) with synthetic photographs.

A store of a few real images (every rater's annotation file of each, linked from
DERMX_DATA, never copied into the repository), its saved baseline, a tiny random model's
run: every metric column is present and defined somewhere, and the arrays ``maps export``
writes reproduce ``scores.csv`` with scikit-learn and SciPy to 1e-6.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pandas as pd
import pytest

from dermx_bench.core.names import SALIENCY_COLUMNS, SCORE_COLUMNS
from tests.conftest import dermx_data
from tests.harness_util import make_submission
from tests.test_rescore import check_exported_maps

pytestmark = pytest.mark.dermx

N_IMAGES = 4


def test_every_metric_on_real_annotations(tmp_path: Path) -> None:
    from dermx_bench.consensus.baseline import save_baselines
    from dermx_bench.harness.run import ScoreOptions, score_run
    from dermx_bench.store.db import Store
    from dermx_bench.store.ingest import ingest_sources
    from dermx_bench.synthetic.images import write_store_images

    v1 = dermx_data() / "v1-2021"
    files: dict[str, list[Path]] = defaultdict(list)
    for f in sorted((v1 / "annotations").glob("*.json")):
        files[f.name.split("_", 1)[1]].append(f)
    chosen = [name for name, fs in sorted(files.items()) if len(fs) >= 3][:N_IMAGES]
    ann = tmp_path / "annotations"
    ann.mkdir()
    for name in chosen:
        for f in files[name]:
            (ann / f.name).symlink_to(f)
    stems = {name.rsplit(".", 1)[0] for name in chosen}
    lines = (v1 / "metadata.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    metadata = tmp_path / "metadata.csv"  # the chosen images' lines only
    metadata.write_text(lines[0] + "".join(ln for ln in lines[1:] if ln.split(";")[3].rsplit(".", 1)[0] in stems),
                        encoding="utf-8")
    store = tmp_path / "v1.db"
    ingest_sources(store, [ann], metadata=metadata)
    with Store.open(store, write=True) as st:
        save_baselines(st, "2026-01-01T00:00:00+00:00")
    write_store_images(store, tmp_path / "photos", seed=1)
    sub = make_submission(tmp_path / "sub", input_size=(48, 64), target_layer="layer3")
    run = tmp_path / "run"
    score_run(sub, store, tmp_path / "photos", run, ScoreOptions(batch_size=8, n_boot=20, device="cpu", n_overlays=0,
                                                                 skip_missing=True))
    scores = pd.read_csv(run / "scores.csv")
    assert list(scores.columns) == list(SCORE_COLUMNS)
    assert scores["image"].nunique() >= 2
    for column in SALIENCY_COLUMNS:
        assert scores[column].notna().any(), column
    check_exported_maps(run, store, tmp_path / "maps", max_images=2, max_rows=4)
