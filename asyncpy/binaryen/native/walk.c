/* asyncpy's native walker: reading a function body for the transform.

Why this exists. The transform needs three things from every instrumented
body: which calls are pause sites and their numbering in evaluation order,
which locals are live after each site (what a frame saves), and the
*spine*, the expressions that contain a site, which it rewrites. In
Python through cffi each expression costs about a microsecond per C call
and a Python object; a 46 MB Go module has some 14 million expressions,
most of them cold (no site below them). This file does the per-expression
work in one C call per function and hands Python only the spine and the
children of spine nodes: what asyncpy/transform/emit.py reads.

The algorithms are the ones of asyncpy/transform/sites.py (numbering) and
asyncpy/transform/liveness.py (liveness), which stay as the reference: the
tests compare both on every function of the corpus programs.

  walk:     pre-order over the Binaryen tree; the children of a node get
            consecutive slots, so node i's children are
            nodes[first .. first+nkids).
  number:   post-order (evaluation order) numbering of sites; lo/hi per node.
  live:     backward liveness over the structured body, bit sets of
            `words` 64-bit words; a loop label iterates to a fixpoint within
            a budget of node visits, then falls back to a safe bound.
  output:   records for the spine and its direct children, breadth first.

The generated header "shape.h" (asyncpy/binaryen/native/__init__.py) holds
the C API declarations (asyncpy/binaryen/_cdef.py) and push_children(),
generated from the same child tables the Python side uses. */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <stdbool.h>
#include "shape.h"

typedef uint64_t u64;

typedef struct {
  BinaryenExpressionRef ref;
  const char *name;           /* block/loop label, break target, call target */
  int32_t kind, nkids, first, index;
  int32_t lo, hi;             /* sites below (inclusive), hi < lo: none */
  int32_t names, nnames;      /* br_table targets, in the names array */
  int32_t live_in;            /* offset in the live-in pool, -1: none */
  uint8_t site, tee, cond;
} Node;

/* One output record, read by Python with struct "<Q8i" (the expression
   itself is in the refs array). */
typedef struct {
  uint64_t name;
  int32_t kind, lo, hi, index, nkids, first, live_in, flags;
} Record;

enum { FLAG_SITE = 1, FLAG_TEE = 2 };
enum { OK = 0, E_UNSUPPORTED = 1, E_TAIL_CALL = 2, E_TOO_DEEP = 3, E_MEMORY = 4, E_TRY = 5 };

typedef struct {
  /* inputs */
  const uintptr_t *pausing; size_t npausing;      /* sorted name pointers */
  int (*indirect_pauses)(BinaryenExpressionRef, int32_t kind);
  int32_t words;
  int32_t max_depth;           /* deepest nesting live() recurses to */
  /* outputs */
  int32_t status, detail;      /* detail: the kind (E_UNSUPPORTED) */
  int32_t size, nsites, nrecords;
  Record *records;
  u64 *site_live;              /* nsites * words: site k at (k-1)*words */
  u64 *live_in;                /* the pool Record.live_in points into */
  BinaryenExpressionRef *refs; /* per record: its expression */
  int32_t *kinds;              /* per record: its kind */
  int32_t *special, nspecial;  /* the records Python annotates beyond ref and kind:
                                  on the spine, local.get (the emitter reads
                                  their index), or with a live-in set */
  u64 *masks;                  /* per record: locals read, then written, in its subtree */
  /* private */
  Node *nodes; int32_t nnodes, cap;
  const char **names; int32_t nnames_used, names_cap;
  int32_t nlabels;             /* named blocks and loops: sizes the label table */
  int32_t live_in_used, live_in_cap;
  BinaryenExpressionRef *tmp; int32_t tmp_cap;
} Walk;

/* -- growable arrays */

static int grow(void **p, int32_t *cap, int32_t need, size_t elem) {
  if (need <= *cap) return 1;
  int32_t c = *cap ? *cap : 64;
  while (c < need) c *= 2;
  void *q = realloc(*p, (size_t)c * elem);
  if (!q) return 0;
  *p = q; *cap = c;
  return 1;
}

