"""Race quality through the HTTP API, as a user sees it: does a default race win on real data?

Starts ``advisor serve`` in a subprocess (temporary data folder, free loopback port), then per dataset of
:mod:`bench.realdata`: uploads the 80% train part as CSV, races it with the defaults (``POST
/v1/datasets/{id}/race``), polls until it finished, predicts the 20% test part (without its target) with the
leaderboard's winner, and scores those predictions here, outside the service, with the peers' metric (ROC AUC
with the second class in sorted order positive, accuracy, R²). Beside it: a default LightGBM fitted in this
process on the same split, FLAML-60s (the recorded peer figure, or ``--flaml`` to rerun it when installed) and
the hindsight best (the best of the recorded untuned families, FLAML and the race). Regret = hindsight best −
score, in the metric's units.

    python bench/race_quality.py --quick                # 3 small datasets, a smoke test
    python bench/race_quality.py --datasets dev         # or corpus, all, or names
    python bench/race_quality.py --lodo                 # the portfolio without the dataset under test

``--lodo``: the service is started with ``ADVISOR_PORTFOLIO_PATH`` pointing at a file this script rewrites
before each dataset with the portfolio minus that dataset (the service re-reads the file when it changes), so
no recommendation ever uses evidence from the dataset it is measured on.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.realdata import RealDataset, select  # noqa: E402

QUICK = "dev/iris,dev/breast_cancer,dev/diabetes"


def _default_peers() -> Path:
    """``../shared/peer-scores.json`` from the repository, or the nearest such file in a folder further up."""
    for folder in ROOT.parents:
        candidate = folder / "shared" / "peer-scores.json"
        if candidate.exists():
            return candidate
    return ROOT.parent / "shared" / "peer-scores.json"


DEFAULT_PEERS = _default_peers()
METRIC = {"binary": "roc_auc", "multiclass": "accuracy", "regression": "r2"}


# -- scoring (outside the service) ----------------------------------------------------------------------
def _label(value: Any) -> str:
    """A class label as text, the same whether a CSV round trip made it ``"1.0"``, ``1.0`` or ``1``."""
    text = str(value).strip()  # KEEL labels carry a leading space (" positive"); uploads strip it
    try:
        number = float(text)
    except (TypeError, ValueError):
        return text
    return str(int(number)) if np.isfinite(number) and number.is_integer() else str(number)


def score_predictions(task: str, y_true: pd.Series, answer: dict[str, Any]) -> float:
    """The peers' metric of a ``POST /v1/jobs/{id}/predictions`` answer against the true targets.

    Binary: ROC AUC of the probability of the second class in sorted (string) order. Multiclass: accuracy of the
    predicted labels. Regression: R². Labels are compared as strings (the protocol's classification targets).
    """
    from sklearn.metrics import accuracy_score, r2_score, roc_auc_score

    if task == "regression":
        return float(r2_score(y_true.astype(float), np.asarray(answer["predictions"], dtype=float)))
    truth = np.asarray([_label(v) for v in y_true])
    if task == "multiclass":
        return float(accuracy_score(truth, [_label(p) for p in answer["predictions"]]))
    classes = [_label(c) for c in answer["classes"]]
    # The protocol's positive class: the second in sorted order of the targets as the peers' strings.
    positive = _label(sorted({str(v).strip() for v in y_true} | {str(c).strip() for c in answer["classes"]})[1])
    proba = np.asarray(answer["probabilities"], dtype=float)
    return float(roc_auc_score(truth == positive, proba[:, classes.index(positive)]))


def default_lightgbm(ds: RealDataset, train: pd.DataFrame, test: pd.DataFrame) -> float:
    """A default LightGBM (library defaults, one thread) on the same split, typed as the service types features."""
    import lightgbm as lgb

    from trainers.preprocess import apply_schema, prepare_frame

    X, y, schema = prepare_frame(train, ds.target, None, ds.task)
    Xt = apply_schema(test, schema)
    if ds.task == "regression":
        model = lgb.LGBMRegressor(n_jobs=1, random_state=0, verbosity=-1).fit(X, y)
        return score_predictions(ds.task, test[ds.target], {"predictions": model.predict(Xt).tolist()})
    model = lgb.LGBMClassifier(n_jobs=1, random_state=0, verbosity=-1).fit(X, y)
    classes = [schema.classes[int(c)] for c in model.classes_]  # type: ignore[index]
    answer = {
        "predictions": [classes[i] for i in model.predict_proba(Xt).argmax(axis=1)],
        "classes": classes,
        "probabilities": model.predict_proba(Xt).tolist(),
    }
    return score_predictions(ds.task, test[ds.target], answer)


def run_flaml(ds: RealDataset, train: pd.DataFrame, test: pd.DataFrame, budget_s: float = 60.0) -> tuple[float, float]:
    """FLAML AutoML (a bench-only extra: ``pip install .[bench]``) on the same split: (test score, wall seconds)."""
    from flaml import AutoML

    metric = {"binary": "roc_auc", "multiclass": "accuracy", "regression": "r2"}[ds.task]
    automl = AutoML()
    X, y = train.drop(columns=[ds.target]), train[ds.target]
    t0 = time.perf_counter()
    automl.fit(
        X,
        y,
        task="regression" if ds.task == "regression" else "classification",
        metric=metric,
        time_budget=budget_s,
        n_jobs=1,
        seed=0,
        verbose=0,
    )
    wall = time.perf_counter() - t0
    Xt = test.drop(columns=[ds.target])
    if ds.task == "binary":
        classes = [str(c) for c in automl.classes_]
        answer = {"classes": classes, "probabilities": automl.predict_proba(Xt).tolist()}
    else:
        answer = {"predictions": automl.predict(Xt).tolist()}
    return score_predictions(ds.task, test[ds.target], answer), wall


# -- results ----------------------------------------------------------------------------------------------
@dataclass
class Result:
    """One dataset's figures (None where unknown)."""

    name: str
    metric: str
    race: float | None = None
    race_s: float | None = None
    winner: str | None = None
    lightgbm: float | None = None
    flaml: float | None = None
    flaml_s: float | None = None
    families: dict[str, float] | None = None
    n_test: int | None = None
    error: str | None = None
    entries: float | None = None  # the best held-out score among the race's own entries (known with --dump)

    @property
    def hindsight(self) -> float | None:
        """The best of the recorded families, FLAML and the race; for a dataset without peer figures (the
        checks group), the best of the default LightGBM and the race's own entries (with ``--dump``)."""
        if self.families or self.flaml is not None:
            vals = [*(self.families or {}).values(), self.flaml, self.race]
        else:
            vals = [self.lightgbm, self.entries, self.race]
        vals = [v for v in vals if v is not None]
        return max(vals) if vals else None

    def regret(self, score: float | None) -> float | None:
        """Hindsight best − ``score``."""
        best = self.hindsight
        return None if score is None or best is None else best - score


SIZE_BANDS = ((0, 100), (100, 300), (300, 10**9))


def _f(v: float | None, fmt: str = "7.4f") -> str:
    return f"{v:{fmt}}" if v is not None else " " * (int(fmt.split(".")[0]) - 1) + "-"


def report(results: list[Result]) -> str:
    """The per-dataset table and the summary: mean regrets, wins vs FLAML, race wall time / FLAML wall time."""
    lines = [
        f"{'dataset':32s} {'metric':8s} {'race':>7s} {'race s':>7s} {'lgbm':>7s} {'flaml':>7s} "
        f"{'flaml s':>7s} {'best':>7s} {'regret':>7s}  winner"
    ]
    for r in results:
        if r.error:
            lines.append(f"{r.name:32s} FAILED: {r.error}")
            continue
        lines.append(
            f"{r.name:32s} {r.metric:8s} {_f(r.race)} {_f(r.race_s, '7.1f')} {_f(r.lightgbm)} "
            f"{_f(r.flaml)} {_f(r.flaml_s, '7.1f')} {_f(r.hindsight)} {_f(r.regret(r.race))}  {r.winner}"
        )
    ok = [r for r in results if not r.error and r.race is not None]
    failed = len(results) - len(ok)
    lines.append("")
    if not ok:
        lines.append(f"no dataset finished ({failed} failed)")
        return "\n".join(lines)

    def mean(xs: list[float | None]) -> str:
        vals = [x for x in xs if x is not None]
        return f"{np.mean(vals):.4f} (n={len(vals)})" if vals else "-"

    lines.append(
        f"mean regret vs hindsight best: race {mean([r.regret(r.race) for r in ok])}, "
        f"default LightGBM {mean([r.regret(r.lightgbm) for r in ok])}, "
        f"FLAML-60s {mean([r.regret(r.flaml) for r in ok])}"
    )
    # A score on a held-out part of a few dozen rows moves by whole rows: the hindsight best (a max over noisy
    # scores) runs ahead of any one model by chance there, so regret is shown by the part's size as well.
    for low, high in SIZE_BANDS:
        band = [r for r in ok if r.n_test is not None and low <= r.n_test < high]
        if band:
            label = f"{low}-{high - 1}" if high < 10**9 else f"{low}+"
            lines.append(
                f"  held-out part of {label} rows: race {mean([r.regret(r.race) for r in band])}, "
                f"FLAML-60s {mean([r.regret(r.flaml) for r in band])}"
            )
    vs = [r for r in ok if r.flaml is not None]
    wins = sum(r.race >= r.flaml for r in vs)  # type: ignore[operator]
    lines.append(f"race ≥ FLAML-60s on {wins} of {len(vs)} datasets")
    timed = [r for r in ok if r.race_s and r.flaml_s]
    if timed:
        total = sum(r.race_s for r in timed) / sum(r.flaml_s for r in timed)  # type: ignore[misc]
        lines.append(
            f"race wall time / FLAML wall time: {total:.2f} in total, median "
            f"{np.median([r.race_s / r.flaml_s for r in timed]):.2f}"
        )  # type: ignore[operator]
    lines.append(f"failed datasets: {failed}")
    return "\n".join(lines)


# -- the service --------------------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """``advisor serve`` on a temporary data folder and a free loopback port, stopped on exit."""

    def __init__(self, data_dir: Path, env: dict[str, str] | None = None) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(data_dir / "serve.log", "wb")  # noqa: SIM115 - closed in stop()
        full_env = {
            **os.environ,
            "ADVISOR_DATA_DIR": str(data_dir),
            "ADVISOR_LOG_FORMAT": "text",
            "ADVISOR_LOG_LEVEL": "warning",
            **(env or {}),
        }
        cmd = [
            sys.executable,
            "-c",
            "import sys; from service.cli import main; sys.exit(main())",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
        ]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=full_env, stdout=self.log, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout_s: float = 120.0) -> None:
        """Until /healthz answers 200; raises if the process died or time ran out."""
        import httpx

        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"advisor serve exited with {self.proc.returncode}; see {self.log.name}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise TimeoutError(f"advisor serve not ready after {timeout_s:.0f} s")

    def stop(self) -> None:
        """Terminate the server (kill it if it does not stop within 20 s)."""
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def _csv(df: pd.DataFrame) -> bytes:
    buf = io.StringIO()
    df.to_csv(buf, index=False)
    return buf.getvalue().encode()


