"""Run the policy: assumptions → §9 family → candidates (each key by its rule chain) → checklist."""

from __future__ import annotations

from functools import partial
from typing import Any

from pydantic import BaseModel, ConfigDict

from advisor import policy
from advisor import tables as t
from advisor.chains import read_only_shape, run_chains
from advisor.pool import ClassicalPool, classical_pool
from advisor.portfolio import EvidenceRow, ModelEvidence, Portfolio
from advisor.portfolio import rank as rank_by_evidence
from advisor.profile import Constraints, DatasetProfile
from advisor.recommendation import Candidate, ChecklistItem, Decision, Recommendation, adopt_whole, whole
from advisor.resolve import resolved_context
from advisor.rules.base import Arch, Context, Rule, new_context
from advisor.rules.checklist import Item

TRAINERS = {
    "mlp": "torch_mlp",
    "cnn": "torch_cnn",
    "lstm": "torch_lstm",
    "transformer": "torch_transformer",
    "xgboost": "xgboost",
    "lightgbm": "lightgbm",
    "random_forest": "sklearn_random_forest",
    "extra_trees": "sklearn_extra_trees",
    "knn": "sklearn_knn",
    "svm": "sklearn_svm",
    "logistic_regression": "sklearn_logistic",
    "ridge_regression": "sklearn_ridge",
}
_CANDIDATE_FIELDS, _RECOMMENDATION_FIELDS = whole(Candidate), whole(Recommendation)
# Why the baseline is the only linear model: it is what the peer figures call "linear" (standardized, untuned).
_LINEAR_NOTE = (
    "A {base} baseline is always trained beside them and ranked with them in a race (Pro tip 6); it is "
    "the untuned standardized linear model that was best on 20 of the 61 peer datasets, so no second "
    "linear model takes a ranked place."
)


class RuleInfo(BaseModel):
    """A rule as data, for clients that show why a value was chosen."""

    model_config = ConfigDict(frozen=True)

    id: str
    section: str
    decides: str
    conditions: dict[str, Any]
    description: str
    extrapolated: bool
    stage: str


def _resolve(profile: DatasetProfile, constraints: Constraints) -> tuple[Context, list[Decision]]:
    """Fill every missing field with its stated default; the decisions say what was assumed (the context the rules
    read, as :func:`recommend` builds it; :func:`advisor.resolve.resolved` gives the models themselves)."""
    _, _, assumed, ctx = resolved_context(profile, constraints)
    return ctx, assumed


_Option = tuple[str, str, Arch | None, bool, str]  # family, model, architecture, transfer, summary


def _dl_options(ctx: Context) -> list[tuple[Arch, bool, str]]:
    """Deep-learning candidates for the modality, best first: (architecture, transfer?, summary)."""
    p = ctx.profile
    if p.modality == "tabular":
        return [("mlp", False, "MLP for tabular data (§1)")]
    if p.modality == "image":
        if p.image_size is not None and min(p.image_size[:2]) < 32:
            return [("cnn", False, "CNN trained from scratch: images under 32 px do not suit pretrained backbones")]
        return [
            ("cnn", True, "CNN on a pretrained backbone: transfer learning (§8, Pro tip 3)"),
            ("cnn", False, "CNN trained from scratch, to check what transfer learning adds"),
        ]
    if p.modality == "text":
        return [
            ("transformer", True, "Transformer fine-tuned from a pretrained encoder (§1, §8)"),
            ("lstm", False, "LSTM trained from scratch (§1 'RNN/LSTM: NLP')"),
        ]
    return [
        ("lstm", False, "LSTM for temporal dependencies (§1)"),
        ("transformer", False, "Transformer encoder: attention and parallel processing (§1)"),
    ]


# What a winning portfolio configuration may set on a candidate: the shape of its model (leaves, depth, features
# per split, leaf size, neighbours, C). Rounds and tree counts stay with the rules (early stopping §6, the §13 cost),
# and so do the kernel and the tree method; only keys the candidate's own rule chain decides are replaced.
_EVIDENCE_KEEPS_RULES = frozenset({"n_estimators", "kernel", "tree_method"})


