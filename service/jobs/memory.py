"""A training process's memory, read from Linux ``/proc`` (None elsewhere): its size now and its peak.

Cheap to import: the runner reads a training process's size with it, and the process its own.
"""

from __future__ import annotations

from typing import Any


def reset_peak_rss() -> bool:
    """Reset this process's RSS high-water mark (Linux ``/proc/self/clear_refs``), so the next reading is this
    job's own peak and not an earlier job's in the same warm process. False where it cannot be reset."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def current_rss(pid: int | str = "self") -> int | None:
    """Resident set size now, in bytes (Linux ``VmRSS``), of this process or process ``pid``; None elsewhere."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return None


def peak_rss(reset: bool, start: int | None = None) -> dict[str, Any]:
    """The process's RSS peak in bytes (``VmHWM``), the RSS when the job started, and what they measure."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    value = int(line.split()[1]) * 1024  # kB
                    what = "since the job started" if reset else "over the training process's life"
                    return {
                        "peak_rss_bytes": value,
                        "rss_at_start_bytes": start,
                        "peak_rss_measure": f"training process RSS peak (VmHWM) {what}",
                    }
    except (OSError, ValueError):
        pass
    try:
        import resource

        kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return {
            "peak_rss_bytes": int(kib) * 1024,
            "peak_rss_measure": "training process RSS peak (getrusage) over the process's life",
        }
    except (ImportError, OSError):
        return {"peak_rss_bytes": None, "peak_rss_measure": None}
