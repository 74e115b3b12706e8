// Run gradwise's engine check (src/gradwise/playground/webapp/engine_check.py) on the Pyodide
// runtime of a built static site, in Node: node tests/static_engine.mjs OUT [EPOCHS] [RATE_S].
// Installs the site's NumPy wheel (through pyodide-lock.json) and its gradwise wheel, then
// prints one JSON object: versions, quick_start, spiral_fit, step_rate and the load time.
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";

const out = resolve(process.argv[2]);
const epochs = Number(process.argv[3] || 20);
const rateS = Number(process.argv[4] || 2);
const t0 = performance.now();
const { loadPyodide } = await import(pathToFileURL(out + "/pyodide.mjs").href);
const py = await loadPyodide({ indexURL: out + "/", stdout: (s) => process.stderr.write(s + "\n") });
await py.loadPackage("numpy", { messageCallback: () => {} });
const site = JSON.parse(readFileSync(out + "/site.json", "utf8"));
py.unpackArchive(new Uint8Array(readFileSync(out + "/" + site.gradwise_wheel)), "wheel");
py.FS.writeFile("/home/pyodide/engine_check.py", readFileSync(out + "/engine_check.py", "utf8"));
py.runPython("import sys; sys.path.insert(0, '/home/pyodide'); import engine_check, json");
const loadMs = performance.now() - t0;
const r = JSON.parse(py.runPython(`json.dumps({"versions": engine_check.versions(),
  "quick_start": engine_check.quick_start(), "spiral_fit": engine_check.spiral_fit(${epochs}),
  "step_rate": engine_check.step_rate(${rateS})})`));
r.load_ms = loadMs;
process.stdout.write(JSON.stringify(r) + "\n");
