"""Per-interval metrics of one experiment (``timeline.csv``) as numpy columns, and pure slicing helpers.

The CSV starts ``t,throughput,error_rate,p50_ms,p95_ms,p99_ms,ws_open`` (docs/runner.md) and may carry
more columns; an empty cell (an interval with no request) reads as NaN.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from resilience.errors import ConfigError

__all__ = ["PHASES", "Series", "coarsen", "read_timeline", "split_phases"]

FloatArray = npt.NDArray[np.float64]

PHASES = ("before", "during", "after")
"""Names of the three windows around a fault: before it started, while it lasted, after it ended."""


@dataclass(frozen=True)
class Series:
    """Column name -> values, all of one length; ``t`` holds epoch seconds."""

    columns: dict[str, FloatArray]

    @property
    def t(self) -> FloatArray:
        """Interval start times, epoch seconds."""
        return self.columns["t"]

    def __len__(self) -> int:
        return len(self.t)

    def get(self, name: str) -> FloatArray | None:
        """The named column, or None when the CSV had no such column or only empty cells in it."""
        values = self.columns.get(name)
        if values is None or not np.isfinite(values).any():
            return None
        return values

    def resolution_s(self) -> float | None:
        """Median spacing of ``t`` in seconds (None for fewer than two rows)."""
        if len(self) < 2:
            return None
        return float(np.median(np.diff(self.t)))


def _cell(value: str | None, path: Path, line: int, column: str) -> float:
    if value is None or value.strip() == "":
        return math.nan
    try:
        number = float(value)
    except ValueError:
        raise ConfigError(f"{path}:{line}: column {column}: not a number: {value!r}") from None
    return number


def read_timeline(path: Path) -> Series:
    """Read a timeline CSV; ConfigError naming file, line and column for malformed content."""
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            fields = [f.strip() for f in reader.fieldnames or []]
            if "t" not in fields:
                raise ConfigError(f"{path}:1: no 't' column in the header (got {','.join(fields) or 'nothing'})")
            rows: dict[str, list[float]] = {f: [] for f in fields}
            for row in reader:
                line = reader.line_num
                for raw_name, value in row.items():
                    if raw_name is None:
                        raise ConfigError(f"{path}:{line}: more cells than header columns")
                    name = raw_name.strip()
                    rows[name].append(_cell(value, path, line, name))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text") from exc
    columns = {name: np.asarray(values, dtype=np.float64) for name, values in rows.items()}
    order = np.argsort(columns["t"], kind="stable")
    return Series({name: values[order] for name, values in columns.items()})


def split_phases(
    series: Series, column: str, fault_start: float | None, fault_end: float | None
) -> dict[str, FloatArray]:
    """Finite values of ``column`` before, during and after the fault window ``[start, end)``.

    Without a fault start everything is "before"; without a fault end the fault lasts to the end.
    """
    values = series.get(column)
    if values is None:
        return {phase: np.empty(0) for phase in PHASES}
    t = series.t
    start = math.inf if fault_start is None else fault_start
    end = math.inf if fault_end is None else max(fault_end, start)
    masks = {"before": t < start, "during": (t >= start) & (t < end), "after": t >= end}
    return {phase: values[mask & np.isfinite(values)] for phase, mask in masks.items()}


_PEAK = ("p50_ms", "p95_ms", "p99_ms", "in_flight")
_LOWEST = ("ws_open",)


def _bucket_value(name: str, values: FloatArray, rows: dict[str, FloatArray], seconds: float) -> float:
    """One column's value for a bucket of consecutive intervals (``rows`` holds the bucket's columns)."""
    finite = values[np.isfinite(values)]
    if name == "error_rate" and "errors" in rows and "requests" in rows:
        requests = float(np.nansum(rows["requests"]))
        return float(np.nansum(rows["errors"])) / requests if requests > 0 else math.nan
    if name == "throughput" and "requests" in rows and np.isfinite(rows["requests"]).any():
        return float(np.nansum(rows["requests"])) / seconds
    if finite.size == 0:
        return math.nan
    if name in _PEAK or name.endswith(("_p95_ms", "_p99_ms")):
        return float(finite.max())
    if name in _LOWEST:
        return float(finite.min())
    return float(finite.mean())


def coarsen(series: Series, max_points: int) -> tuple[Series, int]:
    """Fewer, wider intervals for drawing: at most ``max_points`` rows, and the factor used (1: unchanged).

    Each new interval spans ``factor`` original ones: throughput is requests per second over it (or
    the mean), error rate is errors over requests (or the mean), latency percentiles are the worst
    interval's, open WebSockets the fewest; every other column is the mean.
    """
    resolution = series.resolution_s()
    if resolution is None or resolution <= 0 or len(series) <= max_points:
        return series, 1
    factor = math.ceil(len(series) / max_points)
    width = resolution * factor
    t = series.t
    buckets = np.rint((t - t[0]) / resolution).astype(int) // factor  # interval index, robust to float noise
    starts = np.flatnonzero(np.r_[True, np.diff(buckets) != 0])
    ends = np.r_[starts[1:], len(t)]
    out: dict[str, list[float]] = {name: [] for name in series.columns}
    for lo, hi in zip(starts, ends, strict=True):
        rows = {name: values[lo:hi] for name, values in series.columns.items()}
        out["t"].append(float(t[0] + buckets[lo] * width))
        for name, values in rows.items():
            if name != "t":
                out[name].append(_bucket_value(name, values, rows, width))
    return Series({name: np.asarray(values, dtype=np.float64) for name, values in out.items()}), factor
