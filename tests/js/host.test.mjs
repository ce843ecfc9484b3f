// node --test tests/js/host.test.mjs, with ASYNCPY_JS_FIXTURES=DIR holding
// the modules tests/test_js_host.py prepares (transformed by asyncpy).
// What the shared scenarios do not cover: multi-value zeros, buffers,
// refusals with a clear error, poll_oneoff's clock rules, JSPI's absence.
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { Instance, HostError, InstanceBroken, JspiInstance, hasJspi, moduleInfo, loadBytes, growMemory }
  from "../../asyncpy/js/asyncpy.mjs";

const DIR = process.env.ASYNCPY_JS_FIXTURES;
const file = (name) => join(DIR, name);
const later = (v) => new Promise((r) => setTimeout(() => r(v), 1));

test("moduleInfo reads import and export types", async () => {
  const info = moduleInfo(await loadBytes(file("multi.wasm")));
  const pair = info.imports.find((i) => i.name === "pair");
  assert.deepEqual(pair.type, { params: ["i32"], results: ["i32", "i64"] });
  assert.deepEqual(info.exports.get("sum").type, { params: ["i32"], results: ["i64"] });
  assert.deepEqual(info.exports.get("asyncify_start_unwind").type.params, ["i32"]);
});

test("a multi-value import pauses: its zeros are [0, 0n] while unwinding", async () => {
  const calls = [];
  const inst = await Instance.create(file("multi.wasm"), {
    env: { pair: (n) => { calls.push(n); return later([n + 1, BigInt(n) * 10n]); } },
  });
  assert.equal(await inst.call("sum", 4), 4n * 10n + 5n + 5n * 10n + 6n);
  assert.deepEqual(calls, [4, 5]);
  assert.equal(inst.pauses["env.pair"], 2);
});

test("a caller-given buffer is used; the guest's memory does not grow", async () => {
  let pagesBefore;
  const inst = await Instance.create(file("multi.wasm"), { env: { pair: (n) => later([n, 0n]) } }, {
    buffer: (i) => { const old = growMemory(i.memory, 1); pagesBefore = old + 1; return [old * 65536, 65536]; },
  });
  assert.equal(await inst.call("sum", 1), 3n);
  assert.equal(inst.memory.buffer.byteLength / 65536, pagesBefore);
});

test("a buffer too small to hold the struct is refused", async () => {
  await assert.rejects(Instance.create(file("multi.wasm"), { env: { pair: (n) => [n, 0n] } }, { buffer: [1024, 8] }),
    (e) => e instanceof HostError && /too small/.test(e.message));
});

test("a buffer too small for the frames breaks the instance, clearly", async () => {
  const inst = await Instance.create(file("multi.wasm"), { env: { pair: (n) => later([n, 0n]) } },
    { buffer: [1024, 24] });
  await assert.rejects(inst.call("sum", 1), (e) => e instanceof WebAssembly.RuntimeError);
  assert.match(inst.broken, /during an unwind/);
  await assert.rejects(inst.call("sum", 1), InstanceBroken);
});

test("refusals: a missing import, a Promise from an uninstrumented module", async () => {
  await assert.rejects(Instance.create(file("plain.wasm"), {}),
    (e) => e instanceof HostError && /imports env.pause, which was not given/.test(e.message));
  const inst = await Instance.create(file("plain.wasm"), { env: { pause: async (n) => n } });
  await assert.rejects(inst.call("f"), (e) => e instanceof HostError && /not instrumented/.test(e.message));
  const sync = await Instance.create(file("plain.wasm"), { "env.pause": (n) => n + 5 });
  assert.equal(await sync.call("f"), 6);
  await assert.rejects(sync.call("nope"), (e) => e instanceof HostError && /no exported function/.test(e.message));
});

test("a Promise outside the driver (a direct export call) is refused", async () => {
  const inst = await Instance.create(file("multi.wasm"), { env: { pair: (n) => later([n, 0n]) } });
  assert.throws(() => inst.exports.sum(1), (e) => e instanceof HostError && /did not go through/.test(e.message));
});

// poll.wasm: poll(n) polls n subscriptions at 1024, events at 2048, nevents at 4000
async function poll(subs) {
  const inst = await Instance.create(file("poll.wasm"), {});
  const mem = new Uint8Array(inst.memory.buffer);
  subs.forEach((s, i) => mem.set(s, 1024 + 48 * i));
  const t0 = performance.now();
  const errno = await inst.call("poll", subs.length);
  const elapsed = performance.now() - t0;
  const v = new DataView(inst.memory.buffer);
  const n = v.getUint32(4000, true);
  const events = Array.from({ length: n }, (_, i) =>
    [Number(v.getBigUint64(2048 + 32 * i, true)), v.getUint16(2048 + 32 * i + 8, true), v.getUint8(2048 + 32 * i + 10)]);
  return { errno, events, elapsed, inst };
}

function clockSub(userdata, clockId, timeout, flags = 0) {
  const b = new Uint8Array(48), v = new DataView(b.buffer);
  v.setBigUint64(0, BigInt(userdata), true);
  v.setUint32(16, clockId, true);
  v.setBigUint64(24, BigInt(timeout), true);
  v.setUint16(40, flags, true);
  return b;
}

