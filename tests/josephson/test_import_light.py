"""Reading a netlist imports no numerics: the package's names are imported on first use."""

import subprocess
import sys

import pytest

HEAVY = ("torch", "scipy", "xarray", "numba")


def _loaded(code: str) -> list[str]:
    out = subprocess.run(
        [sys.executable, "-c", code + f"\nimport sys\nprint(' '.join(m for m in {HEAVY!r} if m in sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.split()


@pytest.mark.parametrize(
    "code",
    [
        "import physnn.josephson.netlist",
        "from physnn.josephson import parse_netlist, NetlistError\n"
        "net = parse_netlist('* t\\n.param r=2\\nR1 1 0 r\\nI1 0 1 pwl(0 0 10p 1u)\\n.tran 0.25p 20p\\n')\n"
        "assert net.element('R1').value == 2.0",
        "from physnn.cli._types import parse_si\nassert parse_si('0.25ps') == 0.25e-12",
    ],
)
def test_parser_imports_no_torch(code):
    assert _loaded(code) == []


def test_names_and_submodules_still_resolve():
    import physnn.josephson as pj

    assert pj.simulate.__module__ == "physnn.josephson.simulate"
    assert pj.transient.run_transient is pj.run_transient  # submodules as attributes, as before
    assert set(pj.__all__) <= set(dir(pj))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        pj.nope


def test_submodule_import_keeps_the_function_name():
    # importing the submodule physnn.josephson.simulate first must not shadow the function
    code = (
        "import physnn.josephson.transient, physnn.josephson.simulate\n"
        "from physnn.josephson import simulate\n"
        "from physnn.josephson.simulate import print_indices\n"
        "assert callable(simulate) and simulate.__name__ == 'simulate', simulate\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
