"""The ``physnn`` command. Each subcommand lives next to the code it drives and owns its arguments.

``physnn demo``      crossbar nonideality demo on embedded defaults (the README's main job)
``physnn simulate``  simulate a JoSIM-style netlist, write netCDF + plot
``physnn kws``       build (and cache) the espeak-ng keyword-spotting dataset
"""

from __future__ import annotations

import argparse
import importlib
import sys

#: subcommand -> (module exposing ``cli_main(argv) -> int``, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("physnn.crossbar.demo", "crossbar nonideality demo on embedded defaults"),
    "simulate": ("physnn.josephson.cli", "simulate a JoSIM-style netlist (netCDF + PNG)"),
    "kws": ("physnn.data.kws", "build the offline espeak-ng keyword-spotting dataset"),
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="physnn", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=sorted(COMMANDS), help="; ".join(f"{k}: {v[1]}" for k, v in COMMANDS.items()))
    if not argv or argv[0] in ("-h", "--help"):
        parser.print_help()
        return 0
    ns = parser.parse_args(argv[:1])
    module = importlib.import_module(COMMANDS[ns.command][0])
    return int(module.cli_main(argv[1:]) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