static int tmp_push(Walk *w, int32_t *n, BinaryenExpressionRef e) {
  if (!grow((void **)&w->tmp, &w->tmp_cap, *n + 1, sizeof *w->tmp)) return 0;
  w->tmp[(*n)++] = e;
  return 1;
}

#include "children.h"

/* -- pass 1: read the tree */

static int pauses_direct(Walk *w, const char *target) {
  uintptr_t t = (uintptr_t)target;
  size_t lo = 0, hi = w->npausing;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (w->pausing[mid] < t) lo = mid + 1; else hi = mid;
  }
  return lo < w->npausing && w->pausing[lo] == t;
}

static int new_node(Walk *w, BinaryenExpressionRef e) {
  if (!grow((void **)&w->nodes, &w->cap, w->nnodes + 1, sizeof *w->nodes)) return -1;
  Node *n = &w->nodes[w->nnodes];
  memset(n, 0, sizeof *n);
  n->ref = e;
  n->kind = (int32_t)BinaryenExpressionGetId(e);
  n->index = -1;
  n->hi = -1;
  n->live_in = -1;
  return w->nnodes++;
}

static int read_tree(Walk *w, BinaryenExpressionRef body) {
  if (new_node(w, body) < 0) return E_MEMORY;
  /* Nodes are expanded in index order: a node's children are appended as
     one run, so the array itself is the work list. */
  for (int32_t i = 0; i < w->nnodes; i++) {
    BinaryenExpressionRef e = w->nodes[i].ref;
    int32_t k = w->nodes[i].kind;
    int32_t n = 0;
    int r = push_children(w, e, k, &n);
    if (r < 0) { w->detail = k; return E_UNSUPPORTED; }
    if (r == 0) return E_MEMORY;
    int32_t first = w->nnodes;
    for (int32_t j = 0; j < n; j++)
      if (new_node(w, w->tmp[j]) < 0) return E_MEMORY;
    Node *x = &w->nodes[i];   /* after new_node: the array may have moved */
    x->first = first;
    x->nkids = n;
    if (k == K_LocalGet) {
      x->index = (int32_t)BinaryenLocalGetGetIndex(e);
    } else if (k == K_LocalSet) {
      x->index = (int32_t)BinaryenLocalSetGetIndex(e);
      x->tee = BinaryenLocalSetIsTee(e);
    } else if (k == K_Block) {
      x->name = BinaryenBlockGetName(e);
      w->nlabels += x->name != NULL;
    } else if (k == K_Loop) {
      x->name = BinaryenLoopGetName(e);
      w->nlabels += x->name != NULL;
    } else if (k == K_Break) {
      x->name = BinaryenBreakGetName(e);
      x->cond = BinaryenBreakGetCondition(e) != NULL;
    } else if (k == K_Switch) {
      int32_t m = (int32_t)BinaryenSwitchGetNumNames(e);
      if (!grow((void **)&w->names, &w->names_cap, w->nnames_used + m, sizeof *w->names)) return E_MEMORY;
      x->names = w->nnames_used;
      x->nnames = m;
      for (int32_t j = 0; j < m; j++) w->names[w->nnames_used++] = BinaryenSwitchGetNameAt(e, (BinaryenIndex)j);
      x->name = BinaryenSwitchGetDefaultName(e);
    } else if (k == K_Call) {
      x->name = BinaryenCallGetTarget(e);
    }
  }
  w->size = w->nnodes;
  return OK;
}

/* -- pass 2: number the sites in evaluation order */

static int is_site(Walk *w, Node *n) {
  if (n->kind == K_Call) return pauses_direct(w, n->name);
  if (n->kind == K_CallIndirect || n->kind == K_CallRef) return w->indirect_pauses(n->ref, n->kind);
  return 0;
}

static int is_return_call(Node *n) {
  if (n->kind == K_Call) return BinaryenCallIsReturn(n->ref);
  if (n->kind == K_CallIndirect) return BinaryenCallIndirectIsReturn(n->ref);
  return BinaryenCallRefIsReturn(n->ref);
}

