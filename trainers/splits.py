"""Reproducible train/validation/test splits (stratified for classification).

Up to :data:`SKLEARN_SPLIT_MAX_ROWS` rows: scikit-learn's ``train_test_split`` twice (test first, then
validation from the rest), the split everyone knows and the one the trainers' tests are tuned on.
Above it, the same fractions drawn with NumPy (each class shuffled with ``default_rng(seed)`` and cut,
rounding per class): scikit-learn's stratified split loops over rows in Python and cost ~0.9 s of
CPU per million rows here, ~5% of the 1M-row XGBoost fit the service is benchmarked against; this
one costs 0.12 s. Either way the same ``(y, fractions, seed)`` always gives the same rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from trainers.spec import SplitInfo, SplitSpec, Task

SKLEARN_SPLIT_MAX_ROWS = 200_000


@dataclass(frozen=True)
class SplitIndices:
    """Sorted row positions of each part, and how they were drawn."""

    train: np.ndarray
    validation: np.ndarray
    test: np.ndarray
    info: SplitInfo


def _too_small(y: np.ndarray, n_parts: int) -> str | None:
    """None if every class can appear in every part, else why not."""
    counts = np.bincount(y)
    smallest = int(counts[counts > 0].min())
    if smallest < n_parts:
        return f"not stratified: the rarest class has {smallest} rows, fewer than {n_parts} parts"
    return None


def _draw(
    idx: np.ndarray, y: np.ndarray, spec: SplitSpec, seed: int, stratify: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from sklearn.model_selection import train_test_split  # heavy; not needed to import trainers

    if spec.test > 0:
        rest, test = train_test_split(idx, test_size=spec.test, random_state=seed, stratify=y if stratify else None)
    else:
        rest, test = idx, idx[:0]
    valid_share = spec.validation / (spec.train + spec.validation)
    train, valid = train_test_split(
        rest, test_size=valid_share, random_state=seed, stratify=y[rest] if stratify else None
    )
    return train, valid, test


def _cut(rows: np.ndarray, spec: SplitSpec) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cut already-shuffled ``rows`` by the fractions; every non-empty part gets at least one row."""
    n = len(rows)
    n_test = max(round(spec.test * n), 1) if spec.test > 0 else 0
    n_valid = max(round(spec.validation * n), 1)
    return rows[n_test + n_valid :], rows[n_test : n_test + n_valid], rows[:n_test]


