"""A stored corpus of advisor inputs and their recommendations, byte for byte.

``test_recommendation_corpus.py`` recomputes every case and compares it with the stored text, so a change that
is meant to be only faster (the engine, serialization, the service's JSON path) cannot change an answer. The
grid covers every modality × task, every row-count gate of the tables, bare and fully described profiles,
several constraint sets, the learned portfolio off and on, and a tenant's own race history.

When a change is *meant* to change recommendations (new rules or tables, so ``TABLES_VERSION`` moves, or a new
learned portfolio), regenerate the corpus and review the diff in the same commit::

    make corpus        # = .venv/bin/python tests/advisor/recommendation_corpus.py
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CORPUS = Path(__file__).parent / "corpus" / "recommendations.jsonl.gz"
REGENERATE = "make corpus (= .venv/bin/python tests/advisor/recommendation_corpus.py)"

MODALITIES = ("tabular", "image", "text", "sequence", "audio")
TASKS = ("binary", "multiclass", "regression")
# One row count inside each band the tables gate on: batches under 16 (BatchNorm's minimum), full batch (<64),
# too few rows (<100), transfer "small" and forests first (<1K), SVM (<5K), transfer "medium" (<10K), k-NN
# (<20K), classical tabular (<100K), large batch / forest size limits / epochs (<1M), boosting rate (>=1M).
N_ROWS = (20, 40, 90, 800, 3_000, 8_000, 15_000, 60_000, 400_000, 2_000_000)
CONSTRAINTS: tuple[dict[str, Any], ...] = (
    {},
    {"compute": "ample", "performance": "state_of_the_art", "gpu_available": True, "deployment": "edge"},
    {"interpretability_required": True, "domain_similarity": "low", "time_budget_s": 30, "deployment": "mobile"},
    {
        "interpretability_required": False,
        "compute": "limited",
        "performance": "good_enough",
        "domain_similarity": "high",
        "deployment": "server",
        "gpu_available": False,
        "time_budget_s": 86_400,
    },
)


@dataclass(frozen=True)
class Case:
    """One advisor call: a profile and constraints as a client sends them, with or without evidence."""

    name: str
    profile: dict[str, Any]
    constraints: dict[str, Any]
    portfolio: bool = False
    history: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "profile": self.profile,
            "constraints": self.constraints,
            "portfolio": self.portfolio,
            "history": self.history,
        }


def _profile(modality: str, task: str, n_rows: int, rich: bool, i: int) -> dict[str, Any]:
    p: dict[str, Any] = {"modality": modality, "task": task, "n_rows": n_rows}
    if task == "multiclass":
        p["n_classes"] = (3, 10, 120)[i % 3]
    if modality == "tabular" or (rich and modality == "sequence"):
        p["n_features"] = (6, 40, 300)[i % 3]
    if not rich:
        return p
    if task != "regression":
        p["label_format"] = ("integer", "one_hot")[i % 2]
        p["minority_share"] = (0.02, 0.3, 0.5)[i % 3] / (1 if task == "binary" else p["n_classes"] / 2)
    else:
        p["target_outlier_share"] = (0.0, 0.04, 0.2)[i % 3]
        p["target_mode_share"] = (0.01, 0.3, 0.05)[(i // 3) % 3]  # 0.3: a point mass (loss.point_mass)
    p["missing_share"] = (0.0, 0.12, 0.4)[i % 3]
    if modality == "tabular":
        p["n_categorical_features"] = (0, 8, 150)[i % 3]
    if modality == "image":
        p["image_size"] = ([28, 28, 1], [224, 224, 3], [512, 384, 3])[i % 3]
    if modality == "text":
        p["text_length"] = (40, 300, 2_000)[i % 3]
    if modality == "sequence":
        p["sequence_length"] = (30, 200, 5_000)[i % 3]
    return p


def cases() -> Iterator[Case]:
    """The grid, in a fixed order."""
    i = 0
    for modality in MODALITIES:
        for task in TASKS:
            for n_rows in N_ROWS:
                for rich in (False, True):
                    # a bare profile with no constraints (everything assumed); a described one with each other
                    # constraint set in turn
                    profile = _profile(modality, task, n_rows, rich, i)
                    ci = 1 + i % (len(CONSTRAINTS) - 1) if rich else 0
                    name = f"{modality}-{task}-{n_rows}-{'rich' if rich else 'bare'}-c{ci}"
                    yield Case(name, profile, CONSTRAINTS[ci])
                    if modality == "tabular":
                        yield Case(f"{name}-portfolio", profile, CONSTRAINTS[ci], portfolio=True)
                        if rich:
                            yield Case(f"{name}-history", profile, CONSTRAINTS[ci], portfolio=True, history=True)
                    i += 1


def tenant_history(task: str) -> tuple[Any, ...]:
    """Three finished races of a tenant on tables of ``task`` (the shape service.services.evidence builds)."""
    from advisor.portfolio import EvidenceRow, MetaFeatures

    metric = {"binary": "roc_auc", "multiclass": "accuracy", "regression": "r2"}[task]
    rows = []
    for k, (n_rows, n_features, scores) in enumerate(
        (
            (900, 12, {"svm": 0.91, "random_forest": 0.84, "lightgbm": 0.83, "knn": 0.7}),
            (50_000, 40, {"xgboost": 0.88, "lightgbm": 0.86, "extra_trees": 0.9}),
            (3_000, 300, {"knn": 0.8, "random_forest": 0.79}),
        )
    ):
        features = MetaFeatures(
            task=task,
            n_rows=n_rows,
            n_features=n_features,
            n_classes=None if task == "regression" else (2 if task == "binary" else 5),
            minority_share=None if task == "regression" else 0.2,
            missing_share=0.05 * k,
        )
        rows.append(
            EvidenceRow(
                dataset=f"your race r{k}",
                metric=metric,
                features=features,
                scores={m: [s] for m, s in scores.items()},
                source="tenant",
            )
        )
    return tuple(rows)


def recommend(case: Case) -> Any:
    """The advisor's answer for ``case``, its inputs validated as the service validates a request."""
    import advisor
    from advisor.portfolio import default_portfolio

    profile = advisor.DatasetProfile.model_validate(case.profile)
    constraints = advisor.Constraints.model_validate(case.constraints)
    return advisor.recommend(
        profile,
        constraints,
        portfolio=default_portfolio() if case.portfolio else None,
        history=tenant_history(profile.task) if case.history else (),
    )