static int number(Walk *w) {
  /* Iterative post-order: (node, next child) pairs. */
  int32_t *stack = malloc(sizeof(int32_t) * 2 * (size_t)(w->nnodes + 1));
  if (!stack) return E_MEMORY;
  int32_t sp = 0, nsites = 0;
  stack[0] = 0; stack[1] = 0; sp = 1;
  while (sp) {
    int32_t i = stack[2 * (sp - 1)], j = stack[2 * (sp - 1) + 1];
    Node *n = &w->nodes[i];
    if (j < n->nkids) {
      stack[2 * (sp - 1) + 1] = j + 1;
      stack[2 * sp] = n->first + j; stack[2 * sp + 1] = 0; sp++;
      continue;
    }
    sp--;
    int32_t lo = 0, hi = -1;
    for (int32_t c = n->first; c < n->first + n->nkids; c++) {
      Node *x = &w->nodes[c];
      if (x->hi >= x->lo) { if (hi < lo) lo = x->lo; hi = x->hi; }
    }
    if ((n->kind == K_Call || n->kind == K_CallIndirect || n->kind == K_CallRef) && is_site(w, n)) {
      n->site = 1;
      nsites++;
      if (hi < lo) lo = nsites;
      hi = nsites;
      if (is_return_call(n)) { free(stack); return E_TAIL_CALL; }
    }
    n->lo = lo; n->hi = hi;
    if (hi >= lo && n->kind == K_Try) { free(stack); return E_TRY; }
  }
  free(stack);
  w->nsites = nsites;
  return OK;
}

/* -- pass 3: liveness. Bit sets come from an arena used as a stack: a
   call of live() takes what it needs and gives it back on return. */

typedef struct { u64 *base; size_t top, cap; } Arena;

typedef struct {
  Walk *w;
  Arena a;
  int32_t words;
  long budget;
  int depth, failed;
  /* labels: name pointer -> live set at the label, open addressing */
  const char **keys; u64 **vals; size_t lcap;
} Live;

static u64 *bs_new(Live *L) {
  if (L->a.top + (size_t)L->words > L->a.cap) { L->failed = E_MEMORY; return NULL; }
  u64 *p = L->a.base + L->a.top;
  L->a.top += (size_t)L->words;
  memset(p, 0, sizeof(u64) * (size_t)L->words);
  return p;
}
static void bs_copy(Live *L, u64 *d, const u64 *s) { memcpy(d, s, sizeof(u64) * (size_t)L->words); }
static void bs_or(Live *L, u64 *d, const u64 *s) { for (int32_t i = 0; i < L->words; i++) d[i] |= s[i]; }
static int bs_eq(Live *L, const u64 *x, const u64 *y) { return !memcmp(x, y, sizeof(u64) * (size_t)L->words); }
static void bs_set(u64 *d, int32_t i) { d[i >> 6] |= (u64)1 << (i & 63); }
static void bs_clear(u64 *d, int32_t i) { d[i >> 6] &= ~((u64)1 << (i & 63)); }

static size_t slot(Live *L, const char *name) {
  size_t h = ((uintptr_t)name >> 3) * 0x9E3779B97F4A7C15ull;
  size_t m = L->lcap - 1, i = h & m;
  while (L->keys[i] && L->keys[i] != name) i = (i + 1) & m;
  return i;
}
static u64 *label_get(Live *L, const char *name) {
  if (!name) return NULL;
  size_t i = slot(L, name);
  return L->keys[i] ? L->vals[i] : NULL;
}
static u64 *label_put(Live *L, const char *name, u64 *v) {   /* returns the old value */
  size_t i = slot(L, name);
  u64 *old = L->keys[i] ? L->vals[i] : NULL;
  L->keys[i] = name;
  L->vals[i] = v;      /* NULL: out of scope (the key stays, harmlessly) */
  return old;
}

/* Locals read in the subtree of node i. */
static void reads(Live *L, int32_t i, u64 *out) {
  Walk *w = L->w;
  /* Children are stored after their parent in runs: the subtree of i is
     not contiguous, so walk it with an explicit stack. */
  int32_t *stack = malloc(sizeof(int32_t) * (size_t)(w->nnodes + 1));
  if (!stack) { L->failed = E_MEMORY; return; }
  int32_t sp = 0;
  stack[sp++] = i;
  while (sp) {
    Node *n = &w->nodes[stack[--sp]];
    if (n->kind == K_LocalGet) bs_set(out, n->index);
    for (int32_t c = n->first; c < n->first + n->nkids; c++) stack[sp++] = c;
  }
  free(stack);
}