def race_one(
    client: Any,
    ds: RealDataset,
    train: pd.DataFrame,
    test: pd.DataFrame,
    timeout_s: float,
    dump: Path | None = None,
    artifacts: Path | None = None,
) -> tuple[float, float, str, float | None]:
    """Upload, race with defaults, predict the test part with the winner: (test score, race wall seconds, winner).

    With ``dump``, every succeeded entry also predicts the test part (after the wall time is taken), and the
    race document plus each entry's held-out score are written to ``dump/<dataset>.json``: what a study of
    selection rules needs without racing again, with each entry's ``validation`` block (k-fold or holdout and why,
    which model serves and why) so that a fallback shows. With ``artifacts`` (the service's artifact folder) as well,
    ``dump/<dataset>/`` keeps each entry's answer on the test part and its stored validation predictions
    (:func:`_dump_predictions`): what a study of ensembles needs.
    """

    def ok(resp: Any, *codes: int) -> dict[str, Any]:
        if resp.status_code not in codes:
            raise RuntimeError(f"{resp.request.method} {resp.request.url.path} → {resp.status_code}: {resp.text[:300]}")
        return resp.json()

    t0 = time.perf_counter()
    up = ok(
        client.post(
            "/v1/datasets",
            files={"file": ("train.csv", _csv(train), "text/csv")},
            data={"target": ds.target, "task": ds.task},
        ),
        201,
    )
    race = ok(client.post(f"/v1/datasets/{up['id']}/race", json={}), 202)
    end = time.monotonic() + timeout_s
    while race["status"] != "finished":
        if time.monotonic() > end:
            raise TimeoutError(f"race {race['id']} not finished after {timeout_s:.0f} s")
        time.sleep(1.0)
        race = ok(client.get(f"/v1/races/{race['id']}"), 200)
    wall = time.perf_counter() - t0
    first = [e for e in race["leaderboard"] if e.get("position") == 1]
    if not first:
        reasons = "; ".join(f"{e['model']}: {e.get('reason')}" for e in race["leaderboard"])
        raise RuntimeError(f"the race has no winner ({reasons})")
    win = first[0]
    answer = ok(
        client.post(
            f"/v1/jobs/{win['job_id']}/predictions",
            files={"file": ("test.csv", _csv(test.drop(columns=[ds.target])), "text/csv")},
        ),
        200,
    )
    score = score_predictions(ds.task, test[ds.target], answer)
    best_entry: float | None = None
    if dump is not None:
        held_out: dict[str, float | None] = {}
        answers: dict[str, Any] = {}
        runs: dict[str, Any] = {}
        for entry in race["leaderboard"]:
            if entry.get("status") != "succeeded" or not entry.get("job_id"):
                continue
            resp = client.post(
                f"/v1/jobs/{entry['job_id']}/predictions",
                files={"file": ("test.csv", _csv(test.drop(columns=[ds.target])), "text/csv")},
            )
            held_out[entry["job_id"]] = (
                score_predictions(ds.task, test[ds.target], resp.json()) if resp.status_code == 200 else None
            )
            if resp.status_code == 200:
                answers[entry["job_id"]] = resp.json()
            job = ok(client.get(f"/v1/jobs/{entry['job_id']}"), 200)
            # how it was validated and which model serves, with why (a fold or refit that fell back says so)
            runs[entry["job_id"]] = {
                k: job.get(k) for k in ("validation", "partial", "partial_reason", "derived_params")
            }
        best_entry = max((v for v in held_out.values() if v is not None), default=None)
        dump.mkdir(parents=True, exist_ok=True)
        name = ds.name.replace("/", "__")
        (dump / f"{name}.json").write_text(
            json.dumps(
                {"dataset": ds.name, "task": ds.task, "race": race, "held_out": held_out, "runs": runs}, indent=1
            )
        )
        _dump_predictions(dump / name, ds, test, answers, artifacts)
    return score, wall, f"{win['model']} ({win['trainer']})", best_entry


