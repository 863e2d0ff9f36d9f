"""The user's command line: ``recommend``, ``train``, ``race``, ``predict``, ``jobs``, ``show``.

Installed as ``advisor-client`` with the client alone, and mounted into the service's ``advisor`` command
(``advisor train ...``) where the server is installed. Every command talks to a server over HTTP
(``--url``/``--api-key``, or ``ADVISOR_URL``/``ADVISOR_API_KEY``); tables and progress bars by default,
``--json`` for scripts.

Exit codes: 0 done; 1 the job failed or was cancelled (a race: no entry succeeded); 2 bad usage;
3 the server refused the request (its problem is printed); 4 the server could not be reached, or another
client-side error.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any, TextIO

from advisor_client.errors import AdvisorError, ProblemError
from advisor_client.models import Job, Prediction, Race, Recommendation
from advisor_client.sync import Advisor

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_REFUSED, EXIT_ERROR = 0, 1, 2, 3, 4
COMMANDS = ("recommend", "train", "race", "predict", "jobs", "show")

EPILOG = (
    "Server: --url/--api-key or ADVISOR_URL/ADVISOR_API_KEY (default http://127.0.0.1:8000, no key). "
    "Exit codes: 0 done, 1 job failed or cancelled, 2 usage, 3 refused by the server, 4 unreachable or other error."
)


# -- output -------------------------------------------------------------------------------------------------------


def table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> str:
    """A plain text table: columns padded to their widest cell, numbers right-aligned."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    numeric = [bool(rows) and all(_is_number(r[i]) for r in rows if r[i] is not None) for i in range(len(headers))]

    def line(values: Sequence[str]) -> str:
        parts = [v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric, strict=True)]
        return "  ".join(parts).rstrip()

    out = [line(list(headers)), line(["-" * w for w in widths])]
    out += [line(r) for r in cells]
    return "\n".join(out)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _emit_json(data: Any, out: TextIO) -> None:
    if hasattr(data, "model_dump"):
        data = data.model_dump(mode="json", exclude_none=False)
    out.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def _metric_rows(metrics: dict[str, dict[str, float | None]] | None) -> list[list[Any]]:
    if not metrics:
        return []
    names = sorted({k for split in metrics.values() for k in (split or {})})
    splits = list(metrics)
    return [[name, *[(metrics.get(s) or {}).get(name) for s in splits]] for name in names]


def _headline(job: Job) -> tuple[str, float | None]:
    """The job's first validation (else test) metric, for one-line summaries."""
    for split in ("valid", "validation", "test"):
        values = (job.metrics or {}).get(split) or {}
        for key, value in values.items():
            if value is not None:
                return f"{split}.{key}", value
    return "", None


def _print_recommendation(rec: Recommendation, out: TextIO) -> None:
    out.write(f"recommendation {rec.id}  family: {rec.family}\n\n")
    rows = [[c.rank, c.model, c.trainer, c.family, c.summary] for c in rec.candidates]
    if rec.baseline is not None:
        b = rec.baseline
        rows.append(["base", b.model, b.trainer, b.family, b.summary])
    out.write(table(rows, ["rank", "model", "trainer", "family", "summary"]) + "\n")
    if rec.decisions:
        out.write("\n")
        rows = [
            [
                d.key,
                json.dumps(d.value, default=str)[:40],
                d.rule_id,
                d.section,
                ("assumed " if d.assumed else "") + ("extrapolated " if d.extrapolated else "") + d.reason[:80],
            ]
            for d in rec.decisions
        ]
        out.write(table(rows, ["decision", "value", "rule", "§", "reason"]) + "\n")
    for warning in rec.warnings:
        out.write(f"warning: {warning}\n")


