"""``parse_netlist``: a netlist's text (or file) -> a flattened :class:`~.elements.Netlist`.

One pass sorts the logical lines (:func:`~.lines.split_lines`) into the top-level body,
subcircuits (each with its own ``.param`` scope and models) and control lines; then the models
are read (they may use any ``.param``), the body is flattened (:class:`~.flatten.Flattener`), the
controls are applied (:func:`~.controls.apply_controls`), and the remaining ``.param`` values are
evaluated (an unused one that cannot be only warns, as in JoSIM). Standard library only."""

from __future__ import annotations

import contextlib
import gc
from pathlib import Path

from .controls import apply_controls
from .elements import JJModel, Netlist, parse_model
from .errors import NetlistError, warn
from .expressions import ParamScope, define_params
from .flatten import Flattener, Line, Subckt, check_subckt_cycles
from .lines import element_tokens, split_lines, tokenize

__all__ = ["parse_netlist", "gc_paused"]


@contextlib.contextmanager
def gc_paused():
    """Pause Python's cyclic garbage collector while a large structure of small objects is built.

    Parsing or compiling a 3,000-junction netlist makes ~10^5 tokens, tuples and elements and
    drops none of them, yet every 700 allocations would trigger a collection that also walks the
    rest of the process's heap (timings: RESULTS.md, "Josephson transient: performance notes").
    Nothing here makes reference cycles that would need the collector; it is resumed afterwards
    if it was running."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def parse_netlist(netlist: str | Path, *, params: dict[str, float] | None = None, strict: bool = False) -> Netlist:
    """Parse a netlist (path or text) into a flattened :class:`Netlist`.

    Parameters
    ----------
    netlist : str or Path
        File path, or the netlist text itself (anything containing a newline is text).
    params : dict, optional
        ``.param`` overrides (name -> SI value) of top-level parameters, applied after the file's
        own definitions (a subcircuit's own ``.param`` of the same name still rules inside it).
    strict : bool
        Turn every :class:`NetlistWarning` (input JoSIM accepts with a warning) into a
        :class:`NetlistError`.
    """
    if isinstance(netlist, Path) or ("\n" not in str(netlist) and Path(str(netlist)).is_file()):
        path = Path(netlist)
        try:
            text = path.read_text()
        except (FileNotFoundError, IsADirectoryError):
            raise NetlistError(f"netlist file not found: {path}", token=str(path)) from None
        src_name = str(path)
        base_dir = path.resolve().parent
        stack: tuple[str, ...] = (str(path.resolve()),)
    else:
        text = str(netlist)
        src_name = "<netlist>"
        base_dir = None
        stack = ()
        if "\n" not in text and text.strip().lower().endswith((".cir", ".js", ".sp")):
            raise NetlistError(f"netlist file not found: {text}", token=text)
    try:
        with gc_paused():
            return _parse(text, src_name, params or {}, strict=strict, base_dir=base_dir, stack=stack)
    except NetlistError as exc:
        if exc.source is None and src_name != "<netlist>":
            new = NetlistError(exc.message, line=exc.line, token=exc.token, source=src_name)
            raise new from None
        raise
    except RecursionError:
        raise NetlistError("netlist nests too deeply", token=src_name) from None


def _parse(
    text: str,
    src_name: str,
    overrides: dict[str, float],
    *,
    strict: bool = False,
    base_dir: Path | None = None,
    stack: tuple[str, ...] = (),
) -> Netlist:
    includes: list[str] = []
    src = None if src_name == "<netlist>" else src_name
    lines = [
        (tokenize(s, ln), ln, s)
        for s, ln in split_lines(text, src=src, base_dir=base_dir, stack=stack, strict=strict, includes=includes)
    ]
    params = ParamScope(strict=strict, src=src)
    subckts: dict[str, Subckt] = {}
    models: dict[str, JJModel] = {}
    top: list[Line] = []
    controls: list[Line] = []
    cur: Subckt | None = None
    for tok, ln, s in lines:
        if not tok:
            continue
        head = tok[0]
        if head == ".END":
            break
        if head == ".SUBCKT":
            if cur is not None:
                raise NetlistError("nested .subckt definitions are not allowed", line=ln, token=head)
            if len(tok) < 2:
                raise NetlistError(".subckt needs a name", line=ln, token=head)
            ports = [t for t in tok[2:] if "=" not in t]
            cur = Subckt(
                name=tok[1],
                ports=ports,
                body=[],
                line=ln,
                params=ParamScope(params, name=tok[1], strict=strict, src=src),
            )
            if tok[1] in subckts:
                raise NetlistError("duplicate subcircuit", line=ln, token=tok[1])
            subckts[tok[1]] = cur
            continue
        if head == ".ENDS":
            if cur is None:
                raise NetlistError(".ends without .subckt", line=ln, token=head)
            if len(tok) > 1 and tok[1] != cur.name:
                raise NetlistError(f".ends name does not match .subckt {cur.name}", line=ln, token=tok[1])
            cur = None
            continue
        if head == ".PARAM":
            define_params(tok, ln, cur.params if cur is not None else params, strict, src)
            continue
        if head == ".MODEL":
            (cur.models if cur is not None else models)[tok[1] if len(tok) > 1 else ""] = (tok, ln)  # type: ignore[assignment]
            continue
        if head.startswith("."):
            if cur is not None:
                raise NetlistError("control line inside .subckt", line=ln, token=head)
            controls.append(Line(tok, ln, s))
            continue
        tok = element_tokens(tok)
        (cur.body if cur is not None else top).append(Line(tok, ln, s))
    if cur is not None:
        raise NetlistError(f".subckt {cur.name} has no .ends", line=cur.line, token=cur.name)
    for k, v in overrides.items():
        params.override(k.upper(), v)

    # models are parsed after params so that they may use them
    gmodels = {k: parse_model(t, ln, params, strict) for k, (t, ln) in models.items()}  # type: ignore[misc]
    for sc in subckts.values():
        sc.models = {k: parse_model(t, ln, sc.params, strict) for k, (t, ln) in sc.models.items()}  # type: ignore[misc]
    check_subckt_cycles(subckts)

    net = Netlist(
        source_name=src_name,
        includes=includes,
        models=gmodels,
        subcircuits={k: tuple(v.ports) for k, v in subckts.items()},
    )
    elements, alias = Flattener(subckts, params, gmodels, strict=strict, src=src, base_dir=base_dir).flatten(top)
    net.elements = elements
    apply_controls(net, controls, params, gmodels, alias, strict=strict, src=src)
    net.params = {}
    for k in params.raw:
        try:
            net.params[k] = params.get(k, None)
        except NetlistError as exc:  # never used by an element: JoSIM-compatible to go on
            warn(
                f"unused .param {k} cannot be evaluated ({exc.message}); ignored",
                line=params.raw[k][1],
                token=k,
                strict=strict,
                src=src,
            )
    return net
