// node tests/js/run_scenarios.mjs MANIFEST.json: runs the shared scenarios
// on the JS host and prints JSON on stdout:
//   {"asyncify": {name: {events} | {skipped} | {error}},
//    "protocol": {name: {results, errors, cancelled, events, ...}} | null}
// MANIFEST: {"asyncify": [{scenario, wasm: path}], "protocol": {doc, wasm: path} | null}.
import { readFile } from "node:fs/promises";
import { runAll, runProtocolAll } from "./scenarios.mjs";

const manifest = JSON.parse(await readFile(process.argv[2], "utf8"));
const bytes = async (path) => new Uint8Array(await readFile(path));
const entries = [];
for (const { scenario, wasm } of manifest.asyncify) entries.push({ scenario, bytes: await bytes(wasm) });
const out = { asyncify: await runAll(entries), protocol: null };
if (manifest.protocol) out.protocol = await runProtocolAll(manifest.protocol.doc, await bytes(manifest.protocol.wasm));
process.stdout.write(JSON.stringify(out) + "\n");
