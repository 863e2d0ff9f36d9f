"""§9 Deep learning vs classical ML: the five-question decision framework, one rule per question."""

from __future__ import annotations

from advisor import tables as t
from advisor.recommendation import Decision
from advisor.rules.base import Context, Rule
from advisor.text import thousands

# Each question answers "classical", "deep_learning" or "either" (the cheatsheet's "… OK" / "consider both").


class DataTypeQuestion(Rule):
    """Q1 "Data type?": tabular → classical; images/text/audio → deep learning."""

    ID = "family.q1_data_type"
    SECTION = "§9"
    DECIDES = "q1_data_type"
    CONDITIONS = {"tabular": "classical", "image|text|audio": "deep_learning", "sequence": "either"}

    def __init__(self) -> None:
        super().__init__()
        self._by_modality: dict[str, Decision] = {}  # the answer per modality, made once (read-only)

    def decide(self, ctx: Context) -> Decision:
        m = ctx.profile.modality
        found = self._by_modality.get(m)
        if found is None:
            found = self._by_modality[m] = self._answer(m)
        return found

    def _answer(self, m: str) -> Decision:
        if m == "tabular":
            return self.make("classical", "Tabular data: §9 question 1 points to classical ML (XGBoost/LightGBM).")
        if m in t.UNSTRUCTURED_MODALITIES:
            return self.make(
                "deep_learning", f"{m.capitalize()} data is unstructured: §9 question 1 points to deep learning."
            )
        return self.make(
            "either",
            "Sequences/time series are not named in §9 question 1; §1 gives them RNN/LSTM, and summary "
            "features make them tabular, so both families are considered.",
            extrapolated=True,
        )


class SizeQuestion(Rule):
    """Q2 "Dataset size?": under 100K rows → classical; over → consider both."""

    ID = "family.q2_dataset_size"
    SECTION = "§9"
    DECIDES = "q2_dataset_size"
    CONDITIONS = {"n_rows_lt": t.TABULAR_CLASSICAL_MAX_ROWS, "below": "classical", "at_or_above": "either"}

    def decide(self, ctx: Context) -> Decision:
        n = ctx.profile.n_rows
        rows, gate = thousands(n), thousands(t.TABULAR_CLASSICAL_MAX_ROWS)
        if n < t.TABULAR_CLASSICAL_MAX_ROWS:
            return self.make(
                "classical",
                f"{rows} rows is under {gate}: §9 question 2 points to classical ML.",
            )
        return self.make(
            "either",
            f"{rows} rows is at least {gate}: §9 question 2 says consider both families.",
        )


class InterpretabilityQuestion(Rule):
    """Q3 "Interpretability needed?": yes → classical; no → deep learning OK."""

    ID = "family.q3_interpretability"
    SECTION = "§9"
    DECIDES = "q3_interpretability"
    CONDITIONS = {"interpretability_required": {"true": "classical", "false": "either"}}

    def __init__(self) -> None:
        super().__init__()
        # the two answers, made once and shared (read-only) by every recommendation
        self._yes = self.make("classical", "Interpretability is required: §9 question 3 points to classical ML.")
        self._no = self.make("either", "Interpretability is not required: §9 question 3 says deep learning is OK.")

    def decide(self, ctx: Context) -> Decision:
        return self._yes if ctx.constraints.interpretability_required else self._no


class ComputeQuestion(Rule):
    """Q4 "Infrastructure/Time?": limited → classical; ample → deep learning OK."""

    ID = "family.q4_compute"
    SECTION = "§9"
    DECIDES = "q4_compute"
    CONDITIONS = {"compute": {"limited": "classical", "ample": "either"}}

    def __init__(self) -> None:
        super().__init__()
        # the two answers, made once and shared (read-only) by every recommendation
        self._limited = self.make("classical", "Compute is limited: §9 question 4 points to classical ML.")
        self._ample = self.make("either", "Compute is ample: §9 question 4 says deep learning is OK.")

    def decide(self, ctx: Context) -> Decision:
        return self._limited if ctx.constraints.compute == "limited" else self._ample


class PerformanceQuestion(Rule):
    """Q5 "Performance requirements?": good enough → classical (faster); state of the art → deep learning."""

    ID = "family.q5_performance"
    SECTION = "§9"
    DECIDES = "q5_performance"
    CONDITIONS = {"performance": {"good_enough": "classical", "state_of_the_art": "deep_learning"}}

    def __init__(self) -> None:
        super().__init__()
        # the two answers, made once and shared (read-only) by every recommendation
        self._sota = self.make(
            "deep_learning", "State-of-the-art performance is asked: §9 question 5 points to deep learning."
        )
        self._good_enough = self.make(
            "classical", "Good-enough performance is asked: §9 question 5 points to classical ML (faster)."
        )

    def decide(self, ctx: Context) -> Decision:
        return self._sota if ctx.constraints.performance == "state_of_the_art" else self._good_enough


