"""binaryen.refill_block rewrites a block in place (the emitter keeps its
spine blocks, asyncpy.transform.emit). It must leave the block exactly as
Builder.block would have built it from the same children and type: the
same children, and the same type, including the rule that a block of type
none with an unreachable child and no branch to it is unreachable."""

from __future__ import annotations

import pytest

from asyncpy import binaryen as B
from asyncpy.binaryen.library import _lib


def _children(block) -> list:
    return [_lib.BinaryenBlockGetChildAt(block, i) for i in range(_lib.BinaryenBlockGetNumChildren(block))]


def _pair(m: B.Module, b: B.Builder, name, make_old, make_new, type_):
    """The block refilled from make_old() to make_new(), and the block the
    builder makes of the same new children, each in a function of its own
    (a node may have one parent), and both printed."""
    old = make_old()
    block = b.block(name, old, B.NONE if type_ == B.AUTO else type_)
    new = make_new(old)
    B.refill_block(block, old, new, type_)
    assert _children(block) == list(new)
    built = b.block(name, make_new(make_old()), type_)
    return block, built


@pytest.mark.parametrize("case", ["grow", "shrink", "same", "swap"])
def test_children_and_type_as_built(case):
    with B.Module.parse_text("(module)") as m:
        b = B.Builder(m)

        def nops(k):
            return [b.nop() for _ in range(k)]
        shapes = {
            "grow": (lambda: nops(1), lambda old: [*old, b.nop(), b.drop(b.i32(1))]),
            "shrink": (lambda: nops(3), lambda old: [old[1]]),
            "same": (lambda: nops(2), lambda old: list(old)),
            "swap": (lambda: nops(2), lambda old: [old[1], old[0], b.nop()]),
        }
        make_old, make_new = shapes[case]
        block, built = _pair(m, b, "L", make_old, make_new, B.NONE)
        assert B.expression_type(block) == B.expression_type(built) == B.NONE


def test_an_unreachable_child_without_a_branch_makes_the_block_unreachable():
    with B.Module.parse_text("(module)") as m:
        b = B.Builder(m)
        block, built = _pair(m, b, "L", lambda: [b.nop()], lambda old: [*old, b.unreachable()], B.NONE)
        assert B.expression_type(built) == B.UNREACHABLE
        assert B.expression_type(block) == B.UNREACHABLE


def test_a_branch_to_the_block_keeps_it_none():
    with B.Module.parse_text("(module)") as m:
        b = B.Builder(m)
        block, built = _pair(m, b, "L", lambda: [b.nop()],
                             lambda old: [b.br("L", cond=b.i32(1)), b.unreachable()], B.NONE)
        assert B.expression_type(built) == B.NONE
        assert B.expression_type(block) == B.NONE


def test_auto_computes_the_type_from_the_children():
    with B.Module.parse_text("(module)") as m:
        b = B.Builder(m)
        block, built = _pair(m, b, None, lambda: [b.nop()], lambda old: [*old, b.i32(7)], B.AUTO)
        assert B.expression_type(built) == B.I32
        assert B.expression_type(block) == B.I32


def test_the_refilled_block_validates_in_a_function():
    with B.Module.parse_text("(module (func $f (result i32) (block $L (result i32) (i32.const 1))))") as m:
        b = B.Builder(m)
        body = _lib.BinaryenFunctionGetBody(m.function_ref("f"))
        old = _children(body)
        B.refill_block(body, old, [b.drop(b.i32(5)), b.nop(), b.i32(2)], B.I32)
        assert m.validate()
        assert "(i32.const 2)" in m.text() and "(i32.const 1)" not in m.text()
