"""JoSIM v2.7 / WRspice-style netlist parser: values, ``.param`` expressions, subcircuits, sources.

The language (JoSIM v2.7 syntax guide, https://joeydelp.github.io/JoSIM/syntax/):

* elements ``B`` (Josephson junction, ``area=`` / ``ic=``, per-element ``temp=``, ``neb=``,
  ``spread=``), ``L``, ``R``, ``C``, ``K`` (mutual coupling ``K1 L1 L2 k``), ``I`` and ``V``
  sources, ``P`` phase sources, ``T`` lossless transmission lines (``T1 n1+ n1- n2+ n2- Z0=.. TD=..``,
  ``LOSSLESS`` accepted), ``X`` instances (JoSIM order ``X1 SUB n1 n2`` and SPICE order
  ``X1 n1 n2 SUB``);
* source functions ``pwl``, ``pulse``, ``sin``, ``exp``, ``cus`` (waveform file), ``noise``,
  ``dc v`` or a bare value;
* controls ``.subckt``/``.ends``, ``.model name jj(...)`` (every JoSIM JJ parameter),
  ``.param``, ``.include`` (relative to the including file, then the circuit library folders;
  cycles are errors), ``.tran TSTEP TSTOP [PRSTART [PRSTEP]] [DST]``, ``.print``/``.plot``/
  ``.save`` in JoSIM's and SPICE's forms with hierarchical names (``B1|X1``, ``B1.X1``,
  ``X1.B1``), ``.temp``, ``.neb``, ``.spread``, ``.iv``, ``.option``/``.options``,
  ``.control``/``.endc`` blocks, ``.end``;
* comments (lines starting with ``*``, ``#``, ``;`` or ``//``), ``+`` continuation lines,
  case-insensitive text.

Numbers take JoSIM's scale suffixes: ``f`` 1e-15 (so ``1F`` is 1 fF, as JoSIM reads it), ``p``,
``n``, ``u``, ``m`` (milli), ``k``, ``meg``/``x``, ``g``, ``t``, ``mil``; trailing unit letters
(``V``, ``A``, ``H``, ``F``, ``OHM``, ``S``, ``HZ``) are ignored, as in JoSIM.

Scoping and element forms, as JoSIM v2.7 reads them (measured with josim-cli v2.7, git 02a34ee;
the netlists of ``tests/josephson/test_josim_scoping.py`` reproduce each rule, JoSIM's switching
times on them are test data). JoSIM's documentation does not state these rules:

* ``.param`` at the top level is global; a ``.param`` inside a ``.subckt`` belongs to that
  subcircuit only (JoSIM keys parameters by name and subcircuit): its elements see it, other
  cells and the top level do not, and a later cell redefining the name changes nothing here.
  Inside a subcircuit a value that is one bare name resolves in the subcircuit, then at the top
  level; a longer expression resolves only the subcircuit's names in JoSIM (an error there):
  physnn resolves a top-level name too and warns. A nested instance does not see the enclosing
  instance's parameters (each subcircuit definition is its own scope).
* A parameter may use parameters defined later in the file. A second definition of a name in the
  same scope keeps the FIRST value (JoSIM prints "Replacing" and keeps the first); physnn warns.
  A parameter that nothing uses is evaluated only at the end and, if it cannot be, only warns.
* One ``name=expression`` per ``.param`` line; the blanks of the expression are dropped
  (``.param x = (a + b) * 2``). Several definitions on one line, blank- or comma-separated, are a
  physnn extension (JoSIM reads one): physnn defines each and warns.
* ``.model`` is global wherever it stands in the file (also after the subcircuits that use it); a
  ``.model`` inside a ``.subckt`` is seen there first. All names are case-insensitive.
* Labels: a device inside instances is ``B1|X2|X1`` (innermost instance first); a node likewise
  (``1|X2|X1``). Dots in instance names stay (``XAND2.31`` -> ``B1|XAND2.31``, node
  ``1|XB.C|X2``): JoSIM itself cannot ``.print`` such a device (it reads ``.`` in a ``.print`` name
  as ``|``); physnn finds the label as written.
* ``.print nodev 3 0`` is the column ``V(3,0)`` (the nodes as written), ``.print nodev 3`` and
  ``v(3)`` are ``V(3)``; ``.plot`` lines print like ``.print``. An unknown ``.print`` device or node
  warns and is skipped.
* A junction line may give a third node (WRspice ``B0 3 4 15 jjmit area=2.25``): the last bare
  token is the model. ``FCHECK`` / ``NFREE`` after a value are accepted and ignored; a token
  starting with ``*`` after the nodes starts an inline comment (``RS2 7 8 1.73ohm *SHUNT=3.73``).
  ``.model`` may continue on ``+`` lines.
* A zero-valued inductor is a short (its two nodes carry one phase; physnn merges them and the
  inductor is not an element of the circuit). A dangling node (a stub resistor, an unused bias
  node) simulates; only a node that nothing but a current source touches is an error.
* ``.tran TSTEP TSTOP [PRSTART [PRSTEP]] [DST]`` (JoSIM src/Transient.cpp): the run steps at
  ``min(TSTEP, PRSTEP)`` and prints from PRSTART the first sample at or after each multiple of
  PRSTEP, also after a step halving (:func:`physnn.josephson.simulate.print_indices`). ``UIC`` is
  a JoSIM error; physnn ignores it and warns.

Every error is a :class:`NetlistError` naming the line number (and the file, for included lines)
and the offending token. Where JoSIM warns and goes on (a ``.print`` of a missing device, an
unknown control or option ...), a :class:`NetlistWarning` names the line; ``strict=True`` turns
it into a NetlistError.

The package (standard library only: ``import physnn.josephson.netlist`` loads no numerics):

=============  =================================================================================
values         the one SPICE / JoSIM suffix table (also the CLI's), :func:`parse_value`
expressions    ``.param`` expressions and scopes (:class:`ParamScope`, :func:`evaluate`)
lines          logical lines, ``.include``, tokens, hierarchical names
elements       :class:`JJModel`, :class:`Source`, :class:`Element`, :class:`Netlist`; ``.model``
               and source readers
flatten        :class:`Flattener`: subcircuit instances -> flat elements with JoSIM's labels
controls       ``.tran``, ``.print`` and the other control lines
parser         :func:`parse_netlist`
errors         :class:`NetlistError`, :class:`NetlistWarning`
=============  =================================================================================
"""

from __future__ import annotations

from .elements import Element, JJModel, Netlist, PrintRequest, Source
from .errors import NetlistError, NetlistWarning
from .expressions import ParamScope, evaluate
from .flatten import Flattener, check_dangling
from .lines import canonical_device, canonical_node
from .parser import gc_paused, parse_netlist
from .values import SCALE_SUFFIXES, parse_value, scale_factor

__all__ = [
    "NetlistError",
    "NetlistWarning",
    "JJModel",
    "Source",
    "Element",
    "PrintRequest",
    "Netlist",
    "parse_value",
    "parse_netlist",
    "evaluate",
    "ParamScope",
    "Flattener",
    "check_dangling",
    "gc_paused",
    "canonical_device",
    "canonical_node",
    "SCALE_SUFFIXES",
    "scale_factor",
]