def _dump_predictions(
    folder: Path, ds: RealDataset, test: pd.DataFrame, answers: dict[str, Any], artifacts: Path | None
) -> None:
    """Per entry: its answer on the held-out part (``<job>.answer.json``) and, from the service's artifact folder,
    its out-of-fold predictions with their row indices and targets (``<job>.valid_*.npy``); plus the held-out
    targets (``truth.json``). Enough to rebuild any ensemble of the entries offline and score it as served."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "truth.json").write_text(json.dumps([_label(v) for v in test[ds.target]]))
    for job_id, answer in answers.items():
        (folder / f"{job_id}.answer.json").write_text(json.dumps(answer))
        # the model folder is <artifacts>/<job>/<attempt>/model/; the last attempt's is the one served
        found = sorted((artifacts / job_id).glob("*/model/valid_pred.npy")) if artifacts is not None else []
        for role in ("valid_pred", "valid_index", "valid_target"):
            if found and (found[-1].parent / f"{role}.npy").exists():
                (folder / f"{job_id}.{role}.npy").write_bytes((found[-1].parent / f"{role}.npy").read_bytes())


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; prints the table and returns 0 (1 when every dataset failed)."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--datasets", default=None, help="dev, corpus, all or comma-separated names (default: all)")
    ap.add_argument("--quick", action="store_true", help=f"a smoke test on {QUICK}")
    ap.add_argument("--peer-scores", type=Path, default=DEFAULT_PEERS, help="recorded peers (default: %(default)s)")
    ap.add_argument("--flaml", action="store_true", help="rerun FLAML-60s here instead of reading the peers' figure")
    ap.add_argument(
        "--lodo",
        action="store_true",
        help="advise with the portfolio minus the dataset under test (ADVISOR_PORTFOLIO_PATH)",
    )
    ap.add_argument("--portfolio", type=Path, default=None, help="portfolio for --lodo (default: the packaged one)")
    ap.add_argument("--race-timeout", type=float, default=1800.0, help="seconds one race may take")
    ap.add_argument(
        "--dump",
        type=Path,
        default=None,
        help="folder for each race's document, every entry's held-out score and answer, and its stored "
        "out-of-fold predictions (what a study of selection rules and ensembles needs without racing again)",
    )
    args = ap.parse_args(argv)

    import httpx

    from advisor.portfolio import Portfolio, default_portfolio

    datasets = select(QUICK if args.quick else args.datasets)
    peers = json.loads(args.peer_scores.read_text())["datasets"] if args.peer_scores.exists() else {}
    if not peers:
        print(f"(no peer scores at {args.peer_scores}: FLAML and hindsight columns use what this run measures)")
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="race-quality-") as tmp:
        env: dict[str, str] = {}
        lodo_path = Path(tmp) / "lodo-portfolio.json"
        portfolio: Portfolio | None = None
        if args.lodo:
            portfolio = (
                Portfolio.model_validate_json(args.portfolio.read_text()) if args.portfolio else default_portfolio()
            )
            lodo_path.write_text(portfolio.model_dump_json())
            env["ADVISOR_PORTFOLIO_PATH"] = str(lodo_path)
        data_dir = Path(tmp) / "data"
        data_dir.mkdir()
        server = Server(data_dir, env)
        t_all = time.perf_counter()
        try:
            server.wait_ready()
            with httpx.Client(base_url=server.url, timeout=120) as client:
                for ds in datasets:
                    peer = peers.get(ds.name, {})
                    res = Result(
                        ds.name,
                        METRIC[ds.task],
                        families=peer.get("families_untuned"),
                        flaml=(peer.get("flaml_60s") or {}).get("score"),
                        flaml_s=(peer.get("flaml_60s") or {}).get("wall_s"),
                    )
                    try:
                        train, test = ds.split()
                        res.n_test = len(test)
                        if portfolio is not None:  # the service re-reads the file when it changes
                            tmp_file = lodo_path.with_suffix(".tmp")
                            tmp_file.write_text(portfolio.without([ds.name]).model_dump_json())
                            os.replace(tmp_file, lodo_path)
                        res.race, res.race_s, res.winner, res.entries = race_one(
                            client, ds, train, test, args.race_timeout, args.dump, data_dir / "artifacts"
                        )
                        res.lightgbm = default_lightgbm(ds, train, test)
                        if args.flaml:
                            res.flaml, res.flaml_s = run_flaml(ds, train, test)
                    except Exception as exc:  # per dataset: print, count, go on
                        res.error = f"{type(exc).__name__}: {exc}"
                        traceback.print_exc()
                    results.append(res)
                    print(
                        f"{ds.name}: race {_f(res.race)} in {_f(res.race_s, '6.1f')} s"
                        + (f"  FAILED {res.error}" if res.error else ""),
                        flush=True,
                    )
        finally:
            server.stop()
    print()
    print(report(results))
    print(f"(total {time.perf_counter() - t_all:.0f} s; {'LODO portfolio' if args.lodo else 'packaged portfolio'})")
    return 0 if any(r.error is None for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
