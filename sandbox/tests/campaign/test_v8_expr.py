"""The XTK expression parser (pure unit tests)."""

from __future__ import annotations

import pytest
from crm_sandbox.campaign.v8.expr import (
    Bool,
    Compare,
    ExprError,
    In,
    IsNull,
    Literal,
    Not,
    Path,
    parse,
    parse_path,
)


def test_paths():
    assert parse_path("@email") == Path((), "email")
    assert parse_path("[location/@city]") == Path(("location",), "city")
    assert parse_path("recipient/@email") == Path(("recipient",), "email")
    assert parse_path("[recipient-id]") == Path(("recipient",), None)
    for bad in ("email", "[a/b]", "@", "[/@x]", "@a b"):
        with pytest.raises(ExprError):
            parse_path(bad)


def test_comparisons_and_literals():
    assert parse("@email = 'a\\'b'") == Compare("=", Path((), "email"), Literal("a'b", "string"))
    assert parse("@x != 3") == Compare("<>", Path((), "x"), Literal(3, "number"))
    assert parse("@x >= -1.5") == Compare(">=", Path((), "x"), Literal(-1.5, "number"))
    assert parse("@d < #2002/02/01#") == Compare("<", Path((), "d"), Literal("2002-02-01", "date"))
    assert parse("@d > #2021-07-07T10:03:33.332Z#").right == Literal(
        "2021-07-07 10:03:33.332Z", "datetime"
    )
    assert parse("@a LIKE 'x%'") == Compare("LIKE", Path((), "a"), Literal("x%", "string"))
    assert parse("@a not like 'x%'").op == "NOT LIKE"


def test_boolean_structure():
    node = parse("@a IS NULL OR @b IS NOT NULL AND NOT (@c IN (1, 2))")
    assert node == Bool(
        "OR",
        (
            IsNull(Path((), "a"), False),
            Bool(
                "AND",
                (
                    IsNull(Path((), "b"), True),
                    Not(In(Path((), "c"), (Literal(1, "number"), Literal(2, "number")), False)),
                ),
            ),
        ),
    )
    assert parse("[url-id] NOT IN (1)") == In(Path(("url",), None), (Literal(1, "number"),), True)


@pytest.mark.parametrize(
    "bad", ["", "@a =", "@a = 'x", "Lower(@a) = 'x'", "@a = #not a date#", "(@a = 1", "@a NOT 1"]
)
def test_errors(bad):
    with pytest.raises(ExprError):
        parse(bad)
