"""``.param`` expressions and their scopes: :func:`evaluate` (numbers with suffixes, names,
``+ - * / ^``, functions) and :class:`ParamScope` (the lazily evaluated table of one scope, as
JoSIM v2.7 keys parameters by name and subcircuit). Standard library only."""

from __future__ import annotations

import ast
import math
import operator
import re
from types import MappingProxyType

from .errors import NetlistError, warn
from .values import parse_value

__all__ = ["ParamScope", "evaluate", "define_params", "CONSTANTS", "FUNCTIONS"]

_BIN = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Pow: operator.pow,
}
#: functions of an expression
FUNCTIONS = MappingProxyType(
    {
        "SQRT": math.sqrt,
        "EXP": math.exp,
        "LOG": math.log,
        "LN": math.log,
        "LOG10": math.log10,
        "SIN": math.sin,
        "COS": math.cos,
        "TAN": math.tan,
        "ABS": abs,
        "ATAN": math.atan,
        "ASIN": math.asin,
        "ACOS": math.acos,
        "SINH": math.sinh,
        "COSH": math.cosh,
        "TANH": math.tanh,
    }
)
#: named constants of an expression
CONSTANTS = MappingProxyType({"PI": math.pi, "PHI_ZERO": 2.067833848e-15, "E": math.e})
_TOK_RE = re.compile(
    r"\s*(?:(?P<num>(?:\d+\.?\d*|\.\d+)(?:E[+-]?\d+)?[A-Z]*)|(?P<id>[A-Z_][A-Z0-9_.|]*)|(?P<op>\*\*|[-+*/^(),]))"
)


class ParamScope:
    """Lazily evaluated ``.param`` table of one scope, with cycle detection.

    The top level is one scope; each ``.subckt`` is a scope of its own whose ``parent`` is the
    top level (JoSIM v2.7 keys every parameter by (name, subcircuit), measured with josim-cli
    v2.7): a bare name resolves in the scope, then at the top level; a name inside a longer
    expression in a subcircuit resolves in the subcircuit only in JoSIM -- physnn also finds
    a top-level one there and warns (``NetlistWarning``). A duplicate definition in one scope
    keeps the first (JoSIM prints "Replacing" yet keeps the first value) and warns."""

    def __init__(
        self,
        parent: "ParamScope | None" = None,
        *,
        name: str | None = None,
        strict: bool = False,
        src: str | None = None,
    ) -> None:
        self.raw: dict[str, tuple[str, int]] = {}
        self.values: dict[str, float] = {}
        self._busy: set[str] = set()
        self.parent = parent
        self.name = name
        self.strict = strict
        self.src = src
        self._warned: set[str] = set()

    def define(self, name: str, expr: str, line: int) -> None:
        if name in self.raw:
            warn(
                f"duplicate .param {name}: JoSIM v2.7 keeps the first definition (line {int(self.raw[name][1])})",
                line=line,
                token=name,
                strict=self.strict,
                src=self.src,
            )
            return
        self.raw[name] = (expr, line)
        self.values.pop(name, None)

    def override(self, name: str, value: float) -> None:
        """``parse_netlist(params=...)``: replaces the definition (top level)."""
        self.raw[name] = (repr(float(value)), 0)
        self.values[name] = float(value)

    def has(self, name: str) -> bool:
        if name in self.raw or name in self.values:
            return True
        return self.parent is not None and self.parent.has(name)

    def get(self, name: str, line: int | None, *, bare: bool = True) -> float:
        if name not in self.raw and name not in self.values and self.parent is not None:
            if not bare and self.parent.has(name) and name not in self._warned:
                self._warned.add(name)
                warn(
                    f"top-level parameter {name} used in an expression inside .subckt {self.name}: JoSIM "
                    "v2.7 resolves only a bare name there (the expression is an error in JoSIM)",
                    line=line,
                    token=name,
                    strict=self.strict,
                    src=self.src,
                )
            return self.parent.get(name, line)
        if name in self.values:
            return self.values[name]
        if name not in self.raw:
            raise NetlistError("undefined parameter", line=line, token=name)
        if name in self._busy:
            raise NetlistError("circular parameter definition", line=self.raw[name][1], token=name)
        self._busy.add(name)
        try:
            expr, pline = self.raw[name]
            v = evaluate(expr, self, line=pline)
        finally:
            self._busy.discard(name)
        self.values[name] = v
        return v


