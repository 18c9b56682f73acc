"""experiments/report.py: the published figures are the ones in results/*/latest.json (issue 21).

The first test is the repository's own check: it fails when a generated block of README.md or
RESULTS.md differs from what the JSON files give (a number edited by hand, or a benchmark rerun
without ``python experiments/report.py``). The others test the renderer on a scratch folder.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _report():
    spec = importlib.util.spec_from_file_location("physnn_report", ROOT / "experiments" / "report.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


report = _report()


def test_published_figures_match_their_json(capsys):
    rc = report.main(["--check"])
    err = capsys.readouterr().err
    assert rc == 0, (
        f"README.md / RESULTS.md differ from results/*/latest.json; run `python experiments/report.py`\n{err}"
    )


def test_documents_have_the_generated_blocks():
    readme = (ROOT / "README.md").read_text(encoding="utf-8").split("\n")
    results = (ROOT / "RESULTS.md").read_text(encoding="utf-8").split("\n")
    assert [b.name for b in report.find_blocks(readme, "README.md")] == ["figures"]
    names = {b.name for b in report.find_blocks(results, "RESULTS.md")}
    assert {"summary", "history"} <= names
    assert {f"benchmark:{n}" for n in report.BENCHMARKS} <= names
    for folder in (ROOT / "results").glob("*/latest.json"):
        assert f"benchmark:{folder.parent.name}" in names, f"RESULTS.md has no block for {folder}"


def _record(figures: dict, date: str = "2026-12-07T10:00:00Z") -> dict:
    return {
        "name": "x",
        "figures": figures,
        "meta": {
            "date_utc": date,
            "commit": "0123456789ab",
            "dirty": False,
            "command": "python experiments/x.py",
            "quick": False,
            "load_avg_start": [1.0, 1.0, 1.0],
            "load_avg_end": [1.5, 1.0, 1.0],
            "machine": {
                "cpu": "Test CPU",
                "cores": 2,
                "memory_gib": 8.0,
                "python": "3.11.7",
                "torch": "2.13.0",
                "torch_threads": 2,
            },
        },
    }


@pytest.fixture
def repo(tmp_path):
    """A scratch repository: two benchmarks' results, documents with every kind of block."""
    (tmp_path / "results" / "bench_crossbar").mkdir(parents=True)
    (tmp_path / "results" / "bench_crossbar" / "latest.json").write_text(
        json.dumps(
            _record(
                {
                    "linear_ratio": 1.4712,
                    "aihwkit_ratio": 0.61,
                    "brand_new_figure": 7.25,
                    "nested": {"a": 1, "b": [1.5, 2]},
                }
            )
        )
    )
    (tmp_path / "results" / "bench_crossbar" / "history.jsonl").write_text(
        json.dumps(_record({"linear_ratio": 1.9}, "2026-12-01T10:00:00Z")) + "\n"
    )
    (tmp_path / "results" / "sfq_xor").mkdir()
    (tmp_path / "results" / "sfq_xor" / "latest.json").write_text(
        json.dumps(_record({"task_acc": 0.956, "task_acc_float": 1.0, "circuit_correct": 4}))
    )
    (tmp_path / "README.md").write_text(
        "# T\n\nProse 1.23 stays.\n\n<!-- report:begin figures -->\n<!-- report:end figures -->\n\nMore prose.\n"
    )
    (tmp_path / "RESULTS.md").write_text(
        "# R\n\n<!-- report:begin summary -->\n<!-- report:end summary -->\n\n"
        "## crossbar\n\nHand-written.\n\n<!-- report:begin benchmark:bench_crossbar -->\n"
        "<!-- report:end benchmark:bench_crossbar -->\n\n"
        "<!-- report:begin benchmark:bench_rnn -->\n<!-- report:end benchmark:bench_rnn -->\n\n"
        "<!-- report:begin history -->\n<!-- report:end history -->\n"
    )
    assert report.main(["--root", str(tmp_path)]) == 0
    return tmp_path


