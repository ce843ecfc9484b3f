// asyncpy.mjs: a JavaScript host (browsers and node) for modules made
// pausable by asyncpy, with the model of the Python host (asyncpy/host/).
// No build step, no dependencies: copy this folder (`asyncpy js --out DIR`).
//
//   import { Instance } from "./asyncpy.mjs";
//   const inst = await Instance.create(fetch("app.async.wasm"), {
//     env: { pause: async (n) => { await sleep(10); return n + 1; } },   // any import may return a Promise
//   });
//   await inst.initialize();                    // a reactor's _initialize, if any
//   const v = await inst.call("add_paused", 3, 4);   // exports are async
//   const code = await inst.runCommand();        // a WASI command's _start
//
// How a call runs (the protocol of Binaryen's Asyncify runtimes):
//
// 1. The driver calls the export.
// 2. An import that returns a thenable keeps it, calls
//    asyncify_start_unwind(ptr) and returns zeros; the instrumented callers
//    save their frames into the buffer and return.
// 3. The export returns in state 1: the driver calls asyncify_stop_unwind,
//    awaits the promise (the page, and other instances, run meanwhile), calls
//    asyncify_start_rewind(ptr) and calls the export again with the same
//    arguments.
// 4. The import is entered again in state 2: it calls asyncify_stop_rewind
//    and returns the awaited value, or throws the rejection, which leaves the
//    guest as an exception and reaches the awaiting caller as the same object
//    (as a synchronous import's throw does).
//
// Buffer (the {current, end} struct and the space after it):
// * a module transformed with --data-memory separate exports
//   asyncify_memory with the struct pre-initialised at address 0: the host
//   uses it and never touches the guest's memory (required for Go);
// * else options.buffer = [addr, size] (or a function of the instance
//   returning one): a region of the guest's memory the caller allocated;
// * else the host grows the guest's memory by one page and uses that page
//   (fine for wasi-libc, wrong for Go).
// wasm32 and memory64 both work (the pointer is a BigInt on memory64).
//
// A module that links asyncpy's task runtime (it exports asyncpy_suspend)
// speaks the host-wait protocol of docs/host-protocol.md, as the Python host
// does: an async import blocks only the task that called it, the module
// returns to the host when every task waits, real-time sleeps are timers,
// and any number of export calls are in flight at once (options.maxCalls,
// else TooManyCalls); a trailing {signal} argument of call() cancels that
// call alone. Any other module runs one call at a time: a second call while
// the first is paused throws InstanceBusy (the buffer holds one stack). A trap
// while unwinding or rewinding, or an unwind that saved nothing (the
// pausing import is not a pause point of the module), marks the instance
// broken: later calls throw InstanceBroken. An exception thrown by an
// import leaves the instance usable.
//
// WASI preview 1 (wasi.mjs) is supplied when the module imports it.
//
// JSPI: instantiateJspi() runs an *untransformed* module with the browser's
// JavaScript Promise Integration (WebAssembly.Suspending / promising,
// Chromium 137+), behind the same call()/runCommand() surface.

import { moduleInfo, zeroResult, I64 } from "./binary.mjs";
import { Wasi, WasiExit, WASI } from "./wasi.mjs";

export { Wasi, WasiExit, WASI, moduleInfo };

export const NORMAL = 0, UNWINDING = 1, REWINDING = 2;
export const SEPARATE_MEMORY = "asyncify_memory";
const PAGE = 65536;

export class HostError extends Error {
  constructor(message) { super(message); this.name = this.constructor.name; }
}
/** The instance was left in a state it cannot continue from. */
export class InstanceBroken extends HostError {}
/** A call was made while another call of the same instance is paused. */
export class InstanceBusy extends HostError {}
/** More export calls in flight on one instance than its maxCalls. */
export class TooManyCalls extends HostError {}

// The task runtime's host-wait protocol (docs/host-protocol.md).
export const HOST_MODE_IDLE_RETURN = 1;
export const DEFAULT_MAX_CALLS = 10000;
/** The clock of the runtime's real-time sleeps (asyncpy_host.clock_ms), in ms. */
export const clockMs = () => BigInt(Math.floor(performance.now()));

const isThenable = (r) => r !== null && (typeof r === "object" || typeof r === "function")
  && typeof r.then === "function";