def _draw_numpy(y: np.ndarray, spec: SplitSpec, seed: int, stratify: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    if not stratify:
        return _cut(rng.permutation(len(y)), spec)
    order = np.argsort(y, kind="stable")  # rows grouped by class, in row order
    ends = np.cumsum(np.bincount(y))
    pieces = []
    for start, stop in zip(np.r_[0, ends[:-1]], ends, strict=True):
        if stop > start:
            rows = order[start:stop]
            rng.shuffle(rows)
            pieces.append(_cut(rows, spec))
    train, valid, test = (np.concatenate([p[i] for p in pieces]) for i in range(3))
    return train, valid, test


def split_rows(y: np.ndarray, task: Task, spec: SplitSpec, seed: int) -> SplitIndices:
    """Split row positions into train/validation/test with ``spec``'s fractions and ``seed``.

    Classification splits are stratified on the class when ``spec.stratify`` is set and every class
    has a row for each part; otherwise the split is plain and ``info.note`` says why. The same
    ``(y, spec, seed)`` always gives the same rows. Indices are returned sorted, keeping row order.
    """
    n = len(y)
    n_parts = 3 if spec.test > 0 else 2
    if n < n_parts * 2:
        raise ValueError(f"{n} rows are too few to split into {n_parts} parts")
    idx = np.arange(n)
    note = None
    stratify = spec.stratify and task != "regression"
    if stratify:
        note = _too_small(y, n_parts)
        stratify = note is None
    if n > SKLEARN_SPLIT_MAX_ROWS:
        train, valid, test = _draw_numpy(y, spec, seed, stratify)
        return _indices(train, valid, test, spec, seed, stratify, note)
    try:
        train, valid, test = _draw(idx, y, spec, seed, stratify)
    except ValueError as exc:  # e.g. fewer test rows than classes: fall back to a plain split
        if not stratify:
            raise
        note, stratify = f"not stratified: {exc}", False
        train, valid, test = _draw(idx, y, spec, seed, stratify)
    return _indices(train, valid, test, spec, seed, stratify, note)


def _indices(
    train: np.ndarray,
    valid: np.ndarray,
    test: np.ndarray,
    spec: SplitSpec,
    seed: int,
    stratify: bool,
    note: str | None,
) -> SplitIndices:
    train, valid, test = np.sort(train), np.sort(valid), np.sort(test)
    info = SplitInfo(
        seed=seed,
        fractions=spec,
        stratified=stratify,
        train_size=len(train),
        validation_size=len(valid),
        test_size=len(test),
        note=note,
    )
    return SplitIndices(train=train, validation=valid, test=test, info=info)


# -- cross-validation over the non-test rows -----------------------------------------------------------------
# Up to this many non-test rows the validation score comes from k-fold cross-validation, above it from the
# holdout validation split. Why here: the standard error of an accuracy near 0.8 measured on n rows is
# sqrt(0.16 / n): 2.6 points on the 15% holdout of a 1,600-row table (240 rows), the size of the gaps
# between model families a race must tell apart, against 1.1 points when all 1,360 non-test rows are scored
# once out of fold. At the cut-off the holdout has ~1,760 rows (1.0 point): past it k more fits (minutes for
# a boosted 26-class model on two cores) buy less than the gaps that matter.
CV_MAX_ROWS = 10_000
# Five folds: each fold model sees 80% of the non-test rows (close to the 82% the holdout model trains
# on, so the fold scores estimate the served model), for five fits plus the served one. Ten folds would
# double the cost for a variance gain that the test split's own noise hides on small data.
CV_FOLDS = 5
# Up to this many non-test rows the k folds are drawn CV_REPEATS times, with seeds seed, seed + 1, ...: the
# score is the mean over all repeats × k folds, each row's out-of-fold output the mean over its repeats. Why:
# on a small table which rows land in the same fold moves a fold mean by about as much as the gaps between
# model families (a 5-fold accuracy on 160 rows shifts by ~1.5 points from one shuffle to the next), so one
# partition picks a winner partly by chance. Three partitions cut that part of the noise by about √3 for
# three times the fold fits: seconds on tables this small, where a race otherwise uses a tenth of its
# default budget. Above the cut-off a fold holds 200+ rows and one partition's noise is below those gaps.
CV_REPEAT_MAX_ROWS = 1_000
CV_REPEATS = 3


@dataclass(frozen=True)
class Folds:
    """Row positions (into the prepared table) of each fold's training and validation rows.

    With ``repeats`` > 1 the tuples hold ``repeats`` partitions of ``k`` folds one after the other; every row
    is in exactly one validation fold of each partition.
    """

    train: tuple[np.ndarray, ...]
    validation: tuple[np.ndarray, ...]
    stratified: bool
    note: str | None = None
    repeats: int = 1

    @property
    def k(self) -> int:
        """Number of folds of one partition."""
        return len(self.validation) // self.repeats


def use_kfold(n_non_test: int) -> bool:
    """Whether a run with ``n_non_test`` train + validation rows is validated by k-fold (else holdout)."""
    return n_non_test <= CV_MAX_ROWS


def fold_count(n_rows: int, k: int = CV_FOLDS) -> int:
    """The folds ``kfold_rows`` draws over ``n_rows`` rows: ``k``, or fewer when there are fewer than ``2 k``."""
    return max(2, min(k, n_rows // 2))


def cv_repeats(n_non_test: int) -> int:
    """How many partitions k-fold validation draws for ``n_non_test`` train + validation rows."""
    return CV_REPEATS if n_non_test <= CV_REPEAT_MAX_ROWS else 1


def kfold_rows(y: np.ndarray, task: Task, rows: np.ndarray, seed: int, k: int = CV_FOLDS, repeats: int = 1) -> Folds:
    """``k`` folds over ``rows`` (the non-test row positions), stratified on the class for classification.

    Deterministic in ``(y, rows, seed, k, repeats)``: every entry of a race (same dataset, same seed) gets the
    same folds; repeat ``r`` shuffles with ``seed + r``, so the first partition is the same for any
    ``repeats``. Falls back to plain (shuffled) folds when the rarest class has fewer than ``k`` rows, and to
    fewer folds when there are fewer than ``2 k`` rows.
    """
    from sklearn.model_selection import KFold, StratifiedKFold

    rows = np.sort(np.asarray(rows))
    k = fold_count(len(rows), k)
    repeats = max(1, repeats)
    note = None
    stratify = task != "regression"
    if stratify:
        counts = np.bincount(y[rows])
        smallest = int(counts[counts > 0].min())
        if smallest < k:
            stratify = False
            note = f"folds not stratified: the rarest class has {smallest} non-test rows, fewer than {k} folds"
    parts = []
    for r in range(repeats):
        splitter = (StratifiedKFold if stratify else KFold)(n_splits=k, shuffle=True, random_state=seed + r)
        parts.extend(splitter.split(rows, y[rows] if stratify else None))
    return Folds(
        train=tuple(np.sort(rows[tr]) for tr, _ in parts),
        validation=tuple(np.sort(rows[va]) for _, va in parts),
        stratified=stratify,
        note=note,
        repeats=repeats,
    )
