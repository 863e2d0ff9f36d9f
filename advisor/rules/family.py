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

    def decide(self, ctx: Context) -> Decision:
        m = ctx.profile.modality
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

    def decide(self, ctx: Context) -> Decision:
        if ctx.constraints.interpretability_required:
            return self.make("classical", "Interpretability is required: §9 question 3 points to classical ML.")
        return self.make("either", "Interpretability is not required: §9 question 3 says deep learning is OK.")


class ComputeQuestion(Rule):
    """Q4 "Infrastructure/Time?": limited → classical; ample → deep learning OK."""

    ID = "family.q4_compute"
    SECTION = "§9"
    DECIDES = "q4_compute"
    CONDITIONS = {"compute": {"limited": "classical", "ample": "either"}}

    def decide(self, ctx: Context) -> Decision:
        if ctx.constraints.compute == "limited":
            return self.make("classical", "Compute is limited: §9 question 4 points to classical ML.")
        return self.make("either", "Compute is ample: §9 question 4 says deep learning is OK.")


class PerformanceQuestion(Rule):
    """Q5 "Performance requirements?": good enough → classical (faster); state of the art → deep learning."""

    ID = "family.q5_performance"
    SECTION = "§9"
    DECIDES = "q5_performance"
    CONDITIONS = {"performance": {"good_enough": "classical", "state_of_the_art": "deep_learning"}}

    def decide(self, ctx: Context) -> Decision:
        if ctx.constraints.performance == "state_of_the_art":
            return self.make(
                "deep_learning", "State-of-the-art performance is asked: §9 question 5 points to deep learning."
            )
        return self.make(
            "classical", "Good-enough performance is asked: §9 question 5 points to classical ML (faster)."
        )


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

    def decide(self, ctx: Context) -> Decision:
        p, c = ctx.profile, ctx.constraints
        if p.modality in t.UNSTRUCTURED_MODALITIES:
            return self.make(
                {"family": "deep_learning", "dl_first": True},
                f"{p.modality.capitalize()} data: deep learning (§9 Q1 decides for unstructured "
                "data; a classical baseline is still trained).",
            )
        if p.modality == "tabular":
            if p.n_rows < t.TABULAR_CLASSICAL_MAX_ROWS:
                return self.make(
                    {"family": "classical", "dl_first": False},
                    f"Tabular data under {thousands(t.TABULAR_CLASSICAL_MAX_ROWS)} rows: classical ML "
                    "(§9 Q1 and Q2 agree).",
                )
            if c.interpretability_required:
                return self.make(
                    {"family": "classical", "dl_first": False},
                    "Over 100K tabular rows, but interpretability is required: classical ML only (§9 Q3).",
                )
            dl_first = c.compute == "ample" and c.performance == "state_of_the_art"
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
        if c.interpretability_required:
            return self.make(
                {"family": "both", "dl_first": False},
                "Sequence data with interpretability required: classical models on summary "
                "features first, recurrent networks second (§9 Q3).",
                extrapolated=True,
            )
        dl_first = p.n_rows >= t.TABULAR_CLASSICAL_MAX_ROWS or c.performance == "state_of_the_art"
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
