// wasi.mjs: WASI preview 1, as far as a command needs it to print, read its
// arguments, sleep and exit, for browsers and node alike (no file system,
// no sockets). It mirrors asyncpy/host/wasi.py:
//
// * poll_oneoff: clock subscriptions (relative and absolute, realtime and
//   monotonic) wait on setTimeout and return a Promise, which the host turns
//   into a pause of the module; fd subscriptions are reported ready at once.
// * fd_write on 1 and 2: to a callback (decoded text, in the guest's order)
//   or, by default, line by line to the console.
// * fd_read on 0: from bytes (answered at once) or from an async source
//   (a pause).
// * clock_time_get, clock_res_get, args_*, environ_*, random_get,
//   sched_yield, fd_fdstat_get / fd_fdstat_set_flags / fd_close / fd_seek /
//   fd_prestat_* on the standard descriptors, proc_exit (throws WasiExit).
// * Any other preview 1 function the module imports answers ENOSYS, so that
//   a program that only probes for it still starts.
//
// Layouts (little-endian): subscription 48 bytes: userdata u64 @0, tag u8 @8
// (0 clock, 1 fd_read, 2 fd_write), clock {id u32 @16, timeout u64 @24,
// precision u64 @32, flags u16 @40 (bit 0: absolute)}, fd {fd u32 @16};
// event 32 bytes: userdata u64 @0, error u16 @8, type u8 @10, fd_readwrite
// {nbytes u64 @16, flags u16 @24}.

export const WASI = "wasi_snapshot_preview1";

export const ESUCCESS = 0, EBADF = 8, EINVAL = 28, ENOSYS = 52, ESPIPE = 70;
const SUB_SIZE = 48, EVENT_SIZE = 32;
const TAG_CLOCK = 0, TAG_FD_READ = 1, TAG_FD_WRITE = 2;
const ABSTIME = 1;
const ENCODER = new TextEncoder();

/** proc_exit(code): leaves the guest as this exception; runCommand() returns its code. */
export class WasiExit extends Error {
  constructor(code) {
    super(`exit with code ${code}`);
    this.name = "WasiExit";
    this.code = code;
  }
}

// Clocks in nanoseconds (BigInt). performance.now() is monotonic and shared
// by timers; realtime is the page's origin time plus it.
const monotonicNs = () => BigInt(Math.round(performance.now() * 1e6));
const realtimeNs = () => BigInt(Math.round((performance.timeOrigin + performance.now()) * 1e6));
const CLOCKS = { 0: realtimeNs, 1: monotonicNs, 2: monotonicNs, 3: monotonicNs };

const sleepMs = (ms) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

/**
 * An output sink from an option: a function (receives decoded text), null
 * (discard), or "console" (line by line to console.log / console.error).
 */
function sink(option, fd) {
  if (option === null) return { write() {}, flush() {} };
  const decoder = new TextDecoder();      // streaming: a UTF-8 sequence may span writes
  if (typeof option === "function") {
    return {
      write(bytes) { const t = decoder.decode(bytes, { stream: true }); if (t) option(t, bytes); },
      flush() { const t = decoder.decode(); if (t) option(t, new Uint8Array()); },
    };
  }
  const log = fd === 2 ? console.error : console.log;
  let pending = "";
  return {
    write(bytes) {
      pending += decoder.decode(bytes, { stream: true });
      let i;
      while ((i = pending.indexOf("\n")) >= 0) { log(pending.slice(0, i)); pending = pending.slice(i + 1); }
    },
    flush() { pending += decoder.decode(); if (pending) log(pending); pending = ""; },
  };
}

/** stdin from an option: null (empty), a string or bytes (read at once),
 * or an object with `async read(n)` returning at most n bytes (a pause). */
function source(option) {
  if (option == null) option = new Uint8Array();
  if (typeof option === "string") option = ENCODER.encode(option);
  if (option instanceof Uint8Array || option instanceof ArrayBuffer) {
    const data = new Uint8Array(option);
    let pos = 0;
    return { sync: true, read(n) { const c = data.subarray(pos, pos + n); pos += c.length; return c; } };
  }
  if (typeof option.read === "function") return { sync: false, read: (n) => option.read(n) };
  throw new TypeError("stdin: expected null, a string, bytes or an object with async read(n)");
}

