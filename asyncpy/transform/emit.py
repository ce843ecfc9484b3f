"""Unwind/rewind instrumentation, with the runtime ABI of `wasm-opt --asyncify`.

A paused call stack is saved frame by frame into a buffer: when a pausing
call returns with the state "unwinding", the caller writes its frame and
returns too; to resume, the runtime sets the state to "rewinding" and calls
the bottom function again, which reloads its frame and goes straight back
into the same call, and so on up to the pause point.

How we differ from Binaryen's pass, which flattens every instrumented
function and guards every statement:

* Only the *spine* of a function is touched: the expressions that contain a
  pause site (a call that can pause). Code that contains none is kept as is,
  node for node; the statements before a site in its block are jumped
  over while rewinding by the block's one dispatch (see `emit_block`).
* While rewinding, the local `$idx` holds the index of the site to return
  to (loaded from the frame). It is never reset: after the rewind it keeps
  that stale target, so every read is guarded by the state (see
  `rewinding_past`). Sites are numbered in evaluation order, so every
  spine node covers a contiguous range [lo, hi] of sites; a statement is
  entered while rewinding iff `idx <= hi` (unsigned), an `if` picks its arm
  by comparing `idx` with the then-arm's range instead of re-evaluating the
  condition, and a loop is simply entered. Invariant: while rewinding,
  execution reaches only the site it is looking for, and after that call
  returns the state is 0 and the function runs normally (`idx` is stale).
* Values computed before a site but used after it (an operand evaluated
  before a pausing sibling) are moved into locals; nothing else is
  flattened. A site's own operands are recomputed while rewinding only when
  that is free of effects; otherwise they too are computed once, before.
* Frames hold only the locals live after some site (a backward liveness
  pass over the structured body), plus the spilled values above.
* Normal mode must not pay for rewinding through register pressure. A
  rewind branch skips statements, so the old value of every local they
  write would flow along it into the pausing child, and the compiler,
  which cannot know that the branch is taken only while rewinding, would
  keep that value live from the dispatch on, around the enclosing loop. So
  the rewind branch alone zeroes such locals (those the child reads first
  and the frame does not restore), and a statement's spill temporaries are
  zeroed before their guarded set (free in normal mode: the compiler puts
  that zero on the skip edge only). The site index is read from the frame
  by a helper while rewinding, so no local carries it through the body.

* Nodes are kept where they can be (docs/DESIGN.md §11): every new one
  stays in the module's arena until it is written, and the emitter runs on
  every site of a 46 MB program. A spine block is refilled in place
  (`B.refill_block`), a statement's code is spliced into its block (`Seq`)
  rather than wrapped, and a block that only passes the rewind on to its
  first child is left alone.

* With TransformOptions.rewind_copy, a function that pauses inside a loop
  is instrumented twice from the same body (asyncpy.transform.instrument):
  a copy in full, which only a rewind enters, and the function itself with
  the rewind tests constant false and a prologue that calls the copy while
  rewinding. Measured cause (docs/DESIGN.md §9): in wasmtime, the joins that
  rewind branches and the shared save add inside a hot loop cost register
  allocation (regalloc2 merges a block parameter with all its inputs, and a
  bundle too big for a register is spilled at every use); with the rewind
  branches present, zeroing or reloading the values on those edges does not
  help, fewer joins do. Without them (the function, not its copy), the
  unwind exits in loops zero, in one block per distinct set, the saved
  locals their site does not need (`dead_on_exit`), and that does help.

Frame layout (docs/DESIGN.md §3): an i32 site index, then the saved locals in
index order at their natural sizes. All sites of a function save the same
set of locals, so a frame has a fixed size and the rewinding prologue can
load every field at a constant offset. (TransformOptions.restore =
"statement" is the measured alternative: each statement restores and saves
only its own locals on its own rewind/unwind edges, frames packed per
statement behind the site index and padded to one size per function. It
is correct but, after -O2 in wasmtime, slower and much larger: many merges
of restored values inside loops cost more than the prologue's.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from asyncpy import binaryen as B
from asyncpy.abi import (
    EXIT_LABEL,
    POP_FRAME,
    REWIND_INDEX,
    STATE,
    UNWIND_LABEL,
)
from asyncpy.binaryen import Kind as K
from asyncpy.binaryen import Node, Op
from asyncpy.options import TransformOptions
from asyncpy.transform.frames import Field, _bits, frame_fields, restore_frame, save_frame
from asyncpy.transform.liveness import live_across_sites, read_write_masks
from asyncpy.transform.report import FunctionStats
from asyncpy.transform.sites import marked_site, number_sites, refusal

if TYPE_CHECKING:
    from asyncpy.transform.frames import Layout

TRACE_MODULE, TRACE_BASE = "asyncpy_profile", "unwind"


class Seq(list):
    """Statements of type none, in order, that an enclosing block takes as
    its own children: the code for one statement (`local.set $x (call)`,
    then its unwind check) need not be a block of its own. `emit` wraps
    a Seq in a block only where one expression is needed (an operand, an
    arm, a loop body). The binary format would drop such a nameless block
    anyway; not building it saves a node per site (memory, and a call)."""


def _listed(new) -> list:
    """An emitted expression or Seq as statements of a block."""
    return new if type(new) is Seq else [new]


# ---------------------------------------------------------------------------
# One function

class _Instrumenter:
    """Rewrites one function. See the module docstring for the scheme."""

    def __init__(self, module: B.Module, b: B.Builder, layout: Layout, name: str, is_site,
                 options: TransformOptions = TransformOptions(), walker=None):
        self.m, self.b, self.layout, self.name = module, b, layout, name
        # The native walker (asyncpy.binaryen.native) when it is available:
        # it numbers, computes liveness and hands back only the spine.
        self.walker = walker
        self.spine = None
        self.touched_memo: dict[int, tuple[int, int]] = {}
        self.per_statement = options.restore == "statement"
        self.trace_id: int | None = None
        self.ablate = options.ablate
        self.deferred_kills: list = []   # (empty block, kill mask): see emit_entry
        # Zeros only matter inside loops: elsewhere no earlier iteration's
        # value can flow anywhere, and the locals start at zero anyway.
        self.loop_depth = 0
        self.is_site = is_site
        self.fref = module.function_ref(name)
        self.params, self.vars = B.function_locals(self.fref)
        self.local_types = self.params + self.vars
        self.site_live: dict[int, int] = {}   # site index -> locals live after it
        self.live_in: dict[int, int] = {}     # id(pausing child of a block) -> locals live before it
        self.writes_memo: dict[int, int] = {}
        self.nsites = 0
        self._label = 0
        # The statement being emitted (see emit_statement): its unwind label,
        # the values its rewind needs besides the live locals, its temporaries.
        self.depth = 0
        self.stmt_label: str | None = None
        self.stmt_extra = 0
        self.stmt_temps = 0
        self.statements: list[tuple[str, int]] = []   # (unwind label, saved locals mask)
        self.ptr: int | None = None   # frame pointer local, set and used only in save/restore code
        # With a rewind copy (TransformOptions.rewind_copy), this function
        # only unwinds: a rewind goes to the copy at entry, so the rewind
        # tests are constant false here and the prologue does not restore.
        self.rewind_copy: str | None = None
        # Its unwind exits inside loops: [if node, site, statement's extra
        # mask]; see unwind_check and dead_on_exit.
        self.exits: list[list] = []
        self.stmt_exits: list[list] = []

    # -- locals
    def new_local(self, t: int) -> int:
        self.vars.append(t)
        self.local_types.append(t)
        return len(self.local_types) - 1

    def new_temp(self, t: int) -> int:
        """A local that holds a value of the current statement between a
        guarded set and its use."""
        i = self.new_local(t)
        self.stmt_temps |= 1 << i
        return i

    def label(self) -> str:
        self._label += 1
        return f"__asyncify_site{self._label}"

    # -- pass 1: number the sites in evaluation order (asyncpy.transform.sites)
    def number(self, order: list[Node]) -> None:
        self.size = len(order)
        self.nsites = number_sites(order, self.is_site, self.name)
        self.is_site = marked_site

    # -- pass 2: liveness, to know which locals a frame must hold (asyncpy.transform.liveness)
    def live_across_sites(self, root: Node, size: int) -> None:
        self.site_live, self.live_in = live_across_sites(root, size, self.is_site)

    # -- pass 3: rewrite the spine
    def idx_get(self):
        """The site being rewound to, read from the frame (only ever
        evaluated while rewinding): no local carries it through the body,
        so nothing stays live around loops for it."""
        return self.b.call(REWIND_INDEX, [], B.I32)

    def rewinding(self):
        """Nonzero iff rewinding. In function bodies the state is never
        "unwinding" (a site leaves at once when it sees that), so the state
        global itself is the test."""
        if "noguards" in self.ablate or self.rewind_copy is not None:
            return self.b.i32(0)
        return self.b.global_get(STATE, B.I32)

    def rewinding_past(self, hi: int):
        """True in normal mode, and while rewinding to a site <= hi."""
        b = self.b
        return b.if_(self.rewinding(), b.binary(Op.le_u32, self.idx_get(), b.i32(hi)), b.i32(1))

    def normal_only(self, stmts):
        if not stmts:
            return []
        body = stmts[0] if len(stmts) == 1 else self.b.block(None, stmts, B.NONE)
        return [self.b.if_(self.b.unary(Op.eqz32, self.rewinding()), body)]

    def emit(self, n: Node, outer=()):
        """Rewrite a node whose subtree holds sites [n.lo, n.hi]. Normal mode:
        behaves as before. Rewinding to k in [lo, hi]: goes to site k.
        `outer` (blocks only) are rewind targets of enclosing blocks that this
        block's dispatch takes over; see emit_block."""
        new = self.emit_any(n, outer)
        return self.block_of(new) if type(new) is Seq else new

    def emit_any(self, n: Node, outer=()):
        """`emit`, except that the result may be a Seq, for a block's list."""
        if n.hi < n.lo:
            return n.ref
        k = n.kind
        if k == K.Block:
            return self.emit_block(n, outer)
        assert not outer
        if k == K.Loop:
            self.loop_depth += 1
            B.set_children(n.ref, [self.emit(n.kids[0])])
            self.loop_depth -= 1
            return n.ref
        if k == K.If:
            return self.emit_if(n)
        if self.depth:
            return self.emit_expression(n)
        return self.emit_statement(n)[0]

    def emit_statement(self, n: Node, hoisted: bool = False):
        """An expression on the spine whose parent is control flow (a block,
        a loop, an arm or condition of an `if`, the function): the unit a
        rewind restores locals for and an unwind saves them from.

        Normal mode must not pay for rewinding here, i.e. the compiler must
        not see values of earlier iterations flow into this statement. So
        the locals the rewind needs (live after one of its sites, or read
        again while rewinding) are loaded from the frame right here, inside
        `if (rewinding)`, not in the prologue (where they would stay live
        from function entry, around every loop); and the statement's
        temporaries, which it sets only under a guard, are first set to
        zero, so no old value of them is ever read. Its sites leave with
        `br_if` to a label of their own, whose save code (out of line, after
        the body) stores just these locals: no other local is live at these
        call sites because of the unwind.

        With `hoisted`, the caller puts the restore on the rewind branch
        into this statement (see emit_entry) and it is left out here.
        Returns the new statement, the mask of the locals it saves, and (when
        hoisted) code the normal path must run just before the statement."""
        label = self.label() if self.per_statement else UNWIND_LABEL
        self.stmt_label, self.stmt_extra, self.stmt_temps = label, 0, 0
        self.stmt_exits = []
        self.depth += 1
        expr = self.emit_expression(n)
        self.depth -= 1
        needed = self.stmt_extra
        for k in range(n.lo, n.hi + 1):
            needed |= self.site_live.get(k, 0)
        for e in self.stmt_exits:
            e.append(self.stmt_extra)
        self.statements.append((label, needed))
        b = self.b
        # The zeros cost nothing in normal mode: the compiler materialises
        # a zero only on the (rewinding) edge that skips the guarded set.
        # Temporaries the rewind restores are zeroed on the normal path only.
        temps = self.stmt_temps if self.loop_depth else 0
        pre = self.zeros(temps & ~needed)
        normal_zeros = self.zeros(temps & needed)
        if not hoisted and self.per_statement and needed:
            pre.append(b.if_(self.rewinding(), self.restore(self.fields(needed)),
                             self.block_of(normal_zeros) if normal_zeros else None))
            normal_zeros = []
        elif not hoisted and normal_zeros:
            pre.append(b.if_(b.unary(Op.eqz32, self.rewinding()), self.block_of(normal_zeros)))
            normal_zeros = []
        if pre:
            expr = self.prefixed(pre, expr)
        return expr, needed, normal_zeros

    def prefixed(self, pre: list, expr):
        """`pre`, then `expr`: a Seq when that is of type none."""
        if type(expr) is Seq:
            return Seq([*pre, *expr])
        t = B.expression_type(expr)
        if t == B.NONE:
            return Seq([*pre, expr])
        return self.b.block(None, [*pre, expr], B.AUTO if t == B.UNREACHABLE else t)

    def block_of(self, stmts):
        return stmts[0] if len(stmts) == 1 else self.b.block(None, stmts, B.NONE)

    def emit_block(self, n: Node, outer=()):
        """A block on the spine becomes a nest of segments, one ending just
        before each pausing child:

            (block $P (block $s2 (block $s1 DISPATCH cold...) hot1 cold...) hot2 cold...)

        While rewinding, DISPATCH (`if idx: br_table`) branches to the end of
        the segment before the child that holds the target site, skipping
        everything in between at once; in normal mode it is one test of
        `idx`. When the first child is itself such a block, the dispatch
        moves into it (taking our targets along), so a chain of nested
        blocks, the shape of a switch, pays for one test, not one per level.
        """
        kids = n.kids
        b = self.b
        head = kids[0]
        if head.kind == K.Block and head.lo == n.lo and head.hi == n.hi:
            # All our sites are in the first child, a block: it takes over our
            # targets and dispatches for us, and nothing here changes. The
            # common case by far in Go, whose functions are a nest of blocks
            # as deep as they have resume points.
            self.emit_block(head, outer if isinstance(outer, list) else list(outer))
            if n.type == B.UNREACHABLE:
                B.refill_block(n.ref, (), (), B.AUTO)
            return n.ref
        hot = [i for i, c in enumerate(kids) if c.hi >= c.lo]
        labels = [self.label() for _ in hot]
        ours = [(kids[i].lo, kids[i].hi, lab) for i, lab in zip(hot, labels, strict=True)]
        first = hot[0]
        delegate = first == 0 and kids[0].kind == K.Block
        # `outer` is a list only this chain of first-child blocks holds:
        # each level appends its targets, so a nest d deep costs O(d), not
        # a copy of the outer targets at every level.
        targets = outer if isinstance(outer, list) else list(outer)
        if delegate:
            targets.extend(ours[1:])        # the first child's own range is the inner block's
            first_new = self.emit(kids[0], targets)
            seg = None
        else:
            targets.extend(ours)
            seg = self.dispatch(targets, labels[0], has_prefix=first > 0) + [c.ref for c in kids[:first]]
            seg = seg or None
        t = n.type
        written, done = 0, 0     # locals written in kids[:done]
        for j, i in enumerate(hot):
            child = kids[i]
            if j == 0 and seg is None:
                stmts = [first_new] if delegate else self.items(child)
            else:
                assert seg is not None      # set for every hot child after the first
                for c in kids[done:i]:
                    written |= self.writes(c)
                done = i
                entry, new, normal = self.emit_entry(child, written)
                if entry:
                    # The rewind edge alone runs `entry`; normal mode jumps over it.
                    join = self.label()
                    skip = b.block(labels[j], [*seg, *normal, b.br(join)], B.NONE)
                    stmts = [b.block(join, [skip, *entry], B.NONE)]
                else:
                    stmts = [b.block(labels[j], seg, B.NONE)]
                stmts.extend(_listed(new))
            if j + 1 < len(hot):
                seg = stmts + [c.ref for c in kids[i + 1:hot[j + 1]]]
            else:
                stmts.extend(c.ref for c in kids[i + 1:])
                # The block itself is kept: its name, and so every branch
                # to it, stays as it was.
                B.refill_block(n.ref, [c.ref for c in kids], stmts, B.AUTO if t == B.UNREACHABLE else t)
                return n.ref

    def items(self, n: Node) -> list:
        """The rewritten `n` as statements of a block."""
        return _listed(self.emit_any(n))

    def emit_entry(self, child: Node, skipped_writes: int):
        """Emit the pausing child of a block that a rewind reaches by a
        branch over its earlier siblings, and the code for that branch
        alone: the statement's restore, and zeros for the locals the skipped
        siblings write and the child reads first. Without those zeros, the
        value such a local had *before* the skipped code would flow into the
        child along the rewind branch, and the compiler, which cannot know
        that the branch is taken only while rewinding, would keep it live
        from the dispatch on, around the enclosing loop."""
        if self.depth:   # inside a statement, whose restore came first: leave its values alone
            return [], self.emit_any(child), []
        kill = self.live_in.get(id(child), 0) & skipped_writes if self.loop_depth else 0
        entry, normal = [], []
        if child.kind in (K.Block, K.Loop, K.If):
            new = self.emit_any(child)
        else:
            new, needed, normal = self.emit_statement(child, hoisted=True)
            kill &= ~needed
            if needed and self.per_statement:
                entry.append(self.restore(self.fields(needed)))
        if self.per_statement:
            entry.extend(self.zeros(kill))
        else:
            # The prologue restores every saved local, and this child's
            # statements may need any of them: which are saved is known
            # only at the end, so the zeros are filled in then (run()), into
            # an empty block (which the binary format drops if none are).
            kill = sum(1 << i for i in _bits(kill) if self.local_types[i] in B.VALUE_SIZE)
            if kill:
                slots = self.b.block(None, [], B.NONE)
                self.deferred_kills.append((slots, kill))
                entry.append(slots)
        return entry, new, normal

    def zeros(self, mask: int) -> list:
        b = self.b
        return [b.local_set(i, b.zero(self.local_types[i])) for i in _bits(mask)
                if self.local_types[i] in B.VALUE_SIZE]

    def touched(self, n: Node) -> tuple[int, int]:
        """(locals read, locals written) in the subtree of `n`, which must
        not have been rewritten yet. With the native walker the tree below
        a cold node is not in Python at all: the walker computed these."""
        m = self.touched_memo.get(id(n))
        if m is None:
            if self.spine is not None:
                m = self.spine.touched(n)
            else:       # a Python-walked body: all of it is in Python
                m = read_write_masks(n)
            self.touched_memo[id(n)] = m
        return m

    def writes(self, n: Node) -> int:
        """Locals set in the subtree of `n` (memoised on the spine)."""
        if n.hi < n.lo or self.spine is not None:
            return self.touched(n)[1]
        m = self.writes_memo.get(id(n))
        if m is None:
            m = (1 << n.index) if n.kind == K.LocalSet else 0
            for c in n.kids:
                m |= self.writes(c)
            self.writes_memo[id(n)] = m
        return m

    def dispatch(self, targets, first_label: str, has_prefix: bool) -> list:
        """Code that, while rewinding to k, branches to the label of the
        target range holding k; nothing at all when there is nothing to skip."""
        b = self.b
        if len(targets) == 1:
            # Only our first pausing child can hold k: skip the cold prefix.
            return [b.br(first_label, cond=self.rewinding())] if has_prefix else []
        base = min(lo for lo, _, _ in targets)
        top = max(hi for _, hi, _ in targets)
        ordered = sorted(targets)
        # A br_table costs about a byte per site in range, a chain of
        # compares about eight bytes per target: take the smaller.
        if 8 * (len(ordered) - 1) < top - base + 1:
            chain = [b.br(lab, cond=b.binary(Op.le_u32, self.idx_get(), b.i32(hi)))
                     for _, hi, lab in ordered[:-1]]
            chain.append(b.br(ordered[-1][2]))
            return [b.if_(self.rewinding(), b.block(None, chain, B.NONE))]
        table = [None] * (top - base + 1)
        for lo, hi, lab in targets:
            for k in range(lo, hi + 1):
                table[k - base] = lab
        default = targets[-1][2]
        table = [lab or default for lab in table]
        index = b.binary(Op.sub32, self.idx_get(), b.i32(base)) if base else self.idx_get()
        return [b.if_(self.rewinding(), b.switch(table, default, index))]

    def emit_if(self, n: Node):
        cond, then = n.kids[0], n.kids[1]
        other = n.kids[2] if len(n.kids) > 2 else None
        arms_hot = then.hi >= then.lo or (other is not None and other.hi >= other.lo)
        if not arms_hot:  # only the condition pauses; the arms run after it
            B.set_children(n.ref, [self.emit(cond)] + [c.ref for c in n.kids[1:]])
            return n.ref
        prelude = []
        if cond.hi >= cond.lo:
            # The condition pauses too: compute it first, as its own statement.
            c = self.new_temp(B.I32)
            prelude.append(self.b.if_(self.rewinding_past(cond.hi), self.b.local_set(c, self.emit(cond))))
            cond_ref = self.b.local_get(c, B.I32)
        else:
            cond_ref = cond.ref
        choose_then = self.b.binary(Op.le_u32, self.idx_get(), self.b.i32(then.hi)) \
            if then.hi >= then.lo else self.b.i32(0)
        new_cond = self.b.if_(self.rewinding(), choose_then, cond_ref)
        new_kids = [new_cond, self.emit(then)] + ([self.emit(other)] if other is not None else [])
        B.set_children(n.ref, new_kids)
        if not prelude:
            return n.ref
        t = n.type
        return self.b.block(None, [*prelude, n.ref], B.AUTO if t == B.UNREACHABLE else t)

    def emit_expression(self, n: Node, wrap: bool = True):
        """A non-control expression on the spine: a site itself, or an
        expression with a site somewhere in its operands. With wrap=False a
        site comes back without its unwind check (the caller adds it)."""
        kids = n.kids
        if ((n.kind == K.LocalSet and not n.tee) or n.kind == K.Drop) and self.is_site(kids[0]):
            # `local.set $x (call)` / `drop (call)`: check after the statement,
            # no temporary needed (a value set while unwinding is dead).
            B.set_children(n.ref, [self.emit_expression(kids[0], wrap=False)])
            return Seq([n.ref, self.unwind_check(kids[0].hi)])
        site = self.is_site(n)
        hot = [i for i, c in enumerate(kids) if c.hi >= c.lo]
        last_hot = hot[-1] if hot else -1
        # Operands evaluated before the last pausing thing (the last pausing
        # operand, or the site itself) must not be evaluated again while
        # rewinding: they move into locals, computed once, before.
        last = len(kids) if site else last_hot
        target = len(kids) - 1 if site and n.kind in (K.CallIndirect, K.CallRef) else -1
        prelude: list = []
        pending: list = []
        new_kids: list = []
        for i, c in enumerate(kids):
            if i >= last:
                new_kids.append(self.emit(c) if i == last else c.ref)
                continue
            # Does the value have to be the true one after a rewind? Yes when
            # a pausing operand comes later (we may resume inside it, then
            # use this value), and for the callee of an indirect site (the
            # rewind must call the same function). A site's other operands
            # only need *some* value: the callee restores its own locals.
            keep = i < last_hot or i == target or not site
            t = c.type
            if c.hi >= c.lo:
                prelude.extend(self.normal_only(pending))
                pending = []
                new = self.emit(c)
                if t == B.UNREACHABLE or t == B.NONE:
                    prelude.append(self.b.if_(self.rewinding_past(c.hi), new))
                    new_kids.append(self.b.unreachable())
                    continue
                tmp = self.new_temp(t)
                prelude.append(self.b.if_(self.rewinding_past(c.hi), self.b.local_set(tmp, new)))
                if keep:
                    self.stmt_extra |= 1 << tmp
                new_kids.append(self.b.local_get(tmp, t))
            elif self.can_stay(c, n, i, last, keep):
                if c.kind == K.LocalGet and keep:
                    self.stmt_extra |= 1 << c.index
                new_kids.append(c.ref)
            elif t == B.UNREACHABLE or t == B.NONE:
                pending.append(c.ref)
                new_kids.append(self.b.unreachable())
            else:
                tmp = self.new_temp(t)
                pending.append(self.b.local_set(tmp, c.ref))
                if keep:
                    self.stmt_extra |= 1 << tmp
                new_kids.append(self.b.local_get(tmp, t))
        prelude.extend(self.normal_only(pending))
        B.set_children(n.ref, new_kids)
        expr = self.wrap_site(n) if site and wrap else n.ref
        return self.prefixed(prelude, expr) if prelude else expr

    def can_stay(self, c: Node, parent: Node, i: int, last: int, keep: bool) -> bool:
        """May cold operand `c` stay where it is, although the siblings after
        it (up to `last`) may move before it, and it is evaluated again
        while rewinding? With `keep`, its value must also be the true one
        after a rewind, which only constants and saved locals give."""
        later = parent.kids[i + 1:last + 1]
        if c.kind == K.Const:
            return True
        if c.kind == K.LocalGet:
            return not any(self.touched(x)[1] >> c.index & 1 for x in later)
        if keep:
            return False
        effects = B.side_effects(self.m, c.ref)
        if effects & ~(B.EFFECT_READS_LOCAL | B.EFFECT_READS_GLOBAL):
            return False
        if effects & B.EFFECT_READS_GLOBAL:
            if any(B.side_effects(self.m, x.ref) & (B.EFFECT_WRITES_GLOBAL | B.EFFECT_CALLS) for x in later):
                return False
        reads = self.touched(c)[0]
        return not any(self.touched(x)[1] & reads for x in later)

    def unwind_check(self, index: int):
        b = self.b
        if self.rewind_copy is not None and self.loop_depth:
            # Its branch may have to zero what this site does not need
            # (dead_on_exit): filled in when the saved set is known.
            exit_ = b.if_(b.global_get(STATE, B.I32), b.br(self.stmt_label, value=b.i32(index)))
            entry = [exit_, index]
            self.exits.append(entry)
            self.stmt_exits.append(entry)
            return exit_
        return b.drop(b.br(self.stmt_label, cond=b.global_get(STATE, B.I32), value=b.i32(index)))

    def dead_on_exit(self, cur, saved_all: int, unwind_at: int):
        """For a function with a rewind copy: its unwind exits inside loops
        leave through a block that first zeroes the saved locals the site
        does not need (neither live after it nor read again by its rewind).
        Otherwise the shared save would read, at every site, the value every
        saved local has there, and the compiler would keep each one live
        across every call of the loop; and the join at the save would merge
        them all (measured: QuickJS 1.64x -> 1.14x). Sites with the same
        dead set share one block, which keeps the size down; a dead value is
        overwritten there before anything reads it, so that join costs
        nothing. Returns `cur` wrapped in those blocks."""
        b = self.b
        groups: dict[int, str] = {}
        for exit_, k, extra in self.exits:
            dead = saved_all & ~(self.site_live.get(k, 0) | extra)
            dead = sum(1 << i for i in _bits(dead) if self.local_types[i] in B.VALUE_SIZE)
            if not dead:
                continue
            label = groups.get(dead)
            if label is None:
                label = groups[dead] = self.label()
            B.set_children(exit_, [b.global_get(STATE, B.I32), b.br(label, value=b.i32(k))])
        for dead, label in groups.items():
            cur = b.block(None, [b.local_set(unwind_at, b.block(label, [cur], B.I32)), *self.zeros(dead),
                                 b.br(UNWIND_LABEL, value=b.local_get(unwind_at, B.I32))], B.AUTO)
        return cur

    def wrap_site(self, n: Node):
        """The call, then: if it started unwinding, leave with our index.
        The state is 0 or 1 here (a rewind ends inside the callee), so
        `br_if $unwind (N) (state)` is the whole check."""
        b = self.b
        t = n.type
        check = self.unwind_check(n.hi)
        if t == B.NONE:
            return Seq([n.ref, check])
        if t == B.UNREACHABLE:
            return b.block(None, [n.ref, check], B.AUTO)
        r = self.new_local(t)
        return b.block(None, [b.local_set(r, n.ref), check, b.local_get(r, t)], t)

    # -- the whole function
    def read(self) -> Node | None:
        """Passes 1 and 2: the body's tree, its sites numbered and marked,
        and the liveness at them; None when the body has no site."""
        if self.walker is not None:
            try:
                sp = self.walker.spine(self.fref, len(self.local_types), self.name)
            except B.native.TooDeep:
                pass        # nests deeper than C's recursion may go: the Python walk
            except B.native.Refused as e:
                raise refusal(e.args[0], self.name) from None
            else:
                self.size, self.nsites, self.is_site = sp.size, sp.nsites, marked_site
                self.site_live, self.live_in = sp.site_live, sp.live_in
                self.spine = sp
                return sp.root
        order: list[Node] = []
        root = B.read_tree(self.fref, order)
        self.number(order)
        del order
        if self.nsites == 0:
            return None
        self.live_across_sites(root, self.size)
        return root

    def run(self) -> FunctionStats | None:
        root = self.read()
        if root is None:
            return None
        names = B.local_names(self.fref)
        body = self.emit(root)
        saved_all = 0
        for _, mask in self.statements:
            saved_all |= mask
        for slots, kill in self.deferred_kills:
            if kill & ~saved_all:
                B.refill_block(slots, [], self.zeros(kill & ~saved_all), B.NONE)
        results = B.function_results(self.m, self.name)
        b = self.b
        unwind_at = self.new_local(B.I32)
        cur = b.return_(body if results != B.NONE else None) if results != B.NONE else \
            b.block(None, [body, b.return_()], B.NONE)
        if self.exits:
            cur = self.dead_on_exit(cur, saved_all, unwind_at)
        if not self.per_statement:
            fields = self.fields(saved_all)
            frame = fields[-1][3] + B.VALUE_SIZE[fields[-1][2]] if fields else 4
            # On entry the state is normal or rewinding, never unwinding.
            prologue = self.restore(fields, pop=frame) if self.rewind_copy is None else \
                self.call_rewind_copy(results)
            new_body = b.block(None, [
                b.if_(b.global_get(STATE, B.I32), prologue),
                b.local_set(unwind_at, b.block(UNWIND_LABEL, [cur], B.I32)),
                self.save(fields, frame, unwind_at),
            ] + ([b.zero(results)] if results != B.NONE else []), results)
            B.replace_function(self.m, self.name, self.vars, new_body, names)
            return FunctionStats(self.name, self.nsites, saved_all.bit_count(), frame)
        # One frame size per function (the prologue pops it before knowing
        # the site), the largest statement's; each statement packs its own
        # locals from offset 4, after the site index.
        layouts = {mask: self.fields(mask) for _, mask in self.statements}
        frame = max(max((f[3] + B.VALUE_SIZE[f[2]] for f in fs), default=4) for fs in layouts.values())
        # Saves out of line: a site branches to its statement's label, and
        # statements with the same saved set share one save. Each save is
        # reached only from its own sites, so a local is live at a call site
        # only if that site needs it.
        by_mask: dict[int, list[str]] = {}
        for label, mask in self.statements:
            by_mask.setdefault(mask, []).append(label)
        for mask, labels in by_mask.items():
            for label in labels:
                cur = b.block(label, [cur], B.I32)
            cur = b.block(None, [b.local_set(unwind_at, cur),
                                 self.save(layouts[mask], frame, unwind_at),
                                 b.br(EXIT_LABEL)], B.NONE)
        new_body = b.block(None, [
            b.if_(b.global_get(STATE, B.I32), b.drop(b.call(POP_FRAME, [b.i32(frame)], self.layout.ptr))),
            b.block(EXIT_LABEL, [cur], B.NONE),
        ] + ([b.zero(results)] if results != B.NONE else []), results)
        B.replace_function(self.m, self.name, self.vars, new_body, names)
        return FunctionStats(self.name, self.nsites, saved_all.bit_count(), frame)

    def call_rewind_copy(self, results: int):
        """The rewind goes on in the copy, which pops and restores the
        frame this function saved (same sites, same layout) and then runs
        the rest of this call."""
        b = self.b
        args = [b.local_get(i, t) for i, t in enumerate(self.params)]
        call = b.call(self.rewind_copy, args, results)
        return b.return_(call) if results != B.NONE else b.block(None, [call, b.return_()], B.NONE)

    # -- frames (asyncpy.transform.frames)
    def fields(self, mask: int) -> list[Field]:
        return frame_fields(mask, self.local_types, self.name)

    def restore(self, fields: list[Field], pop: int | None = None):
        return restore_frame(self.b, self.layout, fields, self.ptr_local, self.ablate, pop)

    def ptr_local(self) -> int:
        if self.ptr is None:
            self.ptr = self.new_local(self.layout.ptr)
        return self.ptr

    def save(self, fields: list[Field], frame: int, unwind_at: int):
        return save_frame(self.b, self.layout, fields, frame, unwind_at, self.ptr_local,
                          self.local_types, self.trace_id, self.ablate)