static void live(Live *L, int32_t i, const u64 *after, u64 *out);

static void loop(Live *L, int32_t i, const u64 *after, u64 *out) {
  Walk *w = L->w;
  Node *n = &w->nodes[i];
  const char *name = n->name;
  int32_t body = n->first;
  if (!name) { live(L, body, after, out); return; }
  size_t mark = L->a.top;
  u64 *head = bs_new(L), *next = bs_new(L);
  if (L->failed) return;
  u64 *saved = label_get(L, name);
  int converged = 0;
  for (int it = 0; it < 8; it++) {
    if (L->budget <= 0) { converged = 1; break; }
    label_put(L, name, head);
    live(L, body, after, next);
    if (L->failed) return;
    if (bs_eq(L, next, head)) { converged = 1; break; }
    u64 *t = head; head = next; next = t;
  }
  if (!converged) L->budget = 0;
  if (L->budget <= 0) {
    /* No fixpoint within the budget: one pass from a safe bound, every
       local read in the loop, live after it, or at any label in scope. */
    u64 *bound = bs_new(L);
    if (L->failed) return;
    bs_copy(L, bound, after);
    reads(L, i, bound);
    for (size_t s = 0; s < L->lcap; s++)
      if (L->keys[s] && L->vals[s]) bs_or(L, bound, L->vals[s]);
    label_put(L, name, bound);
    live(L, body, after, head);
    if (L->failed) return;
  }
  label_put(L, name, saved);
  bs_copy(L, out, head);
  L->a.top = mark;
}

static void live(Live *L, int32_t i, const u64 *after, u64 *out) {
  Walk *w = L->w;
  if (++L->depth > L->w->max_depth) { L->failed = E_TOO_DEEP; return; }
  L->budget--;
  Node *n = &w->nodes[i];
  int32_t k = n->kind;
  size_t mark = L->a.top;
  if (k == K_LocalGet) {
    bs_copy(L, out, after);
    bs_set(out, n->index);
  } else if (k == K_LocalSet) {
    u64 *t = bs_new(L);
    if (L->failed) return;
    bs_copy(L, t, after);
    bs_clear(t, n->index);
    live(L, n->first, t, out);
  } else if (k == K_Loop) {
    loop(L, i, after, out);
  } else if (k == K_Block) {
    u64 *label = NULL, *saved = NULL;
    if (n->name) {
      label = bs_new(L);
      if (L->failed) return;
      bs_copy(L, label, after);
      saved = label_put(L, n->name, label);
    }
    u64 *cur = bs_new(L), *next = bs_new(L);
    if (L->failed) return;
    bs_copy(L, cur, after);
    for (int32_t c = n->first + n->nkids - 1; c >= n->first; c--) {
      live(L, c, cur, next);
      if (L->failed) return;
      u64 *t = cur; cur = next; next = t;
      Node *x = &w->nodes[c];
      if (x->hi >= x->lo) {
        if (x->live_in < 0) {
          if (!grow((void **)&w->live_in, &w->live_in_cap, w->live_in_used + L->words, sizeof(u64))) {
            L->failed = E_MEMORY; return;
          }
          x->live_in = w->live_in_used;
          memset(w->live_in + x->live_in, 0, sizeof(u64) * (size_t)L->words);
          w->live_in_used += L->words;
        }
        bs_or(L, w->live_in + x->live_in, cur);
      }
    }
    if (n->name) label_put(L, n->name, saved);
    bs_copy(L, out, cur);
  } else if (k == K_If) {
    u64 *arms = bs_new(L), *other = bs_new(L);
    if (L->failed) return;
    live(L, n->first + 1, after, arms);
    if (n->nkids > 2) live(L, n->first + 2, after, other);
    else bs_copy(L, other, after);
    if (L->failed) return;
    bs_or(L, arms, other);
    live(L, n->first, arms, out);
  } else if (k == K_Try) {
    bs_copy(L, out, after);
    reads(L, i, out);
  } else {
    u64 *cur = bs_new(L), *next = bs_new(L);
    if (L->failed) return;
    if (k == K_Break) {
      u64 *target = label_get(L, n->name);
      if (target) bs_copy(L, cur, target);
      if (n->cond) bs_or(L, cur, after);
    } else if (k == K_Switch) {
      for (int32_t j = 0; j < n->nnames; j++) {
        u64 *t = label_get(L, w->names[n->names + j]);
        if (t) bs_or(L, cur, t);
      }
      u64 *t = label_get(L, n->name);
      if (t) bs_or(L, cur, t);
    } else if (k == K_Return || k == K_Unreachable) {
      /* nothing is live before a jump out of the function */
    } else {
      bs_copy(L, cur, after);
    }
    if (n->site && n->hi >= n->lo) bs_or(L, w->site_live + (size_t)(n->hi - 1) * (size_t)L->words, after);
    for (int32_t c = n->first + n->nkids - 1; c >= n->first; c--) {
      live(L, c, cur, next);
      if (L->failed) return;
      u64 *t = cur; cur = next; next = t;
    }
    bs_copy(L, out, cur);
  }
  L->a.top = mark;
  L->depth--;
}