def order_pool(
    pool: ClassicalPool,
    profile: DatasetProfile,
    portfolio: Portfolio | None = None,
    history: tuple[EvidenceRow, ...] = (),
) -> tuple[ClassicalPool, dict[str, ModelEvidence]]:
    """The classical pool in the order candidates are ranked, and the evidence behind each model.

    Without a portfolio (or for data the portfolio does not describe: anything but a table with known columns) the
    pool's default order stands. With one, the models are ordered by how they did on the most similar datasets
    the portfolio learned from (:func:`advisor.portfolio.rank`), plus ``history``: the tenant's own finished races,
    which compete for the similar places like any dataset; the reason says whether they changed the order.
    """
    if portfolio is None or profile.modality != "tabular" or profile.n_features is None or not pool.entries:
        return pool, {}
    ranked = rank_by_evidence(profile, portfolio, extra=history, models=pool.models)
    if not ranked:
        return pool, {}

    def order_of(found: list[ModelEvidence]) -> list[str]:
        known = [e.model for e in found]
        return known + [m for m in pool.models if m not in known]  # no evidence (e.g. the MLP): default order

    order = order_of(ranked)
    reason = (
        f"ordered by evidence (portfolio v{portfolio.version}, learned offline from {len(portfolio.datasets)} "
        f"public datasets): {ranked[0].reason}"
    )
    if history:
        before = order_of(rank_by_evidence(profile, portfolio, models=pool.models))
        if before != order:
            reason += f" Your own finished races changed this order: without them it would be {', '.join(before)}."
        else:
            reason += f" Your {len(history)} finished race(s) were weighed too and left the order as it is."
    return pool.reordered(order, reason), {e.model: e for e in ranked}


def _apply_evidence(choices: dict[str, Decision], evidence: ModelEvidence) -> None:
    """Replace the rule chain's values with the winning configuration's where it is a variant (not the family's
    default configuration) and differs, each with its evidence as the reason."""
    if evidence.config_index == 0:
        return
    for key, value in evidence.params.items():
        if key in _EVIDENCE_KEEPS_RULES or key not in choices or choices[key].value == value:
            continue
        if isinstance(choices[key].value, list):  # the rule searches this value on the data itself at fit time
            continue
        choices[key] = Decision(
            key=key,
            value=value,
            rule_id="portfolio.config",
            section="§9",
            reason=(
                f"{key}={value!r} from the '{evidence.config}' configuration of {evidence.model}, the best of its "
                f"configurations on datasets like this one (instead of the rule's "
                f"{choices[key].value!r}, {choices[key].rule_id})."
            ),
            assumed=False,
            extrapolated=True,
        )


def _candidate(
    ctx: Context,
    rank: int,
    model: str,
    family: str,
    summary: str,
    shared: dict[int | str, Decision | None],
    arch: Arch | None = None,
    use_transfer: bool = False,
    evidence: ModelEvidence | None = None,
) -> tuple[Candidate, Context]:
    c = new_context(ctx.profile, ctx.constraints, family, arch, model, use_transfer)
    chains = policy.CANDIDATE_CHAINS["deep_learning" if family == "deep_learning" else model]
    choices = run_chains(c, chains, shared)
    if evidence is not None:
        _apply_evidence(choices, evidence)
    cand = adopt_whole(  # the fields in declaration order, as a dict of its own (no keyword arguments to collect)
        Candidate,
        {
            "rank": rank,
            "model": model,
            "trainer": TRAINERS[model],
            "family": family,
            "summary": summary,
            "choices": choices,
            "evidence": evidence.reason if evidence is not None else None,
        },
        _CANDIDATE_FIELDS,
    )
    return cand, c


