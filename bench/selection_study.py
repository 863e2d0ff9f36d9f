"""Which entry should a race serve? Selection rules replayed offline on a ``race_quality.py --dump`` folder.

    python bench/race_quality.py --lodo --dump /tmp/rq     # once: races every dataset, keeps every entry's output
    python bench/selection_study.py /tmp/rq                # then any number of rules, in seconds, no racing

Every rule picks from the same finished races, so the differences are the rules' alone. A rule's pick is scored
on the held-out 20% the service never saw: an entry by its own answer, an ensemble by the weighted average of
its members' answers (what the ensemble serves). Regret is against the best of the recorded peers (untuned
families and FLAML-60s, ``../shared/peer-scores.json``), as in ``race_quality.py`` without the race itself, so
every rule is measured against the same bar; without peer figures, against the best of the race's own entries. Rules:

- ``leaderboard``: what the race served (its position 1), whatever rule the service had when the dump was made;
- ``best-single``: the best single entry by its validation score (fold mean), no ensemble;
- ``always-ensemble``: the race's ensemble whenever it has one;
- ``equal-terms``: the ensemble when its out-of-fold score is at least each member's, all pooled on the same
  rows, its weights from one greedy selection on all those rows (the service's rule before bagging, recomputed
  here from the stored predictions so older dumps can be compared);
- ``top-3-mean``: the plain average of the three best single entries by validation score;
- ``sorted-init``: Caruana et al.'s sorted initialisation (the three best entries by their own out-of-fold loss
  start the ensemble, then greedy rounds add with replacement), under the equal-terms rule;
- ``bagged``: bagged selection over rows (greedy selection on each of 20 bootstrap samples of the shared rows,
  the weights averaged: ``trainers.ensemble.bagged_selection``), under the equal-terms rule: the service's rule;
- ``cross-fitted``: the bagged ensemble, but compared with its members honestly: its score on the shared rows is
  that of weights chosen on the other folds' rows (5 folds), so no row scores the weights it helped choose. Measured
  on ``d10`` (the 61, ``--lodo``) it served the ensemble too rarely: mean regret 0.0074 against the service's
  0.0062 (regression 0.0118 against 0.0069); the optimism of the equal-terms test costs less than it saves.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.race_quality import DEFAULT_PEERS, score_predictions  # noqa: E402
from service.services.races import CLASSIFICATION_METRICS  # noqa: E402
from trainers.ensemble import bagged_selection, greedy_selection  # noqa: E402
from trainers.metrics import evaluate, selection_loss  # noqa: E402

# The service's selection metrics (service.services.races.CLASSIFICATION_METRICS); --multiclass-metric roc_auc
# replays the rule before multiclass races selected on log loss.
METRICS: dict[str, tuple[tuple[str, bool], ...]] = dict(CLASSIFICATION_METRICS)
Metric = tuple[str, bool]  # a metric's name and whether higher is better
RULES = (
    "leaderboard",
    "best-single",
    "always-ensemble",
    "equal-terms",
    "top-3-mean",
    "sorted-init",
    "bagged",
    "cross-fitted",
)


CROSS_FOLDS = 5


def _sorted_init(preds: list[np.ndarray], y: np.ndarray, task: str, n: int = 3) -> np.ndarray:
    own = np.array([selection_loss(task, y, p) for p in preds], dtype=float)  # type: ignore[arg-type]
    initial = [0] * len(preds)
    for i in np.argsort(own, kind="stable")[:n]:
        initial[i] = 1
    return greedy_selection(preds, y, task, initial=initial)[0]  # type: ignore[arg-type]


def _race_metric(
    task: str, singles: list[dict[str, Any]], metrics_of: dict[str, tuple[tuple[str, bool], ...]]
) -> Metric:
    """The race's primary metric and whether higher is better, chosen as the service's ``primary_metric`` does: the
    first of the task's preferences that every single entry has on validation (regression: RMSE)."""
    if task == "regression":
        return "rmse", False
    for name, higher in metrics_of[task]:
        if all((e["metrics"].get("validation") or {}).get(name) is not None for e in singles):
            return name, higher
    return "balanced_accuracy", True