static int liveness(Walk *w) {
  Live L;
  memset(&L, 0, sizeof L);
  L.w = w;
  L.words = w->words;
  L.budget = 40L * w->size + 1000;
  L.lcap = 64;
  while (L.lcap < 2 * (size_t)w->nlabels + 16) L.lcap *= 2;   /* at most half full */
  L.keys = calloc(L.lcap, sizeof *L.keys);
  L.vals = calloc(L.lcap, sizeof *L.vals);
  /* A nesting level holds at most six bit sets (a loop's three and its
     live()'s three); nesting is bounded by max_depth and by the node count.
     Only the pages the recursion reaches are ever touched. */
  size_t levels = (size_t)(w->nnodes < w->max_depth ? w->nnodes : w->max_depth) + 16;
  L.a.cap = (size_t)L.words * 6 * levels;
  L.a.base = malloc(sizeof(u64) * L.a.cap);
  w->site_live = calloc((size_t)w->nsites * (size_t)w->words + 1, sizeof(u64));
  if (!L.keys || !L.vals || !L.a.base || !w->site_live) {
    free(L.keys); free(L.vals); free(L.a.base);
    return E_MEMORY;
  }
  u64 *zero = bs_new(&L), *out = bs_new(&L);
  if (!L.failed) live(&L, 0, zero, out);
  free(L.keys); free(L.vals); free(L.a.base);
  return L.failed;
}

/* -- output: the spine and its direct children, breadth first */

