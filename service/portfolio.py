"""Which portfolio (learned evidence, :mod:`advisor.portfolio`) the service's recommendations use.

The packaged one by default; ``ADVISOR_PORTFOLIO_PATH`` names another file, read again whenever it changes
(its inode, size or modification time), so it can be replaced while the service runs — e.g. by
``bench/race_quality.py --lodo``, which writes, per dataset, a portfolio without that dataset.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from advisor.portfolio import Portfolio, default_portfolio
from service.settings import Settings

_lock = threading.Lock()
_cache: dict[Path, tuple[tuple[int, int, int], Portfolio]] = {}


def current_portfolio(settings: Settings) -> Portfolio:
    """The portfolio to advise with now: ``settings.portfolio_path`` if set (reloaded when it changed), else the
    packaged one.

    Raises:
        OSError: the configured file cannot be read.
        pydantic.ValidationError: it is not a valid portfolio.
    """
    path = settings.portfolio_path
    if path is None:
        return default_portfolio()
    st = os.stat(path)
    key = (st.st_ino, st.st_size, st.st_mtime_ns)
    with _lock:
        hit = _cache.get(path)
        if hit is not None and hit[0] == key:
            return hit[1]
    portfolio = Portfolio.model_validate_json(Path(path).read_bytes())
    with _lock:
        _cache[path] = (key, portfolio)
    return portfolio
