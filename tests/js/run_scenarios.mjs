// node tests/js/run_scenarios.mjs MANIFEST.json: runs the shared scenarios
// listed in the manifest ([{scenario, wasm: path}]) on the JS host and prints
// {name: {events} | {skipped} | {error}} as JSON on stdout.
import { readFile } from "node:fs/promises";
import { runAll } from "./scenarios.mjs";

const manifest = JSON.parse(await readFile(process.argv[2], "utf8"));
const entries = [];
for (const { scenario, wasm } of manifest) entries.push({ scenario, bytes: new Uint8Array(await readFile(wasm)) });
process.stdout.write(JSON.stringify(await runAll(entries)) + "\n");
