"""``Progbar``: Keras's progress bar, a plain utility the ``ProgbarLogger`` callback drives.

``verbose=1``: ``1875/1875 ━━━━━━━━━━━━━━━━━━━━ 3s 2ms/step - accuracy: 0.8123 - loss: 0.5432``,
redrawn in place (at most every ``interval`` seconds) with the ETA while running.
``verbose=2``: one line per epoch, ``1875/1875 - 3s - 2ms/step - accuracy: ... - loss: ...``.
"""

from __future__ import annotations

import math
import os
import sys
import time

import numpy as np


def _as_number(v) -> float:
    """A logged value as one number: several (F1Score's per class) show as their mean, as in Keras's bar."""
    if type(v) is float:
        return v
    try:
        return float(v)
    except (TypeError, ValueError):
        return float(np.mean(np.asarray(v, dtype="float64")))


def _fmt_value(v, by_size: bool = True) -> str:
    """A value as Keras's bar writes it: 4 decimals, or exponent notation near 0. The one-line
    (verbose=2) form compares the value itself, not its size, so a negative one is in exponent form."""
    v = float(v)
    return f"{v:.4f}" if (abs(v) if by_size else v) > 1e-3 else f"{v:.4e}"


def format_time_per_unit(seconds: float, unit: str = "step") -> str:
    if seconds >= 1 or seconds == 0:
        return f"{seconds:.0f}s/{unit}"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.0f}ms/{unit}"
    return f"{seconds * 1e6:.0f}us/{unit}"


class Progbar:
    """A progress bar over ``target`` steps (``None`` when unknown).

    Args:
        target: total number of steps, or None.
        width: bar width in characters (20).
        verbose: 1 for the live bar, 2 for one line at the end, 0 for nothing.
        interval: minimum seconds between redraws.
        stateful_metrics: names whose values are shown as given (the rest are averaged).
        unit_name: ``'step'``.
    """

    def __init__(self, target, width=20, verbose=1, interval=0.05, stateful_metrics=None, unit_name="step",
                 file=None):
        self.target, self.width, self.verbose = target, width, verbose
        self.interval, self.unit_name = interval, unit_name
        self.stateful_metrics = set(stateful_metrics or ())
        self.file = file
        isatty = hasattr(sys.stdout, "isatty") and sys.stdout.isatty()
        self._color = isatty or "ipykernel" in sys.modules or "PYCHARM_HOSTED" in os.environ
        self._values: dict = {}
        self._order: list = []
        self._seen = 0
        self._start = time.time()
        self._last_update = 0.0
        self._time_after_first = None
        self._prev_width = 0

    def _print(self, text: str) -> None:
        out = self.file or sys.stdout
        out.write(text)
        out.flush()

    def update(self, current, values=None, finalize=None) -> None:
        """Show progress at step ``current`` with ``values`` = [(name, value), ...]."""
        if finalize is None:
            finalize = self.target is not None and current >= self.target
        if values:
            acc, base = self._values, max(current - self._seen, 1)
            for k, v in values:
                v = _as_number(v)
                old = acc.get(k)
                if old is None:
                    self._order.append(k)
                if finalize or k in self.stateful_metrics:
                    acc[k] = [float(v), 1]
                elif old is None:
                    acc[k] = [float(v) * base, base]
                else:
                    old[0] += float(v) * base
                    old[1] += base
        self._seen = current
        now = time.time()
        per_unit = self._per_unit(current, now)
        if self.verbose == 1:
            if now - self._last_update < self.interval and not finalize:
                return
            bold = (lambda s: f"\x1b[1m{s}\x1b[0m") if self._color else (lambda s: s)
            if self.target is not None and self.target > 0:
                digits = int(math.log10(self.target)) + 1
                count = f"%{digits}d/%d" % (current, self.target)
                done = int(self.width * current / self.target)
                if self._color:
                    bar = f"{bold(count)} \x1b[32m{'━' * done}\x1b[0m\x1b[37m{'━' * (self.width - done)}\x1b[0m"
                else:
                    bar = f"{count} {'━' * self.width}" if done >= self.width else f"{count} {'━' * done}{'─' * (self.width - done)}"
                plain_bar = f"{count} {'━' * self.width}"
            else:
                bar = plain_bar = "%7d/Unknown" % current
            if self.target is not None and self.target > 0 and not finalize:
                eta = per_unit * (self.target - current)
                if eta > 3600:
                    eta_s = "%d:%02d:%02d" % (eta // 3600, (eta % 3600) // 60, eta % 60)
                elif eta > 60:
                    eta_s = "%d:%02d" % (eta // 60, eta % 60)
                else:
                    eta_s = "%ds" % eta
                info = f" {bold(eta_s)}"
                plain = f" {eta_s}"
            else:
                info = f" {bold(f'{now - self._start:.0f}s')}"
                plain = f" {now - self._start:.0f}s"
            tail = " " + format_time_per_unit(per_unit, self.unit_name)
            for k in self._order:
                total, count = self._values[k]
                tail += f" - {k}: {_fmt_value(total / max(1, count))}"
            width = len(plain_bar) + len(plain) + len(tail)
            msg = "\r" + bar + info + tail
            if self._prev_width > width:
                msg += " " * (self._prev_width - width)
            if finalize:
                msg += "\n"
            self._print(msg)
            self._prev_width = width
        elif self.verbose == 2 and finalize and self.target:
            digits = int(math.log10(self.target)) + 1
            line = f"%{digits}d/%d - {now - self._start:.0f}s - " % (current, self.target)
            line += format_time_per_unit(per_unit, self.unit_name)
            for k in self._order:
                total, count = self._values[k]
                line += f" - {k}: {_fmt_value(total / max(1, count), by_size=False)}"
            self._print(line + "\n")
        self._last_update = now

    def add(self, n, values=None) -> None:
        self.update(self._seen + n, values)

    def _per_unit(self, current, now) -> float:
        # As Keras: the first step (which includes warm-up) is timed apart from the others.
        if current and self._time_after_first is None and current >= 1:
            self._time_after_first = (now, current)
            return (now - self._start) / current
        if self._time_after_first is not None and current > self._time_after_first[1]:
            t0, c0 = self._time_after_first
            return (now - t0) / (current - c0)
        return (now - self._start) / current if current else 0.0