/** Bytes from an ArrayBuffer, a typed array, a Response, a promise of one, a URL or a path (node). */
export async function loadBytes(source) {
  source = await source;
  if (source instanceof Uint8Array) return source;
  if (source instanceof ArrayBuffer) return new Uint8Array(source);
  if (ArrayBuffer.isView(source)) return new Uint8Array(source.buffer, source.byteOffset, source.byteLength);
  if (typeof Response !== "undefined" && source instanceof Response) {
    if (!source.ok) throw new HostError(`fetching ${source.url}: HTTP ${source.status}`);
    return new Uint8Array(await source.arrayBuffer());
  }
  if (typeof source === "string" || source instanceof URL) {
    const url = String(source);
    if (typeof process !== "undefined" && process.versions?.node && !/^https?:/.test(url)) {
      const { readFile } = await import("node:fs/promises");
      return new Uint8Array(await readFile(url.startsWith("file:") ? new URL(url) : url));
    }
    return loadBytes(fetch(url));
  }
  throw new HostError("expected wasm bytes, a Response, a URL or a path");
}

/** {"env": {"pause": f}} or {"env.pause": f} -> Map "env.pause" -> f */
function importTable(imports) {
  const table = new Map();
  for (const [key, value] of Object.entries(imports ?? {})) {
    if (typeof value === "function") {
      if (!key.includes(".")) throw new HostError(`import ${key}: give "module.name" or {module: {name: fn}}`);
      table.set(key, value);
    } else if (value && typeof value === "object" && !(value instanceof WebAssembly.Memory)
               && !(value instanceof WebAssembly.Table) && !(value instanceof WebAssembly.Global)) {
      for (const [name, fn] of Object.entries(value)) table.set(`${key}.${name}`, fn);
    } else {
      table.set(key, value);
    }
  }
  return table;
}

// Compiled modules and their facts, per bytes object: instantiating the same
// bytes again (many instances of one program) compiles once.
const COMPILED = new WeakMap();

async function compile(bytes) {
  let entry = COMPILED.get(bytes);
  if (!entry) {
    let info;
    try {
      info = moduleInfo(bytes);
    } catch (e) {
      throw new HostError(`cannot read the module: ${e.message}`);
    }
    entry = { info, module: WebAssembly.compile(bytes) };
    COMPILED.set(bytes, entry);
  }
  return { info: entry.info, module: await entry.module };
}

function wasiFor(option) {
  if (option instanceof Wasi) return option;
  return new Wasi(option === true || option == null ? {} : option);
}

/**
 * An instance whose imports may return Promises. Create it with
 * `await Instance.create(source, imports, {wasi, buffer})`.
 */
export class Instance {
  static async create(source, imports = {}, options = {}) {
    const { info, module } = await compile(await loadBytes(source));
    const inst = new Instance(module, info, imports, options);
    await inst._instantiate();
    return inst;
  }

  constructor(module, info, imports, options) {
    this.module = module;
    this.info = info;
    this.options = options;
    this.broken = null;            // why the instance cannot be used any more
    this.pauses = {};              // "module.name" -> number of pauses (unwinds) so far
    this._busy = false;
    this._pause = null;            // an import unwound: {importName, promise, outcome}
    this._resuming = null;         // rewinding into that import
    this._ready = false;
    // the task runtime's host-wait protocol (docs/host-protocol.md)
    this.tasks = false;
    this.maxCalls = options.maxCalls ?? DEFAULT_MAX_CALLS;
    this._calls = new Map();       // pending export calls by task handle: {name, resolve, reject, results}
    this._ops = new Map();         // host operations by waiting task: a token per operation
    this._opNames = new Map();
    this._outcomes = new Map();    // completed, not yet delivered: {value} or {error}
    this._readyTasks = [];         // tasks to resume at the next drive
    this._driveScheduled = false;
    this._timer = null;
    this._timerAt = -1;
    this._freeWaiters = [];
    this._entering = 0;            // calls entered but not yet registered (see _callTask)
    this._table = importTable(imports);
    const usesWasi = info.imports.some((i) => i.module === WASI);
    const wasiOpt = options.wasi ?? usesWasi;
    this.wasi = wasiOpt ? wasiFor(wasiOpt) : null;
  }