def _primary(task: str, y: np.ndarray, out: np.ndarray, metric: Metric) -> float:
    """``metric`` of ``out`` as trainers.metrics scores it, higher is better (a lower-is-better one negated)."""
    name, higher = metric
    value = evaluate(task, y, out)[0].get(name)  # type: ignore[arg-type]
    if value is None:
        return -np.inf
    return float(value) if higher else -float(value)


def _served(task: str, truth: list[str], members: list[dict[str, Any]], weights: list[float]) -> float:
    """The held-out score of the weighted average of ``members``' answers."""
    y = pd.Series(truth)
    if task == "regression":
        out = sum(
            w * np.asarray(m["answer"]["predictions"], dtype=float) for w, m in zip(weights, members, strict=True)
        )
        return score_predictions(task, y, {"predictions": np.asarray(out).tolist()})
    classes = members[0]["answer"]["classes"]
    proba = sum(
        w * np.asarray(m["answer"]["probabilities"], dtype=float) for w, m in zip(weights, members, strict=True)
    )
    proba = np.asarray(proba)
    answer = {"predictions": [classes[i] for i in proba.argmax(1)], "classes": classes, "probabilities": proba.tolist()}
    return score_predictions(task, y, answer)


def _load(dump: Path, name: str) -> dict[str, Any] | None:
    doc = json.loads((dump / f"{name}.json").read_text())
    folder = dump / name
    if not (folder / "truth.json").exists():
        return None  # dumped before answers and predictions were kept
    entries = []
    for e in doc["race"]["leaderboard"]:
        job = e.get("job_id")
        if e.get("status") != "succeeded" or not job or not (folder / f"{job}.answer.json").exists():
            continue
        entry = {**e, "answer": json.loads((folder / f"{job}.answer.json").read_text())}
        if (folder / f"{job}.valid_pred.npy").exists():
            entry["valid"] = {
                r: np.load(folder / f"{job}.valid_{r}.npy", allow_pickle=False) for r in ("pred", "index", "target")
            }
        entries.append(entry)
    return {**doc, "truth": json.loads((folder / "truth.json").read_text()), "entries": entries}