def _print_job(job: Job, out: TextIO) -> None:
    out.write(f"job {job.id}  {job.status}  {job.model} ({job.trainer})\n")
    details = [
        ("dataset", job.dataset_id),
        ("recommendation", job.recommendation_id),
        ("race", job.race_id),
        ("time budget s", job.time_budget_s),
        ("partial model", job.partial),
        ("created", job.created_at),
    ]
    if job.progress is not None and not job.done:
        p = job.progress
        details.append(("progress", f"{p.phase} {p.current}/{p.total}" if p.total else p.phase))
    for label, value in details:
        if value is not None:
            out.write(f"  {label:<15} {_cell(value)}\n")
    rows = _metric_rows(job.metrics)
    if rows:
        out.write("\n" + table(rows, ["metric", *list(job.metrics or {})]) + "\n")
    if job.baseline and job.baseline.get("metrics"):
        base = job.baseline["metrics"]
        out.write(f"\nbaseline {job.baseline.get('model')}\n")
        out.write(table(_metric_rows(base), ["metric", *list(base)]) + "\n")
    for item in job.diagnosis or []:
        out.write(f"diagnosis: {item.get('issue')} ({item.get('rule_id')}, {item.get('section')}): ")
        out.write(f"{item.get('evidence') or ''}\n")
        for fix in item.get("fixes") or []:
            out.write(f"  fix: {fix}\n")
    if job.error:
        out.write(f"error: {job.error.get('title') or ''} {job.error.get('detail') or job.error}\n")
    if job.artifact:
        out.write(f"model: {job.artifact.get('url')} ({job.artifact.get('format')})\n")


def _print_race(race: Race, out: TextIO) -> None:
    out.write(f"race {race.id}  {race.status}  primary metric: {race.primary_metric}")
    out.write(f" ({'higher' if race.higher_is_better else 'lower'} is better)\n\n")
    rows = [
        [
            e.position,
            e.model + (" (baseline)" if e.is_baseline else "") + (" (ensemble)" if e.is_ensemble else ""),
            e.trainer,
            e.status,
            e.score,
            e.score_sd,
            e.test_score,
            e.train_s,
            e.job_id,
        ]
        for e in race.leaderboard
    ]
    out.write(table(rows, ["#", "model", "trainer", "status", "score", "sd", "test", "train s", "job"]) + "\n")
    for e in race.leaderboard:
        if e.reason:
            out.write(f"{e.model} {e.status}: {e.reason}\n")
    if race.verdict:
        out.write(f"\n{race.verdict}\n")


def _prediction_rows(prediction: Prediction) -> tuple[list[str], list[list[Any]]]:
    headers = ["prediction"]
    classes = prediction.classes if prediction.probabilities is not None else None
    if classes:
        headers += [f"proba_{c}" for c in classes]
    if prediction.ids is not None:
        headers = ["id", *headers]
    rows = []
    for i, value in enumerate(prediction.predictions):
        row: list[Any] = [value]
        if classes and prediction.probabilities is not None:
            row += list(prediction.probabilities[i])
        if prediction.ids is not None:
            row = [prediction.ids[i], *row]
        rows.append(row)
    return headers, rows


def write_predictions(prediction: Prediction, source: str, out: TextIO) -> None:
    """CSV: the input's own columns then the predictions (a CSV input), else the predictions alone."""
    headers, rows = _prediction_rows(prediction)
    writer = csv.writer(out, lineterminator="\n")
    if source.lower().endswith(".csv"):
        with open(source, newline="", encoding="utf-8") as f:
            original = list(csv.reader(f))
        if original and len(original) - 1 == len(rows):
            taken = set(original[0])
            names = [h if h not in taken else f"{h}_predicted" for h in headers]
            writer.writerow([*original[0], *names])
            writer.writerows([*old, *new] for old, new in zip(original[1:], rows, strict=True))
            return
    writer.writerow(headers)
    writer.writerows(rows)


# -- commands -----------------------------------------------------------------------------------------------------


def _constraints(args: argparse.Namespace) -> dict[str, Any] | None:
    if not getattr(args, "constraints", None):
        return None
    value = json.loads(args.constraints)
    if not isinstance(value, dict):
        raise AdvisorError("--constraints must be a JSON object")
    return value


def _progress(args: argparse.Namespace) -> bool:
    return not args.no_progress