def recommend(
    profile: DatasetProfile,
    constraints: Constraints | None = None,
    *,
    portfolio: Portfolio | None = None,
    history: tuple[EvidenceRow, ...] = (),
) -> Recommendation:
    """Recommend what to train and how, for a dataset profile and the team's constraints.

    ``portfolio`` (learned offline, :mod:`advisor.portfolio`) orders the classical models by evidence from similar
    datasets and may set a model's shape from its winning configuration; ``history`` adds the tenant's own finished
    races to that evidence. Deterministic: the same inputs, ``TABLES_VERSION`` and portfolio give the same answer,
    byte for byte.
    """
    # the rules read the fields through plain objects (advisor.rules.base.plain); the answer holds the models
    resolved_profile, resolved_constraints, assumptions, ctx = resolved_context(profile, constraints or Constraints())
    decisions = [rule.decide(ctx) for rule in policy.FAMILY]
    verdict = decisions[-1].value
    fam, dl_first = verdict["family"], verdict["dl_first"]

    dl: list[_Option] = [("deep_learning", a, a, tr, s) for a, tr, s in _dl_options(ctx)]
    pool, evidence = order_pool(classical_pool(ctx.profile), ctx.profile, portfolio, history)
    cl: list[_Option] = [("classical", e.model, None, False, e.summary) for e in pool.entries]
    options: list[_Option]
    if fam == "deep_learning":
        options = dl
    elif fam == "classical":
        options = cl
    else:
        options = dl + cl if dl_first else cl + dl

    candidates: list[Candidate] = []
    contexts: list[Context] = []  # each candidate's context: its model and choices, read without pydantic's hook
    shared: dict[int | str, Decision | None] = {}
    for rank, (family_name, model, arch, use_transfer, summary) in enumerate(options, start=1):
        cand, cctx = _candidate(
            ctx,
            rank,
            model,
            family_name,
            summary,
            shared,
            arch,
            use_transfer,
            evidence.get(model) if family_name == "classical" else None,
        )
        candidates.append(cand)
        contexts.append(cctx)

    base_model = "ridge_regression" if profile.task == "regression" else "logistic_regression"
    base_summary = (
        "Linear (ridge) regression baseline (Pro tip 6: compare with a simple model)"
        if base_model == "ridge_regression"
        else "Logistic regression baseline (Pro tip 6: compare with a simple model)"
    )
    baseline, _ = _candidate(ctx, 0, base_model, "baseline", base_summary, shared)

    ranking = Decision(  # (key, value, rule_id, section, reason, assumed, extrapolated)
        "ranking",
        [  # the candidates' models (a candidate's context holds its model and its choices, the same dict)
            c.model + ("+transfer" if c.choices["transfer"].value.get("strategy", "none") != "none" else "")
            if "transfer" in c.choices
            else c.model
            for c in contexts
        ],
        "family.ranking",
        "§9",
        _ranking_reason(ctx, fam, dl_first, pool, base_model),
        False,
        fam != "deep_learning",  # the classical order rests on evidence, not §9
    )
    decisions.append(ranking)

    checklist = _checklist(contexts[0])
    warnings = _warnings(ctx, contexts)
    return adopt_whole(  # the fields in declaration order
        Recommendation,
        {
            "family": fam,
            "tables_version": t.TABLES_VERSION,
            "profile": resolved_profile,
            "constraints": resolved_constraints,
            "assumptions": assumptions,
            "decisions": decisions,
            "candidates": candidates,
            "baseline": baseline,
            "checklist": checklist,
            "warnings": warnings,
        },
        _RECOMMENDATION_FIELDS,
    )


def _ranking_reason(ctx: Context, fam: str, dl_first: bool, pool: ClassicalPool, base_model: str) -> str:
    """Why the candidates stand in this order: the §9 verdict between families, the pool's order within."""
    note = _LINEAR_NOTE.format(base=base_model.replace("_", " "))
    dl = (
        f"deep learning for {ctx.profile.modality} data (§9 Q1)"
        if fam == "deep_learning"
        else "deep learning (§9 verdict: "
        + ("ample compute and state of the art asked)" if dl_first else "second, classical ML is faster)")
    )
    if fam == "deep_learning":
        return f"Only {dl}. {note}"
    classical = f"Classical models: {pool.order_reason}"
    if fam == "classical":
        return f"{classical} {note}"
    first = "Deep learning first, then classical ML" if dl_first else "Classical ML first, then deep learning"
    return f"{first} (§9 verdict for {ctx.profile.modality} data). {classical} {note}"


# The checklist per shape of the top candidate (as for the rule chains, advisor.chains): an item whose test read
# only the shape is kept or dropped once, and one whose line read only the shape is written once and handed out.
_ChecklistPlan = tuple[tuple[Rule, bool, ChecklistItem | None], ...]  # (rule, tested?, the line if made once)
_CHECKLISTS: dict[tuple[object, ...], tuple[tuple[Rule, ...], _ChecklistPlan]] = {}


def _checklist(ctx: Context) -> list[ChecklistItem]:
    """The §10 checklist for the top candidate: every item whose test fires, in policy order."""
    rules = policy.CHECKLIST
    shape = (ctx.family, ctx.arch, ctx.model, ctx.use_transfer, ctx.profile.modality, ctx.profile.task)
    found = _CHECKLISTS.get(shape)
    if found is not None and found[0] is rules:
        return [
            item if item is not None else _checklist_item(rule, ctx)
            for rule, tested, item in found[1]
            if not tested or rule.applies(ctx)
        ]
    out: list[ChecklistItem] = []
    plan: list[tuple[Rule, bool, ChecklistItem | None]] = []
    for rule in rules:
        fires, fixed = read_only_shape(rule.applies, ctx)
        if fixed and not fires:
            continue  # never for this shape
        once: ChecklistItem | None = None
        if fires:
            line, made_once = read_only_shape(partial(_checklist_item, rule), ctx)
            out.append(line)
            once = line if made_once else None
        plan.append((rule, not fixed, once))
    _CHECKLISTS[shape] = (rules, tuple(plan))
    return out


