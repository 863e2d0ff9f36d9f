"""The §13 estimates' figures and their text: the shortcuts in advisor.rules.budget write what the plain forms do."""

from __future__ import annotations

import math
import random

from advisor.rules.budget import _g, _sig, _sig_g, budget_text


def _values() -> list[float]:
    out = [0.0, -0.0, math.inf, -math.inf, math.nan, 1.0, 3600.0, 5e-324, 1.7976931348623157e308]
    for e in range(-12, 18):
        for m in (1, 5, 999, 1000, 1234, 1235, 1245, 9994, 9995, 9999):
            base = m * 10.0**e / 1000
            out += [base, math.nextafter(base, 0), math.nextafter(base, math.inf), -base]
    rng = random.Random(13)
    out += [10 ** rng.uniform(-10, 16) for _ in range(20_000)]
    return out


def test_the_rounded_figure_and_its_text_are_those_of_sig_then_g() -> None:
    for x in _values():
        figure, text = _sig_g(x)
        assert figure == _sig(x) or (math.isnan(figure) and math.isnan(_sig(x))), x
        assert text == _g(_sig(x)) == f"{_sig(x):g}", x


def test_the_budget_reads_as_g_formats_it() -> None:
    for budget in (3600.0, 3600, 60, 0.5, 1e-5, 1234567.0, 2592000.0, 7.25):
        assert budget_text(budget) == f"{budget:g}"
