"""XTK expressions of `queryDef` conditions and select nodes, parsed into a small AST.

No maintained Python parser knows Campaign's expression language, so this is a hand-written
recursive-descent parser for the subset the sandbox evaluates (Adobe's data API and JS SDK
documentation show these forms):

- XPaths: `@email`, `[location/@city]`, `[recipient/@email]`, `recipient/@email`, `[recipient-id]`
  (a link's foreign key), `@url-id`;
- literals: `'text'` (backslash escapes, as the SDK's `escapeXtk` writes them), numbers, dates and
  timestamps between `#` (`#2024-01-01#`, `#2002/02/01#`, `#2021-07-07T10:03:33.332Z#`);
- `=`, `<>`, `!=`, `<`, `<=`, `>`, `>=`, `IS [NOT] NULL`, `[NOT] IN (…)`, `[NOT] LIKE`,
  `AND`, `OR`, `NOT` and parentheses (keywords in any case).

Anything else raises `ExprError`; callers answer Campaign's `XTK-170036 Unable to parse
expression '…'`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from crm_sandbox.campaign.dates import parse_date, parse_datetime


class ExprError(ValueError):
    """The expression is outside the supported grammar."""


@dataclass(frozen=True)
class Path:
    """An XPath: link steps, then an attribute (`None`: the last step is a link's foreign key)."""

    steps: tuple[str, ...]
    attr: str | None

    def __str__(self) -> str:
        """Return the XPath as written in brackets."""
        parts = [*self.steps]
        if self.attr is not None:
            parts.append(f"@{self.attr}")
        return "/".join(parts)


@dataclass(frozen=True)
class Literal:
    """A constant; `kind` is "string", "number", "date" or "datetime"."""

    value: str | int | float
    kind: str


@dataclass(frozen=True)
class Compare:
    """`left <op> right` with op one of = <> < <= > >= LIKE, NOT LIKE."""

    op: str
    left: Node
    right: Node


@dataclass(frozen=True)
class IsNull:
    """`expr IS [NOT] NULL`."""

    operand: Node
    negated: bool


@dataclass(frozen=True)
class In:
    """`expr [NOT] IN (values)`."""

    operand: Node
    values: tuple[Node, ...]
    negated: bool


@dataclass(frozen=True)
class Bool:
    """`AND` / `OR` of several operands."""

    op: str
    operands: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    """`NOT operand`."""

    operand: Node


Node = Path | Literal | Compare | IsNull | In | Bool | Not

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<string>'(?:[^'\\]|\\.)*')
    | (?P<date>\#[^#]*\#)
    | (?P<number>-?\d+(?:\.\d+)?)
    | (?P<bracket>\[[^\]]*\])
    | (?P<attr>@[A-Za-z_][\w-]*)
    | (?P<path>[A-Za-z_][\w-]*(?:/[A-Za-z_][\w-]*)*/@[A-Za-z_][\w-]*)
    | (?P<word>[A-Za-z_]\w*)
    | (?P<op><>|!=|<=|>=|=|<|>|\(|\)|,)
    )""",
    re.VERBOSE,
)
_STEP = re.compile(r"^[A-Za-z_][\w-]*$")
_KEYWORDS = {"AND", "OR", "NOT", "IS", "NULL", "IN", "LIKE"}


def parse_path(text: str) -> Path:
    """Parse an XPath (`@a`, `link/@a`, `[link/@a]`, `link-id`) or raise ExprError."""
    raw = text.strip()
    if raw.startswith("[") and raw.endswith("]"):
        raw = raw[1:-1].strip()
    parts = raw.split("/")
    attr = None
    if parts[-1].startswith("@"):
        attr = parts.pop()[1:]
        if not _STEP.match(attr):
            raise ExprError(text)
    elif parts[-1].endswith("-id") and len(parts) == 1:
        return Path((parts[0][:-3],), None)
    if attr is None or not all(_STEP.match(p) for p in parts):
        raise ExprError(text)
    return Path(tuple(parts), attr)


def _date_literal(text: str) -> Literal:
    inner = text[1:-1].strip().replace("/", "-")
    day = parse_date(inner)
    if day is not None:
        return Literal(day, "date")
    moment = parse_datetime(inner)
    if moment is None:
        raise ExprError(text)
    return Literal(moment, "datetime")


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text[1:-1])


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens: list[tuple[str, str]] = []
        pos = 0
        while pos < len(text):
            if not text[pos:].strip():
                break
            match = _TOKEN.match(text, pos)
            if match is None or match.end() == pos:
                raise ExprError(text)
            kind = match.lastgroup or ""
            value = match.group(kind)
            if kind == "word" and value.upper() in _KEYWORDS:
                kind, value = "kw", value.upper()
            self.tokens.append((kind, value))
            pos = match.end()
        self.pos = 0

    def peek(self, kind: str, value: str | None = None) -> bool:
        if self.pos >= len(self.tokens):
            return False
        k, v = self.tokens[self.pos]
        return k == kind and (value is None or v == value)

    def take(self, kind: str, value: str | None = None) -> str:
        if not self.peek(kind, value):
            raise ExprError(self.text)
        self.pos += 1
        return self.tokens[self.pos - 1][1]

    def parse(self) -> Node:
        node = self.disjunction()
        if self.pos != len(self.tokens):
            raise ExprError(self.text)
        return node

    def disjunction(self) -> Node:
        items = [self.conjunction()]
        while self.peek("kw", "OR"):
            self.pos += 1
            items.append(self.conjunction())
        return items[0] if len(items) == 1 else Bool("OR", tuple(items))

    def conjunction(self) -> Node:
        items = [self.negation()]
        while self.peek("kw", "AND"):
            self.pos += 1
            items.append(self.negation())
        return items[0] if len(items) == 1 else Bool("AND", tuple(items))

    def negation(self) -> Node:
        if self.peek("kw", "NOT"):
            self.pos += 1
            return Not(self.negation())
        return self.comparison()

    def comparison(self) -> Node:
        left = self.atom()
        if self.peek("op") and self.tokens[self.pos][1] in ("=", "<>", "!=", "<", "<=", ">", ">="):
            op = self.take("op")
            return Compare("<>" if op == "!=" else op, left, self.atom())
        if self.peek("kw", "IS"):
            self.pos += 1
            negated = self.peek("kw", "NOT")
            self.pos += negated
            self.take("kw", "NULL")
            return IsNull(left, negated)
        negated = self.peek("kw", "NOT")
        self.pos += negated
        if self.peek("kw", "LIKE"):
            self.pos += 1
            return Compare("NOT LIKE" if negated else "LIKE", left, self.atom())
        if self.peek("kw", "IN"):
            self.pos += 1
            self.take("op", "(")
            values = [self.atom()]
            while self.peek("op", ","):
                self.pos += 1
                values.append(self.atom())
            self.take("op", ")")
            return In(left, tuple(values), negated)
        if negated:
            raise ExprError(self.text)
        return left

    def atom(self) -> Node:
        if self.peek("op", "("):
            self.pos += 1
            node = self.disjunction()
            self.take("op", ")")
            return node
        if self.pos >= len(self.tokens):
            raise ExprError(self.text)
        kind, value = self.tokens[self.pos]
        self.pos += 1
        if kind == "string":
            return Literal(_unescape(value), "string")
        if kind == "number":
            return Literal(float(value) if "." in value else int(value), "number")
        if kind == "date":
            return _date_literal(value)
        if kind in ("attr", "bracket", "path"):
            return parse_path(value)
        raise ExprError(self.text)


def parse(text: str) -> Node:
    """Parse a condition or select expression."""
    return _Parser(text).parse()