def _checklist_item(rule: Rule, ctx: Context) -> ChecklistItem:
    if isinstance(rule, Item) and type(rule).decide is Item.decide:  # the line without its Decision around it
        return ChecklistItem(rule.STEP, rule.ITEM, rule.detail(ctx), rule.ID, rule.SECTION)
    v = rule.decide(ctx).value
    return ChecklistItem(v["step"], v["item"], v["detail"], rule.ID, rule.SECTION)


def _warnings(ctx: Context, candidates: list[Context]) -> list[str]:
    """Warnings for the whole answer; ``candidates`` are the ranked candidates' contexts (rank = position)."""
    p, c = ctx.profile, ctx.constraints
    out: list[str] = []
    if c.interpretability_required and p.modality in t.UNSTRUCTURED_MODALITIES:
        out.append(
            f"Interpretability is required but {p.modality} data calls for deep learning (§9 Q1 vs Q3): "
            "the linear baseline is the interpretable alternative."
        )
    if p.n_rows < 100:
        out.append(
            f"Only {p.n_rows} rows: every estimate is noisy; collect more data if you can (§10 "
            "'Overfitting → more data')."
        )
    for rank, cand in enumerate(candidates, start=1):
        ep = cand.choices.get("epochs")
        if ep is not None and ep.rule_id == "epochs.budget_cut":
            out.append(
                f"Rank {rank} ({cand.model}): the time budget allows only about {ep.value} epoch(s) on "
                f"the {cand.choices['device'].value}; give it more time or a GPU for a full run."
            )
    return out


def rules_catalog() -> list[RuleInfo]:
    """Every rule in policy order, as data: id, section, the key it decides, its conditions."""
    seen: dict[str, RuleInfo] = {}

    def add(rule: Rule, stage: str) -> None:
        if rule.ID in seen:
            return
        seen[rule.ID] = RuleInfo(
            id=rule.ID,
            section=rule.SECTION,
            decides=rule.DECIDES,
            conditions=dict(rule.CONDITIONS),
            description=(type(rule).__doc__ or "").strip().split("\n\n")[0].replace("\n", " "),
            extrapolated=rule.EXTRAPOLATED,
            stage=stage,
        )

    for r in policy.ASSUMPTIONS:
        add(r, "assumption")
    for r in policy.FAMILY:
        add(r, "family")
    for name, chains in policy.CANDIDATE_CHAINS.items():
        for _key, rules in chains:
            for r in rules:
                add(r, name)
    for r in policy.CHECKLIST:
        add(r, "checklist")
    seen["family.ranking"] = RuleInfo(
        id="family.ranking",
        section="§9",
        decides="ranking",
        conditions={
            "families": "per family.verdict",
            f"classical, n_rows < {t.FOREST_FIRST_MAX_ROWS}": ["random_forest", "extra_trees", "lightgbm", "xgboost"],
            f"classical, n_rows >= {t.FOREST_FIRST_MAX_ROWS}": ["lightgbm", "xgboost", "random_forest", "extra_trees"],
            "then": ["svm", "knn"],
            "svm": {"n_rows_lt": t.SVM_MAX_ROWS},
            "knn": {"n_rows_lt": t.KNN_MAX_ROWS},
            "baseline": "logistic_regression (classification) | ridge_regression (regression), always",
            "with a portfolio (tabular data)": "the pool's models by evidence from the k most similar datasets "
            "(advisor.portfolio.rank), the tenant's finished races included",
        },
        description=(
            "Order candidates as the §9 verdict says, classical ones by the evidence of a learned portfolio "
            "where it describes the data, else by the pool's size rules (forests first on small data, "
            "boosting first otherwise; SVM and k-NN last, on small data only); the baseline is always "
            "added (Pro tip 6)."
        ),
        extrapolated=True,
        stage="family",
    )
    seen["portfolio.config"] = RuleInfo(
        id="portfolio.config",
        section="§9",
        decides="model shape (leaves, depth, features, leaf size, k, C)",
        conditions={
            "applies": "the family's winning configuration on the similar datasets is a variant, not its default",
            "never": sorted(_EVIDENCE_KEEPS_RULES),
        },
        description=(
            "Set a classical candidate's shape from the configuration that did best on datasets like this "
            "one in the learned portfolio; rounds and tree counts stay with the rules."
        ),
        extrapolated=True,
        stage="classical",
    )
    return list(seen.values())
