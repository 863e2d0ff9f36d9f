"""The advisor's classical pool on real data: each candidate's test score with the advisor's own values.

For every selected dataset (``bench.realdata``, the peers' fixed 80/20 split) this asks the advisor for a
recommendation from the dataset's profile, trains each classical candidate that uses a scikit-learn trainer
(random forest, extra trees, SVM, k-NN) and the linear baseline with exactly the recommended values on the
80% (the trainer's validation part is the 80% too: these one-shot fits do not early-stop), and scores the
20% with the peers' metric: ROC AUC (binary, second class in sorted order positive), accuracy (multiclass),
R² (regression). The recorded peer figures are printed beside them.

    python -m bench.classical_pool --datasets dev            # the 13 development sets
    python -m bench.classical_pool --datasets dev/iris,dev/wine --json out.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout first, not an installed copy
from bench.realdata import RealDataset, select
from bench.results import report

MODELS = ("random_forest", "extra_trees", "svm", "knn")
PEERS = Path("/work/shared/peer-scores.json")


def _score(ds: RealDataset, output: np.ndarray, y_test: np.ndarray, classes: list[Any] | None) -> float:
    from sklearn.metrics import accuracy_score, r2_score, roc_auc_score

    if ds.task == "regression":
        return float(r2_score(y_test, output))
    labels = [str(c) for c in classes or []]
    truth = np.array([str(v) for v in y_test])
    if ds.task == "binary":
        positive = sorted(labels)[1]
        return float(roc_auc_score(truth == positive, output[:, labels.index(positive)]))
    return float(accuracy_score(truth, np.array(labels)[output.argmax(axis=1)]))


def run(ds: RealDataset, threads: int) -> dict[str, Any]:
    """Scores and fit seconds of each scikit-learn candidate and the baseline on one dataset."""
    from advisor import DatasetProfile, recommend
    from trainers.preprocess import apply_schema, prepare_frame
    from trainers.registry import get_trainer
    from trainers.spec import TrainData

    train, test = ds.split()
    X, y, schema = prepare_frame(train, ds.target, None, ds.task)
    data = TrainData(X, y, schema)
    n_classes = len(schema.classes) if schema.classes else None
    profile = DatasetProfile(
        modality="tabular",
        task=ds.task,
        n_rows=len(train) + len(test),
        n_features=len(schema.columns),
        n_classes=n_classes if ds.task == "multiclass" else None,
    )
    rec = recommend(profile)
    out: dict[str, Any] = {"order": [c.model for c in rec.candidates], "scores": {}, "fit_s": {}}
    todo = [c for c in rec.candidates if c.model in MODELS] + [rec.baseline]
    Xt = apply_schema(test, schema)
    for cand in todo:
        trainer = get_trainer(cand.trainer)(cand.params(), seed=0, n_threads=threads)
        start = time.perf_counter()
        trainer.fit(data, data)
        out["fit_s"][cand.model] = round(time.perf_counter() - start, 2)
        out["scores"][cand.model] = round(
            _score(ds, trainer.predict_output(Xt), test[ds.target].to_numpy(), schema.classes), 5
        )
    return out


def main() -> None:
    """Print one line per dataset: our scores, then the peers' untuned figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", default="dev")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    peers = json.loads(PEERS.read_text())["datasets"] if PEERS.is_file() else {}
    results: dict[str, Any] = {}
    for ds in select(args.datasets):
        res = run(ds, args.threads)
        res["peers"] = (peers.get(ds.name) or {}).get("families_untuned")
        results[ds.name] = res
        ours = " ".join(f"{m}={v:.3f}" for m, v in res["scores"].items())
        theirs = " ".join(f"{m}={v:.3f}" for m, v in (res["peers"] or {}).items())
        print(f"{ds.name:28s} {ours} | peers {theirs} | fit_s {res['fit_s']}", flush=True)
    gaps = [
        v - peer
        for res in results.values()
        for m, v in res["scores"].items()
        if (peer := (res["peers"] or {}).get(m)) is not None
    ]
    if gaps:
        report(
            f"mean score - peers' untuned score, {len(gaps)} model x dataset pairs", sum(gaps) / len(gaps), "-", None
        )
    report("datasets scored", len(results), "-", None)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
