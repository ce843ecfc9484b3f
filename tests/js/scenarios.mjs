// The JavaScript runner of the shared host scenarios (tests/scenarios/asyncify/*.json,
// format in its README.md). The Python runner is tests/scenario_host.py; both
// must produce the scenario's `events`, exactly. Runs in node and in a page.

import { Instance, HostError, Wasi } from "../../asyncpy/js/asyncpy.mjs";

export class Boom extends Error {
  constructor(message) { super(message); this.name = "Boom"; }
}

// Features a scenario may need, probed on this engine with tiny modules.
const PROBES = {
  // (module (memory 1) (memory 1))
  "multi-memory": [0, 97, 115, 109, 1, 0, 0, 0, 5, 5, 2, 0, 1, 0, 1],
  // (module (memory i64 1))
  "memory64": [0, 97, 115, 109, 1, 0, 0, 0, 5, 3, 1, 4, 1],
};

/** Why this engine cannot run the scenario, or null. */
export function unsupported(scenario) {
  for (const need of scenario.needs ?? []) {
    const probe = PROBES[need];
    if (!probe) return `unknown feature ${need}`;
    if (!WebAssembly.validate(new Uint8Array(probe))) return `this engine has no ${need}`;
  }
  return null;
}

export function fmt(v) {
  if (Array.isArray(v)) return v.map(fmt).join(", ");
  if (typeof v === "number" && !Number.isInteger(v)) return String(v);
  return String(v);
}

const tick = () => new Promise((r) => setTimeout(r, 0));

function deferred() {
  let resolve;
  const promise = new Promise((r) => { resolve = r; });
  return { promise, resolve };
}

/** Run the steps on asyncpy.mjs's Instance; resolve to the events. */
export async function runScenario(scenario, bytes) {
  const events = [];
  const gates = new Map();
  const raised = [];
  const gate = (key) => {
    if (!gates.has(key)) gates.set(key, { requested: deferred(), released: deferred() });
    return gates.get(key);
  };

  const makeImport = (qual, spec) => (...args) => {
    const key = `${qual}(${fmt(args)})`;
    events.push(`import ${key}`);
    let value = spec.const ?? 0;
    if ("add" in spec) value = typeof args[0] === "bigint" ? args[0] + BigInt(spec.add) : args[0] + spec.add;
    const fail = args.length > 0 && (spec.raise_on ?? []).some((x) => String(x) === String(args[0]));
    const outcome = () => {
      if (fail) {
        const e = new Boom(key);
        raised.push(e);
        throw e;
      }
      return value;
    };
    if (spec.gate) {
      const g = gate(key);
      g.requested.resolve();
      return g.released.promise.then(outcome);
    }
    if (spec.async) return tick().then(outcome);
    return outcome();
  };

  const pending = { 1: "", 2: "" };
  const output = (fd) => (text) => {
    pending[fd] += text;
    let i;
    while ((i = pending[fd].indexOf("\n")) >= 0) {
      events.push((fd === 1 ? "out: " : "err: ") + pending[fd].slice(0, i));
      pending[fd] = pending[fd].slice(i + 1);
    }
  };

  const imports = {};
  for (const [q, spec] of Object.entries(scenario.imports ?? {})) imports[q] = makeImport(q, spec);
  const argv = scenario.steps.find((s) => s.run_command)?.run_command ?? ["main"];
  const wasi = new Wasi({ args: argv, stdout: output(1), stderr: output(2) });
  const inst = await Instance.create(bytes, imports, { wasi });
  const i64Params = (name) => (inst.info.exports.get(name)?.type?.params ?? []);
  const convert = (name, args) => args.map((a, k) => (i64Params(name)[k] === "i64" ? BigInt(a) : a));
  const started = new Map();

  const finish = async (name, promise) => {
    try {
      const result = await promise;
      events.push(`return ${name} ${fmt(result)}`);
    } catch (e) {
      if (e instanceof Boom) {
        events.push(`error ${name} Boom: ${e.message}${raised.includes(e) ? "" : " (not the raised object)"}`);
      } else if (e instanceof HostError) {
        events.push(`error ${name} ${e.name}`);
      } else {
        throw e;
      }
    }
  };

  for (const step of scenario.steps) {
    if (step.initialize) {
      events.push("initialize");
      await inst.initialize();
    } else if (step.call) {
      const args = step.args ?? [];
      events.push(`call ${step.call}(${fmt(args)})`);
      await finish(step.call, inst.call(step.call, ...convert(step.call, args)));
    } else if (step.start) {
      const args = step.args ?? [];
      events.push(`start ${step.start}(${fmt(args)})`);
      const p = inst.call(step.start, ...convert(step.start, args));
      p.catch(() => {});
      started.set(step.as, [step.start, p]);
      await null;
    } else if (step.await) {
      const [name, p] = started.get(step.await);
      started.delete(step.await);
      await finish(name, p);
    } else if (step.until_import) {
      await gate(step.until_import).requested.promise;
    } else if (step.release) {
      events.push(`release ${step.release}`);
      gate(step.release).released.resolve();
    } else if (step.pauses) {
      const p = Object.entries(inst.pauses).filter(([, v]) => v).map(([k, v]) => `${k}=${v}`).sort();
      events.push("pauses " + (p.length ? p.join(" ") : "none"));
    } else if (step.run_command) {
      events.push("run " + step.run_command.join(" "));
      events.push(`exit ${await inst.runCommand()}`);
    } else {
      throw new Error(`${scenario.name}: unknown step ${JSON.stringify(step)}`);
    }
  }
  return events;
}

