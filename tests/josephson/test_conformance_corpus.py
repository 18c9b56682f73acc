"""The JoSIM conformance corpus: every testbench of tests/josephson/data/corpus/ run unchanged.

The netlists are this project's own (experiments/josim_corpus_netlists.py), in the styles of the
public cell libraries: MIT-LL cells as Xic exports them (numbers written out, PTL transmitter /
receiver cells with T lines, the .model at the end of the file, WRspice 3-terminal junctions,
fcheck flags, inline comments), RSFQlib-style cells with cell-local .param scaling (every cell
defines its own B1, IB1, ... with other values: a global last-wins table would bias them all
alike), JTL, splitter, merger, DFF, NDRO, TFF, AND/OR/XOR/NOT, DC/SFQ, SFQ/DC, and a 1,022-junction
splitter tree nested 9 instances deep. Reference: JoSIM v2.7 (josim-cli, git 02a34ee) on the same
files, phase mode; switching times from its printed phases by the same event rule physnn uses
((2k+1)pi crossings, cubic through 4 samples, crossings undone within two print steps dropped),
stored in data/corpus/josim_reference.json by experiments/josim_conformance.py (numbers only).

Every junction is matched by label, every event counted (a count mismatch fails), every time
within max(0.3 ps, 1 %) of JoSIM's.
"""

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from physnn.josephson import NetlistWarning, compare_switch_times, simulate

DATA = Path(__file__).parent / "data" / "corpus"
REF = json.loads((DATA / "josim_reference.json").read_text())
FILES = sorted(p.name for p in DATA.glob("*.cir"))


def _tol(t):
    return np.maximum(0.3e-12, 0.01 * np.abs(t))


def test_corpus_is_complete():
    assert len(FILES) >= 20 and set(FILES) == set(REF)
    assert max(len(REF[f]["switch_times_s"]) for f in FILES) >= 1000  # the composite
    for f in FILES:  # JoSIM knew every printed label (none fell back to its node list)
        assert REF[f]["unknown_print_warnings"] == [], f


@pytest.mark.parametrize("name", FILES)
def test_corpus_file_matches_josim(name):
    ref = REF[name]
    with warnings.catch_warnings():
        warnings.simplefilter("error", NetlistWarning)  # the corpus is clean JoSIM input
        ds = simulate(DATA / name, junction_voltage=False)
    labels = set(ds["junction"].values.tolist())
    times = ref["switch_times_s"]
    assert set(times) == labels  # every junction of the circuit has JoSIM's times, by label
    tmax = ref["tstop_s"] + 0.5 * ref["prstep_s"]  # JoSIM stops printing one step before tstop
    c = compare_switch_times(ds, times, min_dwell=2 * ref["prstep_s"], tmax=tmax)
    assert c.count_mismatches == (), c.count_mismatches
    assert c.n_events == sum(int(np.sum(np.asarray(v) < tmax)) for v in times.values()) > 0
    for jj, err in c.errors.items():
        rt = np.asarray(times[jj])
        rt = rt[rt < tmax]
        assert np.all(err <= _tol(rt)), (jj, err, rt)
