"""A small text progress bar with a rate and an ETA, drawn on stderr (no dependency).

On a terminal the bar redraws in place; elsewhere (a log, a pipe) it prints a line only when the
whole percent or the phase changes, at most every few seconds, so logs stay short.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


def format_seconds(seconds: float | None) -> str:
    """``1:02:03``, ``4:05`` or ``--:--``."""
    if seconds is None or seconds != seconds or seconds < 0 or seconds == float("inf"):
        return "--:--"
    s = round(seconds)
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def format_bytes(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if abs(n) < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"  # pragma: no cover


class ProgressBar:
    """``label [#####.....]  45%  phase  elapsed 0:12  eta 0:15``.

    ``update(fraction, text, eta_s)`` with a fraction in [0, 1] (None: unknown); the ETA is the caller's
    when given (the server's), else estimated from the elapsed time and the fraction done.
    """

    def __init__(self, label: str, *, stream: TextIO | None = None, width: int = 30, enabled: bool = True) -> None:
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.width = width
        self.enabled = enabled
        self.started = time.monotonic()
        self._tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._last_line = ""
        self._last_key: tuple[int, str] | None = None
        self._last_print = 0.0
        self.fraction: float | None = None
        self.eta_s: float | None = None

    def estimate_eta(self, fraction: float | None) -> float | None:
        """Seconds left if the rest goes at the pace so far."""
        elapsed = time.monotonic() - self.started
        if fraction is None or fraction <= 0.01 or elapsed < 0.5:
            return None
        return elapsed * (1 - fraction) / fraction

    def render(self, fraction: float | None, text: str = "", eta_s: float | None = None) -> str:
        elapsed = time.monotonic() - self.started
        if fraction is None:
            bar, percent = "?" * self.width, "  ?%"
        else:
            fraction = min(max(fraction, 0.0), 1.0)
            filled = round(fraction * self.width)
            bar, percent = "#" * filled + "." * (self.width - filled), f"{fraction * 100:3.0f}%"
        eta = eta_s if eta_s is not None else self.estimate_eta(fraction)
        parts = [f"{self.label} [{bar}] {percent}"]
        if text:
            parts.append(text)
        parts.append(f"elapsed {format_seconds(elapsed)}")
        if fraction is None or fraction < 1:
            parts.append(f"eta {format_seconds(eta)}")
        return "  ".join(parts)

    def update(self, fraction: float | None, text: str = "", eta_s: float | None = None) -> None:
        self.fraction = fraction
        self.eta_s = eta_s if eta_s is not None else self.estimate_eta(fraction)
        if not self.enabled:
            return
        line = self.render(fraction, text, eta_s)
        if self._tty:
            pad = max(0, len(self._last_line) - len(line))
            self.stream.write("\r" + line + " " * pad)
            self.stream.flush()
        else:
            phase = text.split()[0] if text else ""
            key = (int((fraction or 0) * 100), phase)
            now = time.monotonic()
            new_phase = self._last_key is None or phase != self._last_key[1]
            if new_phase or (key != self._last_key and now - self._last_print >= 2):
                self.stream.write(line + "\n")
                self.stream.flush()
                self._last_key, self._last_print = key, now
        self._last_line = line

    def close(self, text: str = "") -> None:
        """Draw the final state (``text`` replaces the phase) and end the line."""
        if not self.enabled:
            return
        if self._tty:
            if text:
                self.update(self.fraction, text, 0.0)
            self.stream.write("\n")
        else:
            line = self.render(self.fraction, text, 0.0)
            printed = self._last_key == (int((self.fraction or 0) * 100), text.split()[0] if text else "")
            if not printed:
                self.stream.write(line + "\n")
        self.stream.flush()