  async _instantiate() {
    const wasiFns = this.wasi
      ? this.wasi.imports(this.info.imports.filter((i) => i.module === WASI && i.kind === "function")
        .map((i) => i.name))
      : {};
    const importObject = {};
    for (const imp of this.info.imports) {
      const q = `${imp.module}.${imp.name}`;
      let value = this._table.has(q) ? this._table.get(q) : (imp.module === WASI ? wasiFns[imp.name] : undefined);
      if (value === undefined && q === "asyncpy_host.clock_ms") value = clockMs;
      if (value === undefined) throw new HostError(`the module imports ${q}, which was not given`);
      if (imp.kind === "function") {
        if (typeof value !== "function") throw new HostError(`import ${q} must be a function`);
        value = this._wrap(q, value, imp.type);
      }
      (importObject[imp.module] ??= {})[imp.name] = value;
    }
    this.instance = await WebAssembly.instantiate(this.module, importObject);
    this.exports = this.instance.exports;
    const ex = this.exports;
    this.memory = ex.memory instanceof WebAssembly.Memory ? ex.memory
      : Object.entries(ex).find(([n, v]) => n !== SEPARATE_MEMORY && v instanceof WebAssembly.Memory)?.[1] ?? null;
    if (this.wasi) this.wasi.attach(() => this.memory);
    this.instrumented = typeof ex.asyncify_get_state === "function";
    if (this.instrumented) this._setupBuffer(this.options.buffer);
    if (this.instrumented && typeof ex.asyncpy_suspend === "function") {
      this.tasks = true;
      this.stackSize = ex.asyncpy_stack_size();
      ex.asyncpy_host_mode(HOST_MODE_IDLE_RETURN);
    }
    this._ready = true;
    // exports as async functions: inst.api.add(1, 2)
    this.api = {};
    for (const [name, v] of Object.entries(ex))
      if (typeof v === "function") this.api[name] = (...args) => this.call(name, ...args);
  }

  // -- buffer
  _setupBuffer(buffer) {
    const ex = this.exports;
    const ptrType = this.info.exports.get("asyncify_start_unwind")?.type?.params?.[0];
    this._ptrSize = ptrType === I64 ? 8 : 4;
    this._ptr = (n) => (this._ptrSize === 8 ? BigInt(n) : n);
    if (ex[SEPARATE_MEMORY] instanceof WebAssembly.Memory) {
      const mem = ex[SEPARATE_MEMORY];
      const v = new DataView(mem.buffer);
      this._data = { mem, addr: 0, start: v.getUint32(0, true), end: v.getUint32(4, true) };
      this._ptrSize = 4;
      return;
    }
    if (!this.memory)
      throw new HostError("the module has no exported memory for the asyncify buffer " +
                          "(transform it with --data-memory separate)");
    if (typeof buffer === "function") buffer = buffer(this);
    if (buffer == null) {
      let old;
      try {
        old = growMemory(this.memory, 1);
      } catch (e) {
        throw new HostError(`cannot grow the guest's memory for the asyncify buffer (${e.message}); ` +
                            "pass buffer: [addr, size] or transform with --data-memory separate");
      }
      buffer = [old * PAGE, PAGE];
    }
    const [addr, size] = buffer.map(Number);
    const ps = this._ptrSize;
    if (size < 2 * ps + 16) throw new HostError(`buffer of ${size} bytes is too small`);
    this._data = { mem: this.memory, addr, start: addr + 2 * ps, end: addr + size };
  }

  _resetStruct() {
    const { mem, addr, start, end } = this._data;
    const v = new DataView(mem.buffer);
    if (this._ptrSize === 8) {
      v.setBigUint64(addr, BigInt(start), true);
      v.setBigUint64(addr + 8, BigInt(end), true);
    } else {
      v.setUint32(addr, start, true);
      v.setUint32(addr + 4, end, true);
    }
  }

  _savedBytes() {
    const { mem, addr, start } = this._data;
    const v = new DataView(mem.buffer);
    const cur = this._ptrSize === 8 ? Number(v.getBigUint64(addr, true)) : v.getUint32(addr, true);
    return cur - start;
  }

  // -- state
  state() { return this.instrumented ? this.exports.asyncify_get_state() : NORMAL; }

