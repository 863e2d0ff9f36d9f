"""What the garbage collector looks at in a serving process.

A recommendation builds a few hundred short-lived containers (decisions, candidates, their dicts), so the
collector runs every few requests, and every tenth of those runs also walks the older objects. In a service
those are mostly what startup built and what lives until the process ends: modules, classes, the app, the
engine and the ML libraries imported to validate jobs. Measured with ``perf`` on ``POST /v1/recommendations``
under load (``bench/recommend.py``), the collector took about a sixth of the server's CPU.

``freeze_startup_objects`` moves every object alive at that moment into the collector's permanent generation
(``gc.freeze``), which it no longer walks; collections then look only at what requests create. It is called once
startup is done and again when the imports that follow it (the prewarm) are done. ``thaw`` gives the objects back
at shutdown, so that a process that builds many apps (the tests) can still collect the ones it dropped.
"""

from __future__ import annotations

import gc


def freeze_startup_objects() -> int:
    """Move every object now tracked out of the collector's view; returns how many are frozen in all."""
    gc.freeze()
    return gc.get_freeze_count()


def thaw() -> None:
    """Put the frozen objects back where the collector looks (shutdown)."""
    gc.unfreeze()