/**
 * WASI for one instance. Options: args (["main"]), env ({}), stdout and
 * stderr ("console", null, or a function called with each write's text),
 * stdin (see source()). The host calls attach(getMemory) once the guest's
 * memory exists, and imports(names) for the functions the module imports.
 */
export class Wasi {
  constructor({ args = ["main"], env = {}, stdout = "console", stderr = "console", stdin = null } = {}) {
    this.args = args.map(String);
    this.env = Object.entries(env).map(([k, v]) => `${k}=${v}`);
    this.out = { 1: sink(stdout, 1), 2: sink(stderr, 2) };
    this.stdin = source(stdin);
    this.memory = () => { throw new Error("WASI call before the guest's memory is available"); };
  }

  attach(getMemory) { this.memory = getMemory; }

  flush() { for (const s of Object.values(this.out)) s.flush(); }

  view() { return new DataView(this.memory().buffer); }
  bytes(addr, len) { return new Uint8Array(this.memory().buffer, addr, len); }

  /** {name: function} for every preview 1 function in `names`. */
  imports(names) {
    const out = {};
    for (const name of names) {
      const impl = this[`wasi_${name}`];
      out[name] = impl ? impl.bind(this) : () => ENOSYS;
    }
    return out;
  }

  // -- arguments and environment
  _sizes(list, countPtr, sizePtr) {
    const v = this.view();
    v.setUint32(countPtr, list.length, true);
    v.setUint32(sizePtr, list.reduce((n, s) => n + ENCODER.encode(s).length + 1, 0), true);
    return ESUCCESS;
  }
  _strings(list, ptrs, buf) {
    for (const s of list) {
      const b = ENCODER.encode(s);
      this.view().setUint32(ptrs, buf, true);
      this.bytes(buf, b.length).set(b);
      this.bytes(buf + b.length, 1)[0] = 0;
      ptrs += 4;
      buf += b.length + 1;
    }
    return ESUCCESS;
  }
  wasi_args_sizes_get(c, s) { return this._sizes(this.args, c, s); }
  wasi_args_get(p, b) { return this._strings(this.args, p, b); }
  wasi_environ_sizes_get(c, s) { return this._sizes(this.env, c, s); }
  wasi_environ_get(p, b) { return this._strings(this.env, p, b); }

  // -- clocks and randomness
  wasi_clock_time_get(id, _precision, out) {
    const clock = CLOCKS[id];
    if (!clock) return EINVAL;
    this.view().setBigUint64(out, clock(), true);
    return ESUCCESS;
  }
  wasi_clock_res_get(id, out) {
    if (!CLOCKS[id]) return EINVAL;
    this.view().setBigUint64(out, 1000n, true);
    return ESUCCESS;
  }
  wasi_random_get(buf, len) {
    for (let off = 0; off < len; off += 65536)      // getRandomValues' limit per call
      crypto.getRandomValues(this.bytes(buf + off, Math.min(65536, len - off)));
    return ESUCCESS;
  }
  wasi_sched_yield() { return ESUCCESS; }
  wasi_proc_exit(code) { this.flush(); throw new WasiExit(code); }