  _break(why, error = null) {
    if (this.broken === null) this.broken = why;
    const p = this._pause;
    this._pause = null;
    this._resuming = null;
    if (p) p.promise.then(undefined, () => {});     // nobody awaits it any more
    const calls = [...this._calls.values()];
    this._calls.clear();
    for (const c of calls) c.reject(error ?? new InstanceBroken(`the instance cannot be used any more: ${why}`));
    this._ops.clear();
    this._outcomes.clear();
    this._readyTasks = [];
    if (this._timer !== null) clearTimeout(this._timer);
    this._timer = null;
  }

  _checkUsable() {
    if (this.broken !== null) throw new InstanceBroken(`the instance cannot be used any more: ${this.broken}`);
  }

  // -- imports
  _wrap(qualname, fn, type) {
    const dummy = zeroResult(type);
    const self = this;
    return function (...args) {
      if (self._resuming !== null) return self._finishRewind(qualname);
      if (self.tasks && self._ready && self.state() === REWINDING) return self._finishTaskRewind(qualname);
      if (self._ready && self.instrumented) {
        const st = self.state();
        if (st !== NORMAL) {
          const why = `import ${qualname} was called while the module is unwinding; the import that ` +
            `paused (${self._pause?.importName ?? "?"}) is not a pause point of this module ` +
            "(transform it with --imports naming it)";
          self._break(why);
          throw new InstanceBroken(why);
        }
      }
      const r = fn(...args);
      if (!isThenable(r)) return r;
      const refuse = (msg) => { Promise.resolve(r).then(undefined, () => {}); throw new HostError(msg); };
      if (!self._ready)
        refuse(`import ${qualname} returned a Promise during instantiation (the start function cannot pause)`);
      if (!self.instrumented)
        refuse(`import ${qualname} returned a Promise, but the module is not instrumented (no ` +
               `asyncify_get_state export): transform it with asyncpy transform --imports ${qualname}, ` +
               "or use instantiateJspi()");
      if (self.tasks) {
        let t;
        try {
          t = self.exports.asyncpy_suspend();
        } catch (e) {                  // e.g. the task's stack overflowed
          Promise.resolve(r).then(undefined, () => {});
          throw e;
        }
        if (t) {                       // only this task waits; the scheduler runs the others
          self._startOp(t, qualname, r);
          return dummy;
        }
        // not called from a task: pause the whole module (below)
      }
      if (!self._busy)
        refuse(`import ${qualname} returned a Promise in a call that did not go through the async ` +
               "driver (use `await instance.call(...)`)");
      if (self._pause !== null) refuse(`import ${qualname} paused twice in one unwind`);
      self._resetStruct();
      self._pause = { importName: qualname, promise: Promise.resolve(r), outcome: null };
      self.pauses[qualname] = (self.pauses[qualname] ?? 0) + 1;
      self.exports.asyncify_start_unwind(self._ptr(self._data.addr));
      return dummy;
    };
  }

  _finishRewind(qualname) {
    const p = this._resuming;
    if (p.importName !== qualname || this.state() !== REWINDING) {
      const why = `rewinding reached import ${qualname} in state ${this.state()}, but ${p.importName} paused`;
      this._break(why);
      throw new InstanceBroken(why);
    }
    this.exports.asyncify_stop_rewind();
    this._resuming = null;
    if ("error" in p.outcome) throw p.outcome.error;
    return p.outcome.value;
  }

  // -- the task runtime's host-wait protocol (docs/host-protocol.md)
  _startOp(t, qualname, thenable) {
    this.pauses[qualname] = (this.pauses[qualname] ?? 0) + 1;
    const token = {};
    this._ops.set(t, token);
    this._opNames.set(t, qualname);
    Promise.resolve(thenable).then((value) => this._opDone(t, token, { value }),
                                   (error) => this._opDone(t, token, { error }));
  }

  _opDone(t, token, outcome) {
    if (this._ops.get(t) !== token) return;        // cancelled with its call, or the instance broke
    this._ops.delete(t);
    this._outcomes.set(t, outcome);
    this._readyTasks.push(t);
    this._scheduleDrive();
  }

