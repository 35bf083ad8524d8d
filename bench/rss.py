"""Peak resident memory of each process a benchmark starts (meltano, the tap, the target).

`meltano run` starts the plugins as its children, so `wait4` on meltano alone does not say
which of them peaked. `PeakMemory` samples `/proc/<pid>/status` of every descendant of this
process twice a second and keeps, per executable, the highest `VmHWM` (the kernel's own
high-water mark of that process's RSS) seen:

    with PeakMemory() as peaks:
        pipeline.run(...)
    peaks.mb   # {"meltano": 180.2, "tap-dynamics365": 92.1, "target-adobe-campaign": 140.3}

A process that lives less than one sampling interval may be missed; the plugins of a measured
run live for seconds at least.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from types import TracebackType

PROC = Path("/proc")
INTERVAL_SECONDS = 0.5


def _children_of(root: int) -> set[int]:
    """Every live descendant of `root`."""
    parents: dict[int, int] = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # the command may hold spaces and parentheses: fields follow the last ")"
        fields = stat.rsplit(")", 1)[1].split()
        parents[int(entry.name)] = int(fields[1])
    found: set[int] = set()
    frontier = {root}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _name_and_peak(pid: int) -> tuple[str, float] | None:
    """The process's executable (script name for Python entry points) and VmHWM in MB."""
    try:
        argv = (PROC / str(pid) / "cmdline").read_bytes().split(b"\0")
        status = (PROC / str(pid) / "status").read_text()
    except OSError:
        return None
    words = [Path(a.decode(errors="replace")).name for a in argv if a]
    if not words:
        return None
    name = words[1] if words[0].startswith("python") and len(words) > 1 else words[0]
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return name, int(line.split()[1]) / 1024
    return None


class PeakMemory:
    """Samples the peak RSS of this process's descendants, by executable name."""

    def __init__(self) -> None:
        """Nothing sampled yet."""
        self.mb: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> PeakMemory:
        """Start sampling."""
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Stop sampling."""
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        me = os.getpid()
        while not self._stop.wait(INTERVAL_SECONDS):
            for pid in _children_of(me):
                seen = _name_and_peak(pid)
                if seen is not None:
                    name, peak = seen
                    self.mb[name] = max(self.mb.get(name, 0.0), peak)