class FamilyVerdict(Rule):
    """Combine the five answers: data type first, then size, then the three constraints for the ranking.

    Unstructured data goes to deep learning whatever else is said (classical ML on raw pixels or tokens is
    only a baseline). Tabular data under 100K rows goes to classical ML. Above that both families are
    ranked; interpretability removes deep learning; deep learning ranks first only when compute is ample
    and state-of-the-art performance is asked (questions 4 and 5 both allow it).
    """

    ID = "family.verdict"
    SECTION = "§9"
    DECIDES = "family"
    CONDITIONS = {
        "image|text|audio": "deep_learning",
        "tabular & n_rows < 100000": "classical",
        "tabular & n_rows >= 100000 & interpretability_required": "classical",
        "tabular & n_rows >= 100000": "both (deep learning first iff compute=ample and performance=state_of_the_art)",
        "sequence & interpretability_required": "both, classical first",
        "sequence": "both (deep learning first iff n_rows >= 100000 or performance=state_of_the_art)",
    }

    def __init__(self) -> None:
        super().__init__()
        # the answer per branch, made once from the branch alone and shared (read-only) by every recommendation
        self._answers: dict[tuple[str, str | bool], Decision] = {}

    def decide(self, ctx: Context) -> Decision:
        p, c = ctx.profile, ctx.constraints
        m = p.modality
        branch: tuple[str, str | bool]
        if m in t.UNSTRUCTURED_MODALITIES:
            branch = (m, "unstructured")
        elif m == "tabular":
            if p.n_rows < t.TABULAR_CLASSICAL_MAX_ROWS:
                branch = (m, "small")
            elif c.interpretability_required:
                branch = (m, "interpretable")
            else:
                branch = (m, c.compute == "ample" and c.performance == "state_of_the_art")
        elif c.interpretability_required:  # sequence
            branch = (m, "interpretable")
        else:
            branch = (m, p.n_rows >= t.TABULAR_CLASSICAL_MAX_ROWS or c.performance == "state_of_the_art")
        found = self._answers.get(branch)
        if found is None:
            found = self._answers[branch] = self._answer(*branch)
        return found

    def _answer(self, modality: str, branch: str | bool) -> Decision:
        """The verdict for a branch of :meth:`decide`: unstructured data, small or interpretable tables and
        sequences, else whether deep learning ranks first."""
        if branch == "unstructured":
            return self.make(
                {"family": "deep_learning", "dl_first": True},
                f"{modality.capitalize()} data: deep learning (§9 Q1 decides for unstructured "
                "data; a classical baseline is still trained).",
            )
        if modality == "tabular":
            if branch == "small":
                return self.make(
                    {"family": "classical", "dl_first": False},
                    f"Tabular data under {thousands(t.TABULAR_CLASSICAL_MAX_ROWS)} rows: classical ML "
                    "(§9 Q1 and Q2 agree).",
                )
            if branch == "interpretable":
                return self.make(
                    {"family": "classical", "dl_first": False},
                    "Over 100K tabular rows, but interpretability is required: classical ML only (§9 Q3).",
                )
            dl_first = branch is True
            why = (
                "compute is ample and state of the art is asked (Q4, Q5)"
                if dl_first
                else "limited compute or a good-enough target favours the faster classical models (Q4/Q5)"
            )
            return self.make(
                {"family": "both", "dl_first": dl_first},
                f"Over 100K tabular rows: consider both families (§9 Q2); "
                f"{'deep learning' if dl_first else 'classical ML'} ranks first because {why}.",
            )
        # sequence
        if branch == "interpretable":
            return self.make(
                {"family": "both", "dl_first": False},
                "Sequence data with interpretability required: classical models on summary "
                "features first, recurrent networks second (§9 Q3).",
                extrapolated=True,
            )
        dl_first = branch is True
        return self.make(
            {"family": "both", "dl_first": dl_first},
            "Sequence data: both families considered; "
            + (
                "recurrent networks first (large data or state of the art asked, §9 Q2/Q5)."
                if dl_first
                else "classical models on summary features first (under 100K rows and a good-enough target, §9 Q2/Q5)."
            ),
            extrapolated=True,
        )