  _finishTaskRewind(qualname) {
    const t = this.exports.asyncpy_current();
    const outcome = this._outcomes.get(t);
    if (outcome === undefined || this._opNames.get(t) !== qualname) {
      const why = `a task was rewound into import ${qualname} without a result for it ` +
        `(it waited in ${this._opNames.get(t) ?? "no import"})`;
      this._break(why);
      throw new InstanceBroken(why);
    }
    this._outcomes.delete(t);
    this._opNames.delete(t);
    this.exports.asyncify_stop_rewind();
    if ("error" in outcome) throw outcome.error;
    return outcome.value;
  }

  _scheduleDrive() {
    if (!this._driveScheduled && this.broken === null) {
      this._driveScheduled = true;
      queueMicrotask(() => this._drive());
    }
  }

  // Deliver completed host operations and due sleeps: one scheduler run until
  // the module is idle again. Runs from the event loop (a microtask or a
  // timer), never inside another entry into the module.
  _drive() {
    this._driveScheduled = false;
    if (this.broken !== null || this._busy) return;   // a whole-module pause: driven again when it ends
    const ex = this.exports;
    const ready = this._readyTasks;
    this._readyTasks = [];
    for (const t of ready) {
      try {
        ex.asyncpy_resume(t);
      } catch (e) {
        this._break(`import ${this._opNames.get(t) ?? "?"} paused a task but nothing of it was saved: it is ` +
                    `not a pause point of this module (transform it with --imports naming it); ${e.message}`);
        return;
      }
    }
    try {
      ex.asyncpy_run();
    } catch (e) {
      this._afterTrap(e, false);
    }
    this._afterEntry();
  }

  // Hand finished pending calls their results; arm the timer for the
  // earliest real-time wake-up.
  _afterEntry() {
    if (this.broken !== null) return;
    const ex = this.exports;
    for (let t; (t = ex.asyncpy_take_done()) !== 0;) {
      const call = this._calls.get(t);
      this._calls.delete(t);
      const values = call ? call.results.map((type, j) => ex[`asyncpy_result_${type}`](t, j)) : [];
      ex.asyncpy_release(t);
      if (call) call.resolve(values.length === 0 ? undefined : values.length === 1 ? values[0] : values);
    }
    const deadline = Number(ex.asyncpy_deadline());
    if (deadline === this._timerAt) return;
    if (this._timer !== null) clearTimeout(this._timer);
    this._timer = null;
    this._timerAt = deadline;
    if (deadline >= 0) {
      // timers may fire a little early against performance.now(): a margin
      // saves a second round through the module
      const delay = Math.max(0, deadline - Number(clockMs())) + 1;
      this._timer = setTimeout(() => {
        this._timer = null;
        this._timerAt = -1;
        this._scheduleDrive();
      }, delay);
    }
  }

  // A trap came out of an entry with the state normal: find the task that
  // trapped, give the exception to its caller, make the module usable again.
  // Returns the handle of the entry's own call if it is still alive (pending
  // now), else null (the entry's caller gets the exception).
  _afterTrap(e, entryCall) {
    const ex = this.exports;
    const t = ex.asyncpy_recover();
    const pending = ex.asyncpy_call_pending();
    this._opNames.delete(t);
    this._outcomes.delete(t);
    if (t === -1) {
      this._break(`a trap in a re-entrant export call (${e.message}): the tasks below it are lost`, e);
      return null;
    }
    if (e instanceof WasiExit) {
      this._break(`the program exited (code ${e.code})`, e);
      return null;
    }
    const call = t ? this._calls.get(t) : undefined;
    if (call) {
      this._calls.delete(t);
      call.reject(this._explain(e));
      return pending || null;
    }
    if (t && (pending || !entryCall)) {
      // a task nobody awaits (started with asyncpy.go): who should see it is unknown
      this._break(`a background task trapped: ${e.message}`, e);
      return null;
    }
    if (pending) ex.asyncpy_cancel(pending);     // the trap was outside any task; the entry's call is alive
    return null;
  }

  _explain(e) {
    if (e instanceof WebAssembly.RuntimeError && /asyncpy\.rt\.trap\.stack_overflow/.test(e.stack ?? "")) {
      const err = new HostError(`a task overflowed its stack: ${this.stackSize} bytes per task (transform ` +
                                "with a bigger --task-stack)");
      err.cause = e;
      return err;
    }
    return e;
  }