def cmd_recommend(advisor: Advisor, args: argparse.Namespace, out: TextIO) -> int:
    rec = advisor.recommend(args.data, args.target, constraints=_constraints(args), progress=_progress(args))
    if args.json:
        _emit_json(rec, out)
    else:
        _print_recommendation(rec, out)
    return EXIT_OK


def cmd_train(advisor: Advisor, args: argparse.Namespace, out: TextIO) -> int:
    spec = None
    if args.trainer:
        spec = {"trainer": args.trainer, "params": json.loads(args.params or "{}")}
    handle = advisor.train(
        args.data,
        args.target,
        candidate=None if spec else args.candidate,
        spec=spec,
        constraints=_constraints(args),
        seed=args.seed,
        time_budget_s=args.time_budget,
        progress=_progress(args),
    )
    if not args.wait:
        if args.json:
            _emit_json(handle.job, out)
        else:
            out.write(f"job {handle.id} {handle.status}: {handle.job.model} ({handle.job.trainer})\n")
            out.write(f"follow it: show {handle.id}\n")
        return EXIT_OK
    job = handle.wait(progress=_progress(args), timeout=args.timeout)
    if args.json:
        _emit_json(job, out)
    else:
        _print_job(job, out)
    return EXIT_OK if job.succeeded else EXIT_FAILED


def cmd_race(advisor: Advisor, args: argparse.Namespace, out: TextIO) -> int:
    handle = advisor.race(
        args.data,
        args.target,
        constraints=_constraints(args),
        top_k=args.top_k,
        seed=args.seed,
        time_budget_s=args.time_budget,
        progress=_progress(args),
    )
    race = handle.wait(progress=_progress(args), timeout=args.timeout) if args.wait else handle.race
    if args.json:
        _emit_json(race, out)
    else:
        _print_race(race, out)
    if race.done and not any(e.status == "succeeded" for e in race.leaderboard):
        return EXIT_FAILED
    return EXIT_OK


def cmd_predict(advisor: Advisor, args: argparse.Namespace, out: TextIO) -> int:
    prediction = advisor.predict(args.job, args.data, batch=args.batch)
    if args.json:
        _emit_json(prediction, out)
    elif args.output and args.output != "-":
        with open(args.output, "w", newline="", encoding="utf-8") as f:
            write_predictions(prediction, args.data, f)
        sys.stderr.write(f"{prediction.n_rows} predictions written to {args.output}\n")
    else:
        write_predictions(prediction, args.data, out)
    for warning in prediction.warnings:
        sys.stderr.write(f"warning: {warning}\n")
    return EXIT_OK


def cmd_jobs(advisor: Advisor, args: argparse.Namespace, out: TextIO) -> int:
    page = advisor.jobs(status=args.status, dataset_id=args.dataset, limit=args.limit)
    if args.json:
        _emit_json(page, out)
        return EXIT_OK
    rows = []
    for job in page.items:
        name, value = _headline(job)
        created = job.created_at.strftime("%Y-%m-%d %H:%M:%S") if job.created_at else None
        rows.append([job.id, job.status, job.model, job.trainer, created, name or None, value])
    out.write(table(rows, ["job", "status", "model", "trainer", "created", "metric", "value"]) + "\n")
    if page.next_cursor:
        out.write("(more: raise --limit)\n")
    return EXIT_OK


def cmd_show(advisor: Advisor, args: argparse.Namespace, out: TextIO) -> int:
    job = advisor.get_job(args.job)
    if args.json:
        _emit_json(job, out)
    else:
        _print_job(job, out)
    if job.status in ("failed", "cancelled"):
        return EXIT_FAILED
    return EXIT_OK


HANDLERS: dict[str, Callable[[Advisor, argparse.Namespace, TextIO], int]] = {
    "recommend": cmd_recommend,
    "train": cmd_train,
    "race": cmd_race,
    "predict": cmd_predict,
    "jobs": cmd_jobs,
    "show": cmd_show,
}


# -- parser -------------------------------------------------------------------------------------------------------