static int output(Walk *w) {
  int32_t cap = 0, n = 0;
  Record *r = NULL;
  if (!grow((void **)&r, &cap, 1, sizeof *r)) return E_MEMORY;
  int32_t *src = malloc(sizeof(int32_t) * (size_t)(w->nnodes + 1));   /* record -> node */
  if (!src) { free(r); return E_MEMORY; }
  src[n++] = 0;
  for (int32_t q = 0; q < n; q++) {
    Node *x = &w->nodes[src[q]];
    Record *o;
    int32_t first = n, nk = 0;
    if (x->hi >= x->lo) {
      nk = x->nkids;
      for (int32_t c = 0; c < nk; c++) src[n++] = x->first + c;
    }
    if (!grow((void **)&r, &cap, n, sizeof *r)) { free(src); free(r); return E_MEMORY; }
    o = &r[q];
    o->name = (uint64_t)(uintptr_t)x->name;
    o->kind = x->kind; o->lo = x->lo; o->hi = x->hi; o->index = x->index;
    o->nkids = nk; o->first = first; o->live_in = x->live_in;
    o->flags = (x->site ? FLAG_SITE : 0) | (x->tee ? FLAG_TEE : 0);
  }
  w->records = r;
  w->nrecords = n;
  /* Per record, the locals read and written below it: the emitter asks
     that of the children of spine nodes (what a skipped sibling writes,
     whether an operand may be evaluated again), whose subtrees Python no
     longer has. Children come after their parents, so a reverse sweep
     builds a spine node's sets from its children's. */
  size_t words = (size_t)w->words;
  w->refs = malloc(sizeof *w->refs * (size_t)n);
  w->kinds = malloc(sizeof *w->kinds * (size_t)n);
  w->special = malloc(sizeof *w->special * (size_t)n);
  if (!w->kinds || !w->special) { free(src); return E_MEMORY; }
  for (int32_t q = 0; q < n; q++) {
    w->kinds[q] = r[q].kind;
    if (r[q].hi >= r[q].lo || r[q].kind == K_LocalGet || r[q].live_in >= 0) w->special[w->nspecial++] = q;
  }
  w->masks = calloc((size_t)n * 2 * words, sizeof(u64));
  int32_t *stack = malloc(sizeof(int32_t) * (size_t)(w->nnodes + 1));
  if (!w->refs || !w->masks || !stack) { free(src); free(stack); return E_MEMORY; }
  for (int32_t q = n - 1; q >= 0; q--) {
    u64 *rd = w->masks + (size_t)q * 2 * words, *wr = rd + words;
    Node *x = &w->nodes[src[q]];
    w->refs[q] = x->ref;
    if (r[q].nkids) {
      for (int32_t c = r[q].first; c < r[q].first + r[q].nkids; c++) {
        u64 *crd = w->masks + (size_t)c * 2 * words;
        for (size_t i = 0; i < words; i++) { rd[i] |= crd[i]; wr[i] |= crd[words + i]; }
      }
      if (x->kind == K_LocalSet) bs_set(wr, x->index);
      continue;
    }
    int32_t sp = 0;
    stack[sp++] = src[q];
    while (sp) {
      Node *y = &w->nodes[stack[--sp]];
      if (y->kind == K_LocalGet) bs_set(rd, y->index);
      else if (y->kind == K_LocalSet) bs_set(wr, y->index);
      for (int32_t c = y->first; c < y->first + y->nkids; c++) stack[sp++] = c;
    }
  }
  free(stack);
  free(src);
  return OK;
}

/* -- the entry points */

void asyncpy_spine_free(Walk *w) {
  free(w->nodes); free(w->names); free(w->tmp);
  free(w->records); free(w->site_live); free(w->live_in); free(w->refs); free(w->masks);
  free(w->kinds); free(w->special);
  w->kinds = NULL; w->special = NULL;
  w->nodes = NULL; w->names = NULL; w->tmp = NULL;
  w->records = NULL; w->site_live = NULL; w->live_in = NULL; w->refs = NULL; w->masks = NULL;
}

/* Fills w (inputs set by the caller); w->status says how it went. On
   success with w->nsites == 0 there are no records (nothing to rewrite). */
void asyncpy_spine(BinaryenExpressionRef body, Walk *w) {
  init_kinds();
  w->status = read_tree(w, body);
  if (w->status == OK) w->status = number(w);
  if (w->status == OK && w->nsites) w->status = liveness(w);
  if (w->status == OK && w->nsites) w->status = output(w);
  free(w->nodes); free(w->names); free(w->tmp);
  w->nodes = NULL; w->names = NULL; w->tmp = NULL;
}

/* -- the analysis's scan: one pass over a body for the call-graph facts
   (asyncpy.binaryen.scan). Per expression only counters and bitmaps; the
   expressions the analysis reads details of (calls, indirect calls,
   ref.func, table writes) are listed with those details, in the order the
   Python scan meets them (a stack: pop, then push the children in
   order), so the facts come out identical. */

typedef struct {
  uint64_t ref, name, params, results;   /* name: call target, ref.func target or table */
  int32_t kind, is_return;
} Event;

typedef struct {
  int32_t status, detail, node_count, has_try, v128, nevents;
  Event *events;               /* all but direct calls */
  int32_t ncalls, nreturn_calls;
  uint64_t *calls, *return_calls;   /* direct call targets, in order */
  uint8_t kinds[512];          /* kinds present */
  uint8_t unary_ops[1024];     /* unary ops present */
  int32_t nkinds, nops;        /* the same as lists, for Python */
  int32_t kind_list[512], op_list[1024];
} Scan;