def header() -> dict[str, Any]:
    """What the stored outputs depend on besides the inputs."""
    import advisor
    from advisor.portfolio import default_portfolio

    pf = default_portfolio()
    return {"tables_version": advisor.TABLES_VERSION, "portfolio_version": pf.version, "portfolio_created": pf.created}


def load() -> tuple[dict[str, Any], list[tuple[Case, str]]]:
    """The stored header and (case, output) pairs."""
    with gzip.open(CORPUS, "rt", encoding="utf-8") as f:
        lines = f.read().splitlines()
    head = json.loads(lines[0])
    out = []
    for line in lines[1:]:
        entry = json.loads(line)
        c = entry["case"]
        out.append((Case(c["name"], c["profile"], c["constraints"], c["portfolio"], c["history"]), entry["output"]))
    return head, out


def write() -> int:
    """Recompute every case and store it (gzip without a timestamp, so the same corpus gives the same bytes)."""
    lines = [json.dumps(header(), sort_keys=True)]
    n = 0
    for case in cases():
        lines.append(json.dumps({"case": case.as_json(), "output": recommend(case).model_dump_json()}, sort_keys=True))
        n += 1
    CORPUS.parent.mkdir(parents=True, exist_ok=True)
    data = ("\n".join(lines) + "\n").encode("utf-8")
    CORPUS.write_bytes(gzip.compress(data, compresslevel=9, mtime=0))
    return n


if __name__ == "__main__":
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root, for `advisor`
    print(f"wrote {write()} recommendations to {CORPUS}")