  // Cancel one pending call: its host operation (its outcome is ignored) and its task.
  _cancelCall(t) {
    if (!this._calls.has(t) || this.broken !== null) return false;
    this._calls.delete(t);
    this._ops.delete(t);
    this._opNames.delete(t);
    this._outcomes.delete(t);
    this._readyTasks = this._readyTasks.filter((x) => x !== t);
    this.exports.asyncpy_cancel(t);
    this._afterEntry();
    return true;
  }

  _waitFree() {
    return new Promise((resolve) => this._freeWaiters.push(resolve));
  }

  _setFree() {
    this._busy = false;
    const waiters = this._freeWaiters;
    this._freeWaiters = [];
    for (const w of waiters) w();
    if (this.tasks && (this._readyTasks.length || this._timerAt >= 0)) this._scheduleDrive();
  }

  /** Export calls of this instance that are pending (task runtime). */
  get inFlight() { return this._calls.size; }

  // The control functions trap when the frames overran the buffer (current > end).
  _control(fn, name, ...args) {
    try {
      this.exports[fn](...args);
    } catch (e) {
      this._break(`a trap during ${fn === "asyncify_stop_unwind" ? "an unwind" : "a rewind"} in ${name} ` +
                  `(buffer too small, or a bug): ${e.message}`);
      throw e;
    }
  }

  // -- calls
  /**
   * Call export `name`; a pause awaits without blocking. Resolves to the
   * export's result (undefined for none, an array for several).
   *
   * With the task runtime, any number of calls may be in flight (up to
   * maxCalls), each its own task, and a trailing `{signal}` argument (an
   * AbortSignal) cancels that call only. Otherwise one call at a time.
   */
  async call(name, ...args) {
    let signal = null;
    const last = args[args.length - 1];
    if (last !== null && typeof last === "object" && "signal" in last) {
      signal = last.signal;
      args = args.slice(0, -1);
    }
    this._checkUsable();
    const func = this.exports?.[name];
    if (typeof func !== "function") throw new HostError(`the module has no exported function "${name}"`);
    if (signal?.aborted) throw signal.reason;
    if (this.tasks) return this._callTask(name, func, args, signal);
    if (this._busy)
      throw new InstanceBusy(`cannot call ${name}: another call of this instance is in progress ` +
                             "(one call at a time per instance)");
    return this._callWhole(name, func, args);
  }

  async _callTask(name, func, args, signal) {
    // Calls between entering and registering count too: a JS await always
    // yields, so a call registers its handle a microtask after it entered.
    const inFlight = this._calls.size + this._entering;
    if (inFlight >= this.maxCalls)
      throw new TooManyCalls(`cannot call ${name}: ${inFlight} calls are in flight on this ` +
                             `instance, its limit (maxCalls=${this.maxCalls})`);
    this._entering++;
    let t, done;
    try {
      while (this._busy) await this._waitFree();      // no await when free: the call enters at once
      this._checkUsable();
      if (signal?.aborted) throw signal.reason;
      try {
        const { result, pending } = await this._callWhole(name, func, args);
        t = pending;
        if (!t) {
          this._afterEntry();
          return result;
        }
      } catch (e) {
        if (!(e instanceof EntryTrap)) throw e;
        t = e.pending;
        this._afterEntry();
        if (t === null) throw this._explain(e.error);
      }
      const results = this.info.exports.get(name)?.type?.results ?? [];
      done = new Promise((resolve, reject) => this._calls.set(t, { name, resolve, reject, results }));
    } finally {
      this._entering--;
    }
    this._afterEntry();
    if (!signal) return done;
    if (signal.aborted) {                         // aborted while it entered
      done.catch(() => {});
      this._cancelCall(t);
      throw signal.reason;
    }
    const onAbort = () => { if (this._cancelCall(t)) cancelled.reject(signal.reason); };
    const cancelled = {};
    const aborted = new Promise((_, reject) => { cancelled.reject = reject; });
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      return await Promise.race([done, aborted]);
    } finally {
      signal.removeEventListener("abort", onAbort);
    }
  }

  async _callWhole(name, func, args) {
    this._busy = true;
    try {
      for (;;) {
        let result;
        try {
          result = func(...args);
        } catch (e) {
          if (this.instrumented && this.broken === null && this.state() !== NORMAL)
            this._break(`a trap during ${this.state() === UNWINDING ? "an unwind" : "a rewind"} in ${name} ` +
                        `(buffer too small, or a bug): ${e.message}`);
          this._pause = this._resuming = null;
          // The task runtime's registers (the trapped task, the pending call)
          // are read now: another call may enter before our caller resumes.
          if (this.tasks && this.broken === null) throw new EntryTrap(e, this._afterTrap(e, true));
          throw e;
        }
        if (!this.instrumented || this.state() === NORMAL) {
          if (this._pause !== null || this._resuming !== null) {
            this._break(`${name} returned normally with a pause pending`);
            throw new InstanceBroken(this.broken);
          }
          // as above: whether the call went pending is read before any other call enters
          return this.tasks ? { result, pending: this.exports.asyncpy_call_pending() } : result;
        }
        if (this.state() !== UNWINDING) {
          this._break(`${name} returned in state ${this.state()}`);
          throw new InstanceBroken(this.broken);
        }
        this._control("asyncify_stop_unwind", name);
        const p = this._pause;
        if (p === null) {
          this._break(`${name} unwound, but no import paused`);
          throw new InstanceBroken(this.broken);
        }
        if (this._savedBytes() <= 0) {
          this._break(`import ${p.importName} paused but nothing was saved: it is not a pause point ` +
                      "of this module (transform it with --imports naming it)");
          throw new InstanceBroken(this.broken);
        }
        try {
          p.outcome = { value: await p.promise };
        } catch (e) {                  // thrown in the guest at the import, then to our caller
          p.outcome = { error: e };
        }
        this._pause = null;
        this._resuming = p;
        this._control("asyncify_start_rewind", name, this._ptr(this._data.addr));
      }
    } finally {
      this._setFree();
    }
  }

  /** Run a WASI command's _start; resolve to its exit code. */
  runCommand() {
    return runWasiCommand(this);
  }

  /** A reactor: call _initialize (if exported). */
  async initialize() {
    if (typeof this.exports._initialize === "function") await this.call("_initialize");
  }
}