void asyncpy_scan_free(Scan *s) {
  free(s->events); free(s->calls); free(s->return_calls);
  s->events = NULL; s->calls = s->return_calls = NULL;
}

void asyncpy_scan(BinaryenExpressionRef body, Scan *s) {
  init_kinds();
  Walk w;
  memset(&w, 0, sizeof w);
  int32_t sp = 0, cap = 0, ecap = 0, ccap = 0, rcap = 0;
  BinaryenExpressionRef *stack = NULL;
  s->status = OK;
  if (!body) return;
  if (!grow((void **)&stack, &cap, 1, sizeof *stack)) { s->status = E_MEMORY; return; }
  stack[sp++] = body;
  BinaryenType v128 = BinaryenTypeVec128();
  while (sp) {
    BinaryenExpressionRef e = stack[--sp];
    int32_t k = (int32_t)BinaryenExpressionGetId(e);
    s->node_count++;
    if (k >= 0 && k < 512) s->kinds[k] = 1;
    int32_t n = 0;
    int r = push_children(&w, e, k, &n);
    if (r < 0) { s->status = E_UNSUPPORTED; s->detail = k; break; }
    if (r == 0 || !grow((void **)&stack, &cap, sp + n, sizeof *stack)) { s->status = E_MEMORY; break; }
    for (int32_t j = 0; j < n; j++) stack[sp++] = w.tmp[j];
    if (k == K_Unary) {
      int32_t op = BinaryenUnaryGetOp(e);
      if (op >= 0 && op < 1024) s->unary_ops[op] = 1;
      continue;
    }
    if ((k == K_Const || k == K_Load) && BinaryenExpressionGetType(e) == v128) { s->v128 = 1; continue; }
    if (k == K_Try) { s->has_try = 1; continue; }
    if (k == K_Call) {
      uint64_t target = (uint64_t)(uintptr_t)BinaryenCallGetTarget(e);
      int ok = BinaryenCallIsReturn(e)
        ? grow((void **)&s->return_calls, &rcap, s->nreturn_calls + 1, sizeof(uint64_t))
        : grow((void **)&s->calls, &ccap, s->ncalls + 1, sizeof(uint64_t));
      if (!ok) { s->status = E_MEMORY; break; }
      if (BinaryenCallIsReturn(e)) s->return_calls[s->nreturn_calls++] = target;
      else s->calls[s->ncalls++] = target;
      continue;
    }
    if (k != K_Call && k != K_CallIndirect && k != K_CallRef && k != K_RefFunc &&
        k != K_TableSet && k != K_TableGrow) continue;
    if (!grow((void **)&s->events, &ecap, s->nevents + 1, sizeof *s->events)) { s->status = E_MEMORY; break; }
    Event *ev = &s->events[s->nevents++];
    memset(ev, 0, sizeof *ev);
    ev->ref = (uint64_t)(uintptr_t)e;
    ev->kind = k;
    if (k == K_CallIndirect) {
      ev->name = (uint64_t)(uintptr_t)BinaryenCallIndirectGetTable(e);
      ev->params = BinaryenCallIndirectGetParams(e);
      ev->results = BinaryenCallIndirectGetResults(e);
      ev->is_return = BinaryenCallIndirectIsReturn(e);
    } else if (k == K_CallRef) {
      ev->is_return = BinaryenCallRefIsReturn(e);
    } else if (k == K_RefFunc) {
      ev->name = (uint64_t)(uintptr_t)BinaryenRefFuncGetFunc(e);
    } else if (k == K_TableSet) {
      ev->name = (uint64_t)(uintptr_t)BinaryenTableSetGetTable(e);
    } else {
      ev->name = (uint64_t)(uintptr_t)BinaryenTableGrowGetTable(e);
    }
  }
  free(stack);
  free(w.tmp);
  for (int32_t i = 0; i < 512; i++) if (s->kinds[i]) s->kind_list[s->nkinds++] = i;
  for (int32_t i = 0; i < 1024; i++) if (s->unary_ops[i]) s->op_list[s->nops++] = i;
}
