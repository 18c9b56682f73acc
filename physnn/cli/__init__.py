"""The ``physnn`` command.

Built on click (already a dependency): subcommands, ``--help`` on every level, ``--version``,
typed options and uniform error messages come from it instead of hand-written argparse
dispatch. Every subcommand module is imported here statically, but they import only click and
the standard library at module level; torch, xarray and the physics are imported inside the
command bodies, after the arguments were checked, so a bad command line fails in well under a
second.

``physnn demo``      nonideality sweep of a small crossbar network on embedded defaults
``physnn sweep``     run (or resume) a sweep from a TOML spec, in-process, on processes or dask
``physnn simulate``  simulate a JoSIM-style netlist (netCDF + PNG)
``physnn cards``     list and validate device cards
``physnn kws``       build the offline espeak-ng keyword-spotting dataset
"""

from __future__ import annotations

import click

from .. import __version__
from .cards import cards
from .demo import demo
from .kws import kws
from .simulate import simulate
from .sweep import sweep

__all__ = ["main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "-V", "--version", prog_name="physnn")
def main() -> None:
    """physnn: analog in-memory and physical-substrate neural networks as PyTorch layers.

    Run `physnn COMMAND --help` for the options of a command.
    """


for _cmd in (demo, sweep, simulate, cards, kws):
    main.add_command(_cmd)