  // -- the standard descriptors
  wasi_fd_write(fd, iovs, iovsLen, nwrittenPtr) {
    const out = this.out[fd];
    if (!out) return EBADF;
    let total = 0;
    for (let i = 0; i < iovsLen; i++) {
      const v = this.view();
      const addr = v.getUint32(iovs + 8 * i, true), len = v.getUint32(iovs + 8 * i + 4, true);
      if (len) out.write(this.bytes(addr, len).slice());
      total += len;
    }
    this.view().setUint32(nwrittenPtr, total, true);
    return ESUCCESS;
  }
  wasi_fd_read(fd, iovs, iovsLen, nreadPtr) {
    if (fd !== 0) return EBADF;
    const vecs = [];
    for (let i = 0; i < iovsLen; i++) {
      const v = this.view();
      vecs.push([v.getUint32(iovs + 8 * i, true), v.getUint32(iovs + 8 * i + 4, true)]);
    }
    const total = vecs.reduce((n, [, len]) => n + len, 0);
    const deliver = (data) => {
      let pos = 0;
      for (const [addr, len] of vecs) {
        if (pos >= data.length) break;
        const part = data.subarray(pos, pos + len);
        this.bytes(addr, part.length).set(part);
        pos += part.length;
      }
      this.view().setUint32(nreadPtr, pos, true);
      return ESUCCESS;
    };
    if (this.stdin.sync) return deliver(this.stdin.read(total));
    return Promise.resolve(this.stdin.read(total)).then((d) => deliver(new Uint8Array(d ?? [])));
  }
  wasi_fd_fdstat_get(fd, out) {
    if (fd > 2) return EBADF;
    const v = this.view();
    v.setUint8(out, 2);                  // character device
    v.setUint16(out + 2, 0, true);
    v.setBigUint64(out + 8, 0xffffffffffffffffn, true);
    v.setBigUint64(out + 16, 0xffffffffffffffffn, true);
    return ESUCCESS;
  }
  wasi_fd_fdstat_set_flags(fd) { return fd > 2 ? EBADF : ESUCCESS; }
  wasi_fd_close(fd) { return fd > 2 ? EBADF : ESUCCESS; }
  wasi_fd_seek(fd) { return fd > 2 ? EBADF : ESPIPE; }
  wasi_fd_prestat_get() { return EBADF; }            // no preopened directories
  wasi_fd_prestat_dir_name() { return EBADF; }

  // -- poll_oneoff(in, out, nsubscriptions, *nevents) -> errno
  wasi_poll_oneoff(inPtr, outPtr, nsubs, neventsPtr) {
    if (nsubs === 0) return EINVAL;
    const ready = [], clocks = [];          // events ready now; [deadline (monotonic ns), userdata]
    const now = monotonicNs();
    for (let i = 0; i < nsubs; i++) {
      const v = this.view(), at = inPtr + i * SUB_SIZE;
      const userdata = v.getBigUint64(at, true), tag = v.getUint8(at + 8);
      if (tag === TAG_CLOCK) {
        const id = v.getUint32(at + 16, true), timeout = v.getBigUint64(at + 24, true);
        const flags = v.getUint16(at + 40, true);
        const clock = CLOCKS[id];
        if (!clock) { ready.push([userdata, EINVAL, tag]); continue; }
        let deadline;
        if (!(flags & ABSTIME)) deadline = now + timeout;
        else if (id === 1) deadline = timeout;             // our monotonic clock is the deadlines' clock
        else deadline = monotonicNs() + (timeout - clock());
        clocks.push([deadline, userdata]);
      } else if (tag === TAG_FD_READ || tag === TAG_FD_WRITE) {
        // ready at once: a read that has to wait waits in fd_read, a write never waits
        ready.push([userdata, ESUCCESS, tag, 1n]);
      } else {
        ready.push([userdata, EINVAL, tag]);
      }
    }
    const expired = (t) => clocks.filter(([d]) => d <= t).map(([, u]) => [u, ESUCCESS, TAG_CLOCK]);
    const finish = (events) => {
      const v = this.view();
      events.forEach(([userdata, error, type, nbytes], i) => {
        const at = outPtr + i * EVENT_SIZE;
        for (let k = 0; k < EVENT_SIZE; k += 4) v.setUint32(at + k, 0, true);
        v.setBigUint64(at, userdata, true);
        v.setUint16(at + 8, error, true);
        v.setUint8(at + 10, type);
        if (type !== TAG_CLOCK) v.setBigUint64(at + 16, nbytes ?? 0n, true);
      });
      v.setUint32(neventsPtr, events.length, true);
      return ESUCCESS;
    };
    if (ready.length || !clocks.length) return finish([...ready, ...expired(now)]);
    const first = clocks.reduce((m, [d]) => (d < m ? d : m), clocks[0][0]);
    if (first <= now) return finish(expired(now));
    // A timer; it may fire a little early against performance.now() (the
    // timer clock is coarser), and a clock is never reported before its deadline.
    return (async () => {
      let left;
      do {
        await sleepMs(Math.ceil(Number(first - monotonicNs()) / 1e6));
        left = first - monotonicNs();
      } while (left > 0n);
      return finish(expired(monotonicNs()));
    })();
  }
}
