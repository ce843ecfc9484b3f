// binary.mjs: the few facts about a wasm binary that the JS API does not
// give a host. WebAssembly.Module.imports() names the imports but not their
// types, and a paused import must return a zero of its result type (0, 0n,
// 0.0, null) while the stack unwinds; the asyncify control functions take an
// i32 or i64 pointer (memory64), which decides between a Number and a BigInt.
// So we read the type, import, function, memory and export sections, and
// skip everything else.

const TEXT = new TextDecoder();

export const I32 = "i32", I64 = "i64", F32 = "f32", F64 = "f64", V128 = "v128", REF = "ref";

class Reader {
  constructor(bytes, pos = 0, end = bytes.length) { this.b = bytes; this.pos = pos; this.end = end; }
  byte() {
    if (this.pos >= this.end) throw new Error("unexpected end of section");
    return this.b[this.pos++];
  }
  u32() {            // unsigned LEB128 (up to 35 bits is enough for every count and index here)
    let result = 0, shift = 0, b;
    do {
      b = this.byte();
      result += (b & 0x7f) * 2 ** shift;
      shift += 7;
    } while (b & 0x80);
    return result;
  }
  s33() {            // a heap type: a negative one-byte shorthand or a type index
    let result = 0, shift = 0, b;
    do {
      b = this.byte();
      result += (b & 0x7f) * 2 ** shift;
      shift += 7;
    } while (b & 0x80);
    return (b & 0x40) ? result - 2 ** shift : result;
  }
  name() {
    const n = this.u32();
    const s = TEXT.decode(this.b.subarray(this.pos, this.pos + n));
    this.pos += n;
    return s;
  }
  valType() {
    const t = this.byte();
    switch (t) {
      case 0x7f: return I32;
      case 0x7e: return I64;
      case 0x7d: return F32;
      case 0x7c: return F64;
      case 0x7b: return V128;
      case 0x63: case 0x64: this.s33(); return REF;    // (ref null? ht)
      default:
        if (t >= 0x69 && t <= 0x74) return REF;          // funcref, externref, anyref, ...
        throw new Error(`unknown value type 0x${t.toString(16)}`);
    }
  }
  limits() {
    const flags = this.byte();
    const min = this.u32();
    if (flags & 1) this.u32();
    return { is64: (flags & 4) !== 0, shared: (flags & 2) !== 0, min };
  }
}

// One entry of the type section; only function types matter to a host.
function readCompType(r, types) {
  const form = r.byte();
  if (form === 0x60) {
    const params = Array.from({ length: r.u32() }, () => r.valType());
    const results = Array.from({ length: r.u32() }, () => r.valType());
    types.push({ params, results });
  } else if (form === 0x5f) {            // struct
    for (let n = r.u32(); n > 0; n--) { r.valTypeOrPacked(); r.byte(); }
    types.push(null);
  } else if (form === 0x5e) {            // array
    r.valTypeOrPacked(); r.byte();
    types.push(null);
  } else {
    throw new Error(`unknown type form 0x${form.toString(16)}`);
  }
}
Reader.prototype.valTypeOrPacked = function () {
  const t = this.b[this.pos];
  if (t === 0x78 || t === 0x77) { this.pos++; return I32; }     // i8, i16
  return this.valType();
};

function readTypes(r, types) {
  for (let n = r.u32(); n > 0; n--) {
    const form = r.b[r.pos];
    if (form === 0x4e) {                 // rec group
      r.pos++;
      for (let k = r.u32(); k > 0; k--) readSubType(r, types);
    } else {
      readSubType(r, types);
    }
  }
}

function readSubType(r, types) {
  const form = r.b[r.pos];
  if (form === 0x50 || form === 0x4f) {  // sub / sub final
    r.pos++;
    for (let k = r.u32(); k > 0; k--) r.u32();
  }
  readCompType(r, types);
}

/**
 * What a host needs to know about a module:
 *   imports: [{module, name, kind: "function"|"table"|"memory"|"global"|"tag", type?, memory64?}]
 *   exports: Map name -> {kind, type?}  (type: {params, results} for functions)
 *   memories: [{is64, imported}] in index order
 */
export function moduleInfo(bytes) {
  bytes = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  if (bytes.length < 8 || bytes[0] !== 0 || bytes[1] !== 0x61 || bytes[2] !== 0x73 || bytes[3] !== 0x6d)
    throw new Error("not a WebAssembly binary (no \\0asm header)");
  if (bytes[4] !== 1 || bytes[5] !== 0 || bytes[6] !== 0 || bytes[7] !== 0)
    throw new Error("not a core WebAssembly module (a component, or another version)");
  const types = [], imports = [], funcTypes = [], memories = [], exports = new Map();
  const r = new Reader(bytes, 8);
  while (r.pos < bytes.length) {
    const id = r.byte();
    const size = r.u32();
    const end = r.pos + size;
    const s = new Reader(bytes, r.pos, end);
    if (id === 1) {
      readTypes(s, types);
    } else if (id === 2) {
      for (let n = s.u32(); n > 0; n--) {
        const module = s.name(), name = s.name(), kind = s.byte();
        if (kind === 0) {
          const type = types[s.u32()];
          funcTypes.push(type);
          imports.push({ module, name, kind: "function", type });
        } else if (kind === 1) {
          s.valType(); s.limits();
          imports.push({ module, name, kind: "table" });
        } else if (kind === 2) {
          const lim = s.limits();
          memories.push({ is64: lim.is64, imported: true });
          imports.push({ module, name, kind: "memory", memory64: lim.is64 });
        } else if (kind === 3) {
          s.valType(); s.byte();
          imports.push({ module, name, kind: "global" });
        } else if (kind === 4) {
          s.byte(); s.u32();
          imports.push({ module, name, kind: "tag" });
        } else {
          throw new Error(`unknown import kind ${kind}`);
        }
      }
    } else if (id === 3) {
      for (let n = s.u32(); n > 0; n--) funcTypes.push(types[s.u32()]);
    } else if (id === 5) {
      for (let n = s.u32(); n > 0; n--) memories.push({ is64: s.limits().is64, imported: false });
    } else if (id === 7) {
      for (let n = s.u32(); n > 0; n--) {
        const name = s.name(), kind = s.byte(), index = s.u32();
        const kinds = ["function", "table", "memory", "global", "tag"];
        const entry = { kind: kinds[kind] ?? "unknown", index };
        if (kind === 0) entry.type = funcTypes[index];
        if (kind === 2) entry.memory64 = memories[index]?.is64 ?? false;
        exports.set(name, entry);
      }
    }
    r.pos = end;
  }
  return { imports, exports, memories };
}

/** The value an unwinding import returns: a zero of each result type. */
export function zeroResult(type) {
  const zero = (t) => t === I64 ? 0n : t === REF ? null : 0;
  if (!type || type.results.length === 0) return undefined;
  if (type.results.length === 1) return zero(type.results[0]);
  return type.results.map(zero);
}
