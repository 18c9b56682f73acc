"""Issue 25's name for the chip-cost benchmark: runs ``experiments/bench_cost.py`` (same arguments,
same output, published as ``results/bench_cost``)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_cost import main  # noqa: E402

if __name__ == "__main__":
    main()