def test_render_then_check_passes_and_prose_stays(repo, capsys):
    capsys.readouterr()
    assert report.main(["--check", "--root", str(repo)]) == 0
    readme = (repo / "README.md").read_text()
    results = (repo / "RESULTS.md").read_text()
    assert "Prose 1.23 stays." in readme and readme.endswith("More prose.\n")
    assert (
        "| `linear_ratio` | 1.471 | ≤ 1.5 (#2, #12) | yes | `results/bench_crossbar/latest.json` "
        "(2026-12-07, load 1 → 1.5) |"
    ) in readme
    assert "| `aihwkit_ratio` | 0.61 | ≤ 0.5 (#12; #2 had 0.8) | **no** |" in readme
    # a target figure the run lacks, and a benchmark without results: "not measured", no crash
    assert "| `ensemble_ratio` | not measured | ≤ 1.3 (#2, #12) | — |" in readme
    assert "| `lstm_ratio` | not measured |" in readme
    assert "not measured: no `results/bench_rnn/latest.json`" in results
    # figures report.py has never heard of are rendered too; nested dicts are flattened
    assert "| `brand_new_figure` | 7.25 |" in results
    assert "| `nested.a` | 1 |" in results and "| `nested.b` | [1.5, 2] |" in results
    # derived figure with its target; provenance; the replaced run in the history
    assert "| `iris_acc_minus_float` | -0.044 | ≥ -0.05 (#14) | yes |" in readme
    assert "commit `0123456789ab`" in results and "Test CPU, 2 cores, 8 GiB" in results and "1 → 1.5" in results
    assert "| 2026-12-01T10:00:00Z | `0123456789ab` | no | 1 → 1.5 | 0 of 1 | linear_ratio 1.9 |" in results
    assert "Hand-written." in results


def test_a_changed_number_fails_the_check_and_names_the_block(repo, capsys):
    path = repo / "RESULTS.md"
    path.write_text(path.read_text().replace("| `linear_ratio` | 1.471 |", "| `linear_ratio` | 1.2 |"))
    capsys.readouterr()
    assert report.main(["--check", "--root", str(repo)]) == 1
    err = capsys.readouterr().err
    assert "RESULTS.md: block 'benchmark:bench_crossbar' differs" in err
    assert "-| `linear_ratio` | 1.2 |" in err and "+| `linear_ratio` | 1.471 |" in err
    assert "README.md" not in err  # the other document still matches


def test_a_rerun_benchmark_fails_the_check_until_rendered(repo, capsys):
    rec = json.loads((repo / "results" / "sfq_xor" / "latest.json").read_text())
    rec["figures"]["task_acc"] = 0.9
    (repo / "results" / "sfq_xor" / "latest.json").write_text(json.dumps(rec))
    capsys.readouterr()
    assert report.main(["--check", "--root", str(repo)]) == 1
    assert "README.md: block 'figures' differs" in capsys.readouterr().err
    assert report.main(["--root", str(repo)]) == 0
    assert report.main(["--check", "--root", str(repo)]) == 0
    assert "| `iris_acc_minus_float` | -0.1 | ≥ -0.05 (#14) | **no** |" in (repo / "README.md").read_text()


@pytest.mark.parametrize(
    "text, message",
    [
        ("<!-- report:begin figures -->\n", "is never closed"),
        ("<!-- report:end figures -->\n", "without its report:begin"),
        ("<!-- report:begin nonsense -->\n<!-- report:end nonsense -->\n", "unknown block 'nonsense'"),
        ("<!-- report:begin figures -->\n<!-- report:begin summary -->\n", "inside block 'figures'"),
    ],
)
def test_malformed_markers_are_named(repo, capsys, text, message):
    (repo / "README.md").write_text("a\n" + text)
    capsys.readouterr()
    assert report.main(["--check", "--root", str(repo)]) == 2
    err = capsys.readouterr().err
    assert "README.md:" in err and message in err


def test_fmt_is_stable():
    assert report.fmt(24.0) == "24" and report.fmt(0.99702) == "0.997" and report.fmt(3.99e-13) == "3.99e-13"
    assert report.fmt(True) == "true" and report.fmt(None) == "null" and report.fmt("a|b") == "a\\|b"
    assert report.fmt(list(range(100))).endswith("…]")


def test_headline_patterns_take_nested_and_matching_figures():
    flat = report.flatten(
        {
            "gain_over_digital_equivalent": {"pat": 0.03, "spsa": -0.01},
            "validation_split": 0.1,
            "digits_acc": {"digital_equivalent_baseline": 0.9},
            "other": 1,
        }
    )
    assert report.headline_of("train_physical", flat) == [
        "validation_split",
        "digits_acc.digital_equivalent_baseline",
        "gain_over_digital_equivalent.pat",
        "gain_over_digital_equivalent.spsa",
    ]