// A trap out of a task-runtime entry, with what the runtime said about it.
/** `_start` through either kind of instance (asyncify or JSPI): its exit
 * code, from proc_exit or 0 when it returns; buffered WASI output flushed. */
async function runWasiCommand(instance) {
  try {
    await instance.call("_start");
  } catch (e) {
    if (e instanceof WasiExit) return e.code;
    throw e;
  } finally {
    instance.wasi?.flush();
  }
  return 0;
}

class EntryTrap {
  constructor(error, pending) { this.error = error; this.pending = pending; }
}

/** memory.grow(n) for wasm32 and memory64 (whose JS API takes and returns BigInts). */
export function growMemory(memory, pages) {
  let old;
  try {
    old = memory.grow(pages);
  } catch (e) {
    if (!(e instanceof TypeError)) throw e;
    old = memory.grow(BigInt(pages));
  }
  return Number(old);
}

// --------------------------------------------------------------------------
// JSPI: the untransformed module, suspended by the engine itself

/** Whether this engine has JavaScript Promise Integration. */
export const hasJspi = () => typeof WebAssembly.Suspending === "function"
  && typeof WebAssembly.promising === "function";

// The WASI functions that may wait (the same pause points `asyncpy run` instruments).
export const WASI_PAUSE_IMPORTS = [`${WASI}.poll_oneoff`, `${WASI}.fd_read`];

const globMatcher = (patterns) => {
  const res = patterns.map((p) => new RegExp("^" + p.split("*").map((x) => x.replace(/[.+?^${}()|[\]\\]/g, "\\$&"))
    .join(".*") + "$"));
  return (name) => res.some((re) => re.test(name));
};

/**
 * The same surface as Instance (call, runCommand, initialize, api, pauses)
 * for an untransformed module under JSPI: the imports named by
 * options.suspending ("module.name" patterns, `*` wildcards; default: every
 * import outside WASI, plus WASI's poll_oneoff and fd_read) are
 * WebAssembly.Suspending, so they may return a Promise; every export called
 * through call() is promising. Chromium suspends at *every* call of a
 * Suspending import, even one that returns a plain value, so name only the
 * imports that can wait. Several calls may be in flight at once: each has
 * its own stack.
 */