/** Run every entry of [{scenario, bytes}]: {name: {events} | {skipped} | {error}}. */
export async function runAll(entries) {
  const results = {};
  for (const { scenario, bytes } of entries) {
    const why = unsupported(scenario);
    if (why) { results[scenario.name] = { skipped: why }; continue; }
    try {
      results[scenario.name] = { events: await runScenario(scenario, bytes) };
    } catch (e) {
      results[scenario.name] = { error: `${e.name}: ${e.message}\n${e.stack ?? ""}` };
    }
  }
  return results;
}

// --------------------------------------------------------------------------
// The host-wait protocol scenarios (tests/scenarios/scenarios.json, schema
// asyncpy.scenarios/1, written with issue 13; format in tests/scenarios/README.md):
// one program, env.log/env.backend imports, calls in flight at once.

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function protocolImports(kind, events) {
  const log = (k, v) => { events.push([k, v]); };
  const check = (x) => {
    if (x < 0) throw new Error(`backend failed: ${x}`);
    return 2 * x + 1;
  };
  // a barrier: the n-th backend operation (n = x div 10000) to arrive releases
  // every one waiting; calls that did not overlap would never pass it
  const barrier = [];
  const backendAsync = async (x) => {
    if (x < 0) {
      await null;
      check(x);
    }
    const n = Math.floor(x / 10000);
    if (n) {
      let release;
      const arrived = new Promise((r) => { release = r; });
      barrier.push(release);
      if (barrier.length >= n) for (const r of barrier) r();
      await arrived;
    }
    await sleep(x % 1000);
    return check(x);
  };
  return { env: { log, backend: kind === "async" ? backendAsync : check } };
}

/** Play one scenario on a fresh instance: {results, errors, cancelled, events, broken, inFlight}. */
export async function runProtocolScenario(sc, bytes) {
  const events = [];
  const inst = await Instance.create(bytes, protocolImports(sc.backend, events));
  await inst.initialize();
  const calls = new Map();          // id -> {promise, controller, outcome}
  for (const step of sc.steps) {
    if (step.call) {
      const controller = new AbortController();
      const entry = { controller, outcome: null };
      entry.promise = inst.call(step.call, ...step.args, { signal: controller.signal }).then(
        (value) => { entry.outcome = { value }; },
        (error) => { entry.outcome = controller.signal.aborted && error === controller.signal.reason
          ? { cancelled: true } : { error }; });
      calls.set(step.id, entry);
      await null;                   // let it enter the module, in step order
    } else if (step.wait) {
      await calls.get(step.wait).promise;
    } else if (step.cancel) {
      const entry = calls.get(step.cancel);
      entry.controller.abort();
      await entry.promise;
    } else {
      throw new Error(`${sc.name}: unknown step ${JSON.stringify(step)}`);
    }
  }
  await Promise.all([...calls.values()].map((c) => c.promise));
  const out = { results: {}, errors: {}, cancelled: [], events, broken: inst.broken, inFlight: inst.inFlight };
  for (const [id, { outcome }] of calls) {
    if (outcome.cancelled) out.cancelled.push(id);
    else if ("error" in outcome) out.errors[id] = outcome.error?.message ?? String(outcome.error);
    else out.results[id] = outcome.value === undefined ? null
      : typeof outcome.value === "bigint" ? Number(outcome.value) : outcome.value;
  }
  return out;
}

export async function runProtocolAll(doc, bytes) {
  const results = {};
  for (const sc of doc.scenarios) {
    try {
      results[sc.name] = await runProtocolScenario(sc, bytes);
    } catch (e) {
      results[sc.name] = { error: `${e.name}: ${e.message}\n${e.stack ?? ""}` };
    }
  }
  return results;
}
