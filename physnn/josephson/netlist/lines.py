"""Lines and tokens of a netlist: comments, ``+`` continuations, ``.include`` and ``.control``
blocks (:func:`split_lines`), the tokenizer (:func:`tokenize`), an element line's flags and
inline comments (:func:`element_tokens`) and hierarchical names in every accepted spelling
(:func:`canonical_device`, :func:`canonical_node`). Standard library only."""

from __future__ import annotations

import re
from pathlib import Path

from .errors import LineNo, NetlistError, warn

__all__ = [
    "split_lines",
    "tokenize",
    "element_tokens",
    "canonical_device",
    "canonical_node",
    "is_ground",
    "key_value",
    "resolve_include",
    "line_dir",
    "CONTROL_COMMANDS",
    "ELEMENT_FLAGS",
]

#: dot-commands a ``.control`` block may hold
CONTROL_COMMANDS = frozenset(
    {"TRAN", "PRINT", "PLOT", "SAVE", "TEMP", "NEB", "SPREAD", "OPTION", "OPTIONS", "PARAM", "IV", "MODEL", "INCLUDE"}
)


def resolve_include(name: str, base_dir: Path | None, line, src: str | None) -> Path:
    """``.include`` target: relative to the including file (or the working folder for text),
    then in the circuit library folders (``$PHYSNN_CIRCUIT_PATH``, then the packaged cells)."""
    from ..._resources import search_path

    cands = [Path(name)] if Path(name).is_absolute() else []
    if not cands:
        cands.append((base_dir or Path.cwd()) / name)
        cands += [folder / name for folder in search_path("circuits")]
        cands += [folder / Path(name).name for folder in search_path("circuits")]
    for c in cands:
        if c.is_file():
            return c.resolve()
    raise NetlistError(
        f".include file not found (looked in {', '.join(str(c.parent) for c in cands[:3])})",
        line=line,
        token=name,
        source=None if getattr(line, "src", None) else src,
    )


def split_lines(
    text: str,
    *,
    src: str | None = None,
    base_dir: Path | None = None,
    stack: tuple[str, ...] = (),
    strict: bool = False,
    includes: list | None = None,
) -> list[tuple[str, int]]:
    """Logical lines ``(text, line)``: comments dropped, ``+`` continuations joined, ``.include``
    files expanded in place (their lines carry their own file name), ``.control`` blocks turned
    into the equivalent dot-commands."""
    out: list[tuple[str, int]] = []
    in_control = False
    for i, raw in enumerate(text.splitlines(), start=1):
        ln = LineNo(i, src)
        s = raw.strip()
        if not s or s[0] in "*#;" or s.startswith("//"):
            continue
        if s[0] == "+":
            if not out:
                raise NetlistError("continuation line without a preceding line", line=ln, token="+")
            prev, pl = out[-1]
            out[-1] = (prev + " " + s[1:].strip(), pl)
            continue
        head = s.split()[0].upper()
        if head == ".CONTROL":
            in_control = True
            continue
        if head == ".ENDC":
            if not in_control:
                warn(".endc without .control", line=ln, token=s.split()[0], strict=strict, src=src)
            in_control = False
            continue
        if in_control:
            cmd = head.lstrip(".")
            if cmd in CONTROL_COMMANDS:
                s = "." + s.lstrip(".")
            elif cmd in ("RUN", "QUIT", "EXIT"):
                continue
            else:
                warn(
                    f"command {cmd.lower()} in a .control block ignored",
                    line=ln,
                    token=s.split()[0],
                    strict=strict,
                    src=src,
                )
                continue
            head = "." + cmd
        if head in (".INCLUDE", ".INC"):
            parts = s.split(None, 1)
            if len(parts) < 2:
                raise NetlistError(".include needs a file name", line=ln, token=parts[0])
            name = parts[1].strip().strip("'\"")
            path = resolve_include(name, base_dir, ln, src)
            key = str(path)
            if key in stack:
                raise NetlistError(f".include cycle: {' -> '.join([*stack, key])}", line=ln, token=name)
            if includes is not None:
                includes.append(key)
            out += split_lines(
                path.read_text(), src=key, base_dir=path.parent, stack=(*stack, key), strict=strict, includes=includes
            )
            continue
        out.append((s, ln))
    if in_control:
        warn(
            ".control block without .endc",
            line=LineNo(len(text.splitlines()), src),
            token=".control",
            strict=strict,
            src=src,
        )
    return out


