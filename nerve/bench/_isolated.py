"""One library's run of one benchmark, in an interpreter of its own (see ``bench.isolated``).

``python -m nerve.bench._isolated SUITE CASE LIB EPOCHS QUICK`` prints the times in seconds as a
JSON list on its last line.
"""

from __future__ import annotations

import importlib
import json
import sys
import time


def main(argv: list) -> None:
    suite, case, lib, epochs, quick = argv
    fn = importlib.import_module(f"nerve.bench.{suite}").epoch_for(case, lib, quick == "1")
    fn()  # untimed: first-call costs (imports, allocations, BLAS start-up)
    times = []
    for _ in range(int(epochs)):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    print(json.dumps(times))


if __name__ == "__main__":
    main(sys.argv[1:])