export class JspiInstance {
  static async create(source, imports = {}, options = {}) {
    if (!hasJspi())
      throw new HostError("this engine has no JSPI (WebAssembly.Suspending / WebAssembly.promising)");
    const { info, module } = await compile(await loadBytes(source));
    const inst = new JspiInstance(info, imports, options);
    await inst._instantiate(module);
    return inst;
  }

  constructor(info, imports, options) {
    this.info = info;
    this.pauses = {};
    this.broken = null;
    this.instrumented = false;
    this._table = importTable(imports);
    this._suspends = options.suspending ? globMatcher(options.suspending)
      : (q) => !q.startsWith(`${WASI}.`) || WASI_PAUSE_IMPORTS.includes(q);
    const wasiOpt = options.wasi ?? info.imports.some((i) => i.module === WASI);
    this.wasi = wasiOpt ? wasiFor(wasiOpt) : null;
  }

  async _instantiate(module) {
    const wasiFns = this.wasi
      ? this.wasi.imports(this.info.imports.filter((i) => i.module === WASI && i.kind === "function")
        .map((i) => i.name))
      : {};
    const importObject = {};
    for (const imp of this.info.imports) {
      const q = `${imp.module}.${imp.name}`;
      let value = this._table.has(q) ? this._table.get(q) : (imp.module === WASI ? wasiFns[imp.name] : undefined);
      if (value === undefined) throw new HostError(`the module imports ${q}, which was not given`);
      if (imp.kind === "function" && this._suspends(q)) {
        const fn = value;
        value = new WebAssembly.Suspending((...args) => {
          const r = fn(...args);
          if (isThenable(r)) this.pauses[q] = (this.pauses[q] ?? 0) + 1;
          return r;
        });
      } else if (imp.kind === "function") {
        const fn = value;
        value = (...args) => {
          const r = fn(...args);
          if (isThenable(r)) {
            Promise.resolve(r).then(undefined, () => {});
            throw new HostError(`import ${q} returned a Promise, but it is not Suspending (name it in ` +
                                "options.suspending)");
          }
          return r;
        };
      }
      (importObject[imp.module] ??= {})[imp.name] = value;
    }
    this.instance = await WebAssembly.instantiate(module, importObject);
    this.exports = this.instance.exports;
    this.memory = this.exports.memory ?? null;
    if (this.wasi) this.wasi.attach(() => this.memory);
    this._promising = {};
    this.api = {};
    for (const [name, v] of Object.entries(this.exports)) {
      if (typeof v !== "function") continue;
      this._promising[name] = WebAssembly.promising(v);
      this.api[name] = (...args) => this.call(name, ...args);
    }
  }

  state() { return NORMAL; }

  /** As Instance.call; a trailing {signal} stops the wait (the suspended stack itself cannot be dropped). */
  async call(name, ...args) {
    const last = args[args.length - 1];
    const signal = last !== null && typeof last === "object" && "signal" in last ? last.signal : null;
    if (signal) args = args.slice(0, -1);
    const f = this._promising[name];
    if (!f) throw new HostError(`the module has no exported function "${name}"`);
    if (signal?.aborted) throw signal.reason;
    const result = f(...args);
    if (!signal) return result;
    result.catch(() => {});
    return Promise.race([result, new Promise((_, reject) =>
      signal.addEventListener("abort", () => reject(signal.reason), { once: true }))]);
  }

  /** Run a WASI command's _start; resolve to its exit code. */
  runCommand() {
    return runWasiCommand(this);
  }

  async initialize() {
    if (this._promising._initialize) await this.call("_initialize");
  }
}

/** instantiate(source, imports, {wasi, buffer, jspi}): an Instance, or with jspi: true a JspiInstance. */
export async function instantiate(source, imports = {}, options = {}) {
  return options.jspi ? JspiInstance.create(source, imports, options) : Instance.create(source, imports, options);
}

export const instantiateJspi = (source, imports = {}, options = {}) => JspiInstance.create(source, imports, options);

/** Instantiate a WASI command and run it; resolve to its exit code. */
export async function runCommand(source, { args, imports = {}, wasi = {}, jspi = false, buffer } = {}) {
  const w = wasi instanceof Wasi ? wasi : new Wasi({ ...wasi, ...(args ? { args } : {}) });
  const inst = await instantiate(source, imports, { wasi: w, buffer, jspi });
  return inst.runCommand();
}