_EQ_RE = re.compile(r"\s*=\s*")
_SPLIT_RE = re.compile(r"[\s,]+")


def tokenize(s: str, line: int) -> list[str]:
    """Split on blanks and commas outside parentheses; ``f(a b)`` stays one token."""
    s = s.upper()
    s = _EQ_RE.sub("=", s)
    if "(" not in s and ")" not in s:  # most element lines: no function, a plain split
        return [t for t in _SPLIT_RE.split(s) if t]
    s = re.sub(r"\s*\(\s*", "(", s)
    toks: list[str] = []
    cur = ""
    depth = 0
    for ch in s:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                raise NetlistError("unbalanced ')'", line=line, token=s)
        if depth == 0 and (ch.isspace() or ch == ","):
            if cur:
                toks.append(cur)
            cur = ""
        elif depth > 0 and ch == ",":
            cur += " "
        else:
            cur += ch
    if depth != 0:
        raise NetlistError("unbalanced '('", line=line, token=s)
    if cur:
        toks.append(cur)
    # a function name followed by a separate "(..." token: glue them ("PWL (0 0)" -> "PWL(0 0)")
    return toks


_DEVICE_LETTERS = "BLRCIVPKT"


def canonical_device(name: str) -> str:
    """Hierarchical device names in every accepted form -> JoSIM's label ``B01|X03|X10``.

    ``B01|X03`` (JoSIM: device, then instances inner to outer), ``B01.X03`` (WRspice: the same
    order with dots), ``X03.B01`` / ``X03_B01`` (SPICE3: instances outer to inner, then device).
    """
    n = name.strip().upper()
    if "|" in n:
        return n
    for sep in (".", "_"):
        if sep in n:
            parts = n.split(sep)
            if all(p and p[0] == "X" for p in parts[:-1]) and parts[-1] and parts[-1][0] in _DEVICE_LETTERS:
                return "|".join([parts[-1], *reversed(parts[:-1])])
            if sep == "." and parts[0] and parts[0][0] in _DEVICE_LETTERS and all(p and p[0] == "X" for p in parts[1:]):
                return "|".join(parts)
    return n


def canonical_node(name: str) -> str:
    """Hierarchical node names: ``5|X1`` (JoSIM), ``5.X1`` (WRspice) or ``X1.5`` (SPICE3) -> ``5|X1``."""
    n = name.strip().upper()
    if is_ground(n):
        return "0"
    if "|" in n or "." not in n:
        return n
    parts = n.split(".")
    if all(p and p[0] == "X" for p in parts[:-1]) and parts[-1]:
        return "|".join([parts[-1], *reversed(parts[:-1])])
    if parts[0] and all(p and p[0] == "X" for p in parts[1:]):
        return "|".join(parts)
    return n


def is_ground(node: str) -> bool:
    return node in ("0", "GND")


#: WRspice/JoSIM element flags after the value (no effect on the circuit)
ELEMENT_FLAGS = ("FCHECK", "NFREE")


def element_tokens(tok: list[str]) -> list[str]:
    """An element line's tokens without an inline comment (a token starting with ``*`` after
    the nodes and everything after it: ``RS2 7 8 1.73ohm *SHUNT=3.73``) and without the
    ``FCHECK``/``NFREE`` flags (JoSIM v2.7 accepts both, measured with josim-cli v2.7)."""
    for i in range(1, len(tok)):
        if tok[i].startswith("*"):
            tok = tok[:i]
            break
    if any(t in ELEMENT_FLAGS for t in tok[3:]):
        tok = tok[:3] + [t for t in tok[3:] if t not in ELEMENT_FLAGS]
    return tok


def key_value(tok: str) -> tuple[str, str] | None:
    if "=" in tok:
        k, v = tok.split("=", 1)
        return k, v
    return None


def line_dir(ln, base_dir: Path | None) -> Path | None:
    src = getattr(ln, "src", None)
    return Path(src).parent if src else base_dir