function fdSub(userdata, tag, fd) {
  const b = new Uint8Array(48), v = new DataView(b.buffer);
  v.setBigUint64(0, BigInt(userdata), true);
  b[8] = tag;
  v.setUint32(16, fd, true);
  return b;
}

test("poll_oneoff: fd subscriptions are ready at once, no pause", async () => {
  const r = await poll([clockSub(7, 1, 10n ** 10n), fdSub(8, 2, 1), fdSub(9, 1, 0)]);
  assert.deepEqual([r.errno, r.events], [0, [[8, 0, 2], [9, 0, 1]]]);
  assert.deepEqual(r.inst.pauses, {});
});

test("poll_oneoff: relative and absolute clocks wait on timers, never early", async () => {
  let r = await poll([clockSub(1, 1, 30_000_000), clockSub(2, 1, 10n ** 10n)]);
  assert.deepEqual([r.errno, r.events], [0, [[1, 0, 0]]]);
  assert.ok(r.elapsed >= 29, `waited ${r.elapsed} ms`);
  assert.deepEqual(r.inst.pauses, { "wasi_snapshot_preview1.poll_oneoff": 1 });
  const deadline = BigInt(Math.round((performance.timeOrigin + performance.now()) * 1e6)) + 30_000_000n;
  r = await poll([clockSub(3, 0, deadline, 1)]);                 // realtime, absolute
  assert.deepEqual(r.events, [[3, 0, 0]]);
  assert.ok(BigInt(Math.round((performance.timeOrigin + performance.now()) * 1e6)) >= deadline);
  r = await poll([clockSub(4, 1, 0, 1)]);                        // absolute, in the past
  assert.deepEqual([r.events, r.inst.pauses], [[[4, 0, 0]], {}]);
  r = await poll([clockSub(5, 99, 0)]);                          // unknown clock
  assert.deepEqual(r.events, [[5, 28, 0]]);
});

test("the sleeps of ten instances overlap", async () => {
  const order = [];
  await Promise.all(Array.from({ length: 10 }, async (_, i) => {
    const inst = await Instance.create(file("poll.wasm"), {});
    new Uint8Array(inst.memory.buffer).set(clockSub(1, 1, 50_000_000), 1024);
    order.push("start");
    await inst.call("poll", 1);
    order.push("end");
  }));
  assert.deepEqual(order, [...Array(10).fill("start"), ...Array(10).fill("end")]);
});

test("JSPI: a clear error where the engine has none", { skip: hasJspi() && "this engine has JSPI" }, async () => {
  await assert.rejects(JspiInstance.create(file("plain.wasm"), {}), (e) => e instanceof HostError && /no JSPI/.test(e.message));
});

// The task runtime's host-wait protocol: server.wasm is tests/scenarios/server.wat
// transformed as scenarios.json says (present once issue 13's runtime is in the tree).
const SERVER = process.env.ASYNCPY_JS_SERVER;
const noServer = !SERVER && "no protocol module (tests/scenarios/server.wat with the host-wait runtime)";
const serverImports = (backend) => ({ env: { log: () => {}, backend } });

test("protocol: more calls than maxCalls is a TooManyCalls error, before entering the module",
  { skip: noServer }, async () => {
    const { TooManyCalls } = await import("../../asyncpy/js/asyncpy.mjs");
    const inst = await Instance.create(SERVER, serverImports((x) => later(2 * x + 1)), { maxCalls: 2 });
    assert.equal(inst.tasks, true);
    const a = inst.call("handle", 1), b = inst.call("handle", 2);
    await assert.rejects(inst.call("handle", 3), (e) => e instanceof TooManyCalls && /maxCalls=2/.test(e.message));
    assert.deepEqual(await Promise.all([a, b]), [3, 5]);
    assert.equal(await inst.call("handle", 3), 7);        // free again
    assert.equal(inst.inFlight, 0);
  });

test("protocol: a task that overflows its stack is a clear error naming the size; the instance goes on",
  { skip: noServer }, async () => {
    const inst = await Instance.create(SERVER, serverImports((x) => later(2 * x + 1)));
    await assert.rejects(inst.call("hog", inst.stackSize + 4096),
      (e) => e instanceof HostError && e.message.includes(`${inst.stackSize} bytes per task`));
    assert.equal(inst.broken, null);
    assert.equal(await inst.call("handle", 4), 9);
  });

test("protocol: aborting one call cancels it alone; its late result is dropped",
  { skip: noServer }, async () => {
    let release;
    const gate = new Promise((r) => { release = r; });
    const inst = await Instance.create(SERVER, serverImports((x) => (x === 1 ? gate.then(() => 3) : later(2 * x + 1))));
    const controller = new AbortController();
    const a = inst.call("handle", 1, { signal: controller.signal });
    const b = inst.call("handle", 5);
    controller.abort(new Error("stop"));
    await assert.rejects(a, /stop/);
    assert.equal(await b, 11);
    release();
    await later();
    assert.equal(inst.inFlight, 0);
    assert.equal(inst.broken, null);
    assert.equal(await inst.call("add", 2, 3), 5);
  });