def _common() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("common options")
    group.add_argument("--url", default=None, help="the service (default: $ADVISOR_URL, else http://127.0.0.1:8000)")
    group.add_argument("--api-key", default=None, help="API key (default: $ADVISOR_API_KEY)")
    group.add_argument("--json", action="store_true", help="print JSON (for scripts) instead of tables")
    group.add_argument("--no-progress", action="store_true", help="no progress bars on stderr")
    return common


def _data_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("data", help="CSV, Parquet, a zip of class folders or an .npz (uploaded first)")
    parser.add_argument("--target", default=None, help="the column to predict (tables)")
    parser.add_argument("--constraints", default=None, help="JSON, e.g. '{\"interpretability_required\": true}'")


def add_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the user commands to a subparsers object (the client's own parser, or the service's ``advisor``)."""
    common = _common()

    def add(name: str, **kwargs: Any) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = sub.add_parser(name, parents=[common], epilog=EPILOG, **kwargs)
        parser.set_defaults(client_command=name)
        return parser

    recommend = add("recommend", help="upload data and print the recommendation: candidates, decisions, rules")
    _data_args(recommend)

    train = add("train", help="upload data and train the recommended candidate (or --trainer)")
    _data_args(train)
    train.add_argument("--candidate", type=int, default=None, help="rank to train (default 1; 0 = the baseline)")
    train.add_argument("--trainer", default=None, help="train this trainer instead of a candidate (with --params)")
    train.add_argument("--params", default=None, help="JSON parameters for --trainer")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--time-budget", type=float, default=None, help="seconds the training may take")
    train.add_argument("--wait", action="store_true", help="follow the job to its end with a progress bar")
    train.add_argument("--timeout", type=float, default=None, help="with --wait: give up waiting after this many s")

    race = add("race", help="upload data and race the top-k candidates and the baseline")
    _data_args(race)
    race.add_argument("--top-k", type=int, default=None, help="candidates to train (default: the service's)")
    race.add_argument("--seed", type=int, default=0)
    race.add_argument("--time-budget", type=float, default=None, help="seconds for the whole race")
    race.add_argument("--wait", action="store_true", help="follow the race to its end, then print the leaderboard")
    race.add_argument("--timeout", type=float, default=None, help="with --wait: give up waiting after this many s")

    predict = add("predict", help="predict a file with a job's model; CSV out")
    predict.add_argument("job", help="the job whose model predicts")
    predict.add_argument("data", help="CSV or Parquet rows (or a file of the model's modality)")
    predict.add_argument("-o", "--output", default=None, help="CSV to write (default: stdout)")
    predict.add_argument("--batch", action="store_true", help="ask for a batch prediction (large inputs)")

    jobs = add("jobs", help="list jobs, newest first")
    jobs.add_argument("--status", default=None, choices=["queued", "running", "succeeded", "failed", "cancelled"])
    jobs.add_argument("--dataset", default=None, help="only this dataset's jobs")
    jobs.add_argument("--limit", type=int, default=20)

    show = add("show", help="a job's status, metrics, baseline, diagnosis and model")
    show.add_argument("job")


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Run a parsed user command; the exit code says how it went."""
    out = out if out is not None else sys.stdout
    try:
        with Advisor(args.url, args.api_key) as advisor:
            return HANDLERS[args.client_command](advisor, args, out)
    except ProblemError as exc:
        if args.json:
            _emit_json(exc.to_dict(), out)
        sys.stderr.write(f"error: {exc}\n")
        for item in exc.errors:
            sys.stderr.write(f"  {'.'.join(str(p) for p in item.get('loc', []))}: {item.get('msg')}\n")
        return EXIT_REFUSED
    except (AdvisorError, OSError, ValueError) as exc:
        sys.stderr.write(f"error: {exc}\n")
        return EXIT_ERROR
    except KeyboardInterrupt:
        sys.stderr.write("\ninterrupted (the job goes on running on the server)\n")
        return 130


def build_parser(prog: str = "advisor-client") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description="Model-advisor client: recommend, train, race, predict.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    add_commands(parser.add_subparsers(dest="command", required=True))
    return parser


def _version() -> str:
    from advisor_client import __version__

    return __version__


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``advisor-client`` console script."""
    return run(build_parser().parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