def picks(doc: dict[str, Any], metrics_of: dict[str, tuple[tuple[str, bool], ...]] = METRICS) -> dict[str, float]:
    """Each rule's held-out score on one dumped race, selecting on ``metrics_of`` (the service's by default)."""
    task, entries = doc["task"], doc["entries"]
    singles = [e for e in entries if not e["is_ensemble"] and e.get("score") is not None]
    ensemble = next((e for e in entries if e["is_ensemble"] and e.get("score") is not None), None)
    held = doc["held_out"]
    if not singles:
        return {}
    metric = _race_metric(task, singles, metrics_of)
    name, higher = metric
    by_validation = sorted(singles, key=lambda e: (-1 if higher else 1) * float(e["metrics"]["validation"][name]))
    out = {
        "leaderboard": held[next(e for e in entries if e.get("position") == 1)["job_id"]],
        "best-single": held[by_validation[0]["job_id"]],
    }
    out["always-ensemble"] = held[ensemble["job_id"]] if ensemble is not None else out["best-single"]
    out["equal-terms"] = out["best-single"]
    out["sorted-init"] = out["bagged"] = out["cross-fitted"] = out["best-single"]
    with_valid = [e for e in singles if "valid" in e]
    if ensemble is not None and len(with_valid) >= 2:
        rows = with_valid[0]["valid"]["index"]
        for e in with_valid[1:]:
            rows = np.intersect1d(rows, e["valid"]["index"])
        preds = [e["valid"]["pred"][np.searchsorted(e["valid"]["index"], rows)].astype(float) for e in with_valid]
        first = with_valid[0]["valid"]
        y = first["target"][np.searchsorted(first["index"], rows)]
        weights, _ = greedy_selection(preds, y, task)
        bagged_w = bagged_selection(preds, y, task)[0]
        member_scores = [_primary(task, y, p, metric) for p in preds]
        for rule, w in (
            ("equal-terms", weights),
            ("sorted-init", _sorted_init(preds, y, task)),
            ("bagged", bagged_w),  # type: ignore[arg-type]
        ):
            blend = sum(wi * p for wi, p in zip(w, preds, strict=True))
            own = _primary(task, y, blend, metric)
            if all(own >= s for s in member_scores):
                out[rule] = _served(task, doc["truth"], with_valid, [float(wi) for wi in w])
            else:
                out[rule] = out["best-single"]
        # cross-fitted: the bagged ensemble leads only when weights chosen on the other folds' rows score at least
        # as well as every member on each fold's rows (no row scores the weights it chose)
        crossed = np.zeros_like(preds[0])
        for part in np.array_split(np.random.default_rng(0).permutation(len(y)), CROSS_FOLDS):
            rest = np.setdiff1d(np.arange(len(y)), part)
            w = bagged_selection([p[rest] for p in preds], y[rest], task)[0]
            crossed[part] = sum(wi * p[part] for wi, p in zip(w, preds, strict=True))
        if all(_primary(task, y, crossed, metric) >= s for s in member_scores):
            out["cross-fitted"] = _served(task, doc["truth"], with_valid, [float(wi) for wi in bagged_w])
    top = by_validation[:3]
    out["top-3-mean"] = _served(task, doc["truth"], top, [1 / len(top)] * len(top))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dump", type=Path, help="a race_quality.py --dump folder")
    ap.add_argument("--peer-scores", type=Path, default=DEFAULT_PEERS)
    ap.add_argument(
        "--multiclass-metric",
        choices=("log_loss", "roc_auc"),
        default="log_loss",
        help="what multiclass entries are selected on (default: the service's, log_loss)",
    )
    args = ap.parse_args(argv)
    metrics_of = {**METRICS, "multiclass": tuple(m for m in METRICS["multiclass"] if m[0] != "log_loss")}
    if args.multiclass_metric == "log_loss":
        metrics_of = METRICS
    peers = json.loads(args.peer_scores.read_text())["datasets"] if args.peer_scores.exists() else {}
    regrets: dict[str, list[float]] = {r: [] for r in RULES}
    tasks: list[str] = []
    print(f"{'dataset':34s} " + " ".join(f"{r:>15s}" for r in RULES))
    for path in sorted(args.dump.glob("*.json")):
        doc = _load(args.dump, path.stem)
        if doc is None:
            continue
        peer = peers.get(doc["dataset"], {})
        bar = [*(peer.get("families_untuned") or {}).values(), (peer.get("flaml_60s") or {}).get("score")]
        bar = [b for b in bar if b is not None]
        if not bar:  # no recorded peers for it (or no peer file here): the best of the race's own entries
            bar = [max(v for v in doc["held_out"].values() if v is not None)]
        scores = picks(doc, metrics_of)
        if not scores or not bar:
            continue
        tasks.append(doc["task"])
        line = f"{doc['dataset']:34s} "
        for r in RULES:
            regrets[r].append(max(0.0, max(bar) - scores[r]))
            line += f" {regrets[r][-1]:15.4f}"
        print(line)
    if not tasks:
        print("no dumped race with answers and predictions")
        return 1
    print(f"{'mean regret (n=' + str(len(tasks)) + ')':34s} " + " ".join(f"{np.mean(regrets[r]):15.4f}" for r in RULES))
    for task in ("binary", "multiclass", "regression"):
        idx = [i for i, t in enumerate(tasks) if t == task]
        if idx:
            label = f"  {task} (n={len(idx)})"
            print(f"{label:34s} " + " ".join(f"{np.mean([regrets[r][i] for i in idx]):15.4f}" for r in RULES))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