def evaluate(expr: str, params: ParamScope | None, *, line: int | None = None) -> float:
    """Evaluate a ``.param`` expression: numbers with suffixes, names, + - * / ^, functions."""
    text = expr.strip().upper()
    if len(text) >= 2 and text[0] in "{'\"" and text[-1] in "}'\"":
        text = text[1:-1]
    try:
        return parse_value(text, line=line)
    except NetlistError:
        pass
    pieces: list[str] = []
    names: dict[str, str] = {}
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOK_RE.match(text, pos)
        if m is None or m.end() == pos:
            raise NetlistError("cannot parse expression", line=line, token=expr)
        pos = m.end()
        if m.group("num"):
            pieces.append(repr(parse_value(m.group("num"), line=line)))
        elif m.group("id"):
            ident = m.group("id")
            key = f"_v{len(names)}"
            names[key] = ident
            pieces.append(key)
        else:
            op = m.group("op")
            pieces.append("**" if op == "^" else op)
    bare = len(names) == 1 and len(pieces) == 1  # the whole value is one name
    src = " ".join(pieces)
    try:
        tree = ast.parse(src, mode="eval")
    except SyntaxError:
        raise NetlistError("cannot parse expression", line=line, token=expr) from None

    def ev(node: ast.AST) -> float:
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            return float(node.value)
        if isinstance(node, ast.BinOp) and type(node.op) in _BIN:
            return _BIN[type(node.op)](ev(node.left), ev(node.right))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            v = ev(node.operand)
            return -v if isinstance(node.op, ast.USub) else v
        if isinstance(node, ast.Name):
            ident = names[node.id]
            if params is not None and params.has(ident):
                return params.get(ident, line, bare=bare)
            if ident in CONSTANTS:
                return CONSTANTS[ident]
            raise NetlistError("undefined parameter", line=line, token=ident)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords:
            fname = names[node.func.id]
            if fname not in FUNCTIONS:
                raise NetlistError("unknown function", line=line, token=fname)
            return float(FUNCTIONS[fname](*[ev(a) for a in node.args]))
        raise NetlistError("unsupported expression", line=line, token=expr)

    try:
        return float(ev(tree))
    except (ZeroDivisionError, ValueError, OverflowError) as exc:
        if isinstance(exc, NetlistError):
            raise
        raise NetlistError(f"expression cannot be evaluated ({exc})", line=line, token=expr) from None


_PARAM_NAME_RE = re.compile(r"^[A-Z_][A-Z0-9_.]*$")


def define_params(tok: list[str], ln, scope: ParamScope, strict: bool, src: str | None) -> None:
    """One ``.param name=expression`` line (JoSIM v2.7: the blanks of the expression are dropped,
    so ``.param x = (a + b) * 2`` is one expression). Several ``name=value`` on one line (blank-
    or comma-separated) are a physnn extension: JoSIM v2.7 reads only one; physnn defines each
    and warns."""
    body = " ".join(tok[1:])
    if "=" not in body:
        raise NetlistError(".param needs name=value", line=ln, token=body or tok[0])
    if body.count("=") == 1:
        name, expr = (x.strip() for x in body.split("="))
        if not _PARAM_NAME_RE.match(name) or not expr:
            raise NetlistError(".param needs name=value", line=ln, token=body)
        scope.define(name, expr.replace(" ", ""), ln)
        return
    warn(
        "several name=value on one .param line: JoSIM v2.7 reads one definition per line",
        line=ln,
        token=body,
        strict=strict,
        src=src,
    )
    for m in re.finditer(r"([A-Z_][A-Z0-9_]*)=(\S+)", body):
        scope.define(m.group(1), m.group(2), ln)
