// The engine's Web Worker: Pyodide + NumPy + the gradwise wheel, all from this folder.
// Messages out: {type: "ready", versions, loadMs, resources}, {type: "epoch", ...numbers,
// stepsPerS}, {type: "rate", ...}, {type: "error", message}. In: {type: "train", epochs},
// {type: "rate", seconds}.
/* global loadPyodide */
"use strict";
const base = new URL("./", self.location.href).href;
importScripts(base + "pyodide.js");

let py = null;
const ready = (async () => {
  const t0 = performance.now();
  const site = await (await fetch(base + "site.json")).json();
  py = await loadPyodide({ indexURL: base });
  const tPyodide = performance.now();
  await py.loadPackage("numpy", { messageCallback: () => {}, errorCallback: (m) => { throw new Error(m); } });
  const tNumpy = performance.now();
  const wheel = await (await fetch(base + site.gradwise_wheel)).arrayBuffer();
  py.unpackArchive(wheel, "wheel");
  const check = await (await fetch(base + "engine_check.py")).text();
  py.FS.writeFile("/home/pyodide/engine_check.py", check);
  py.runPython("import sys; sys.path.insert(0, '/home/pyodide'); import engine_check, json; trainer = engine_check.Trainer()");
  const versions = JSON.parse(py.runPython("json.dumps(engine_check.versions())"));
  const resources = performance.getEntriesByType("resource").map((e) => ({
    name: e.name, transferSize: e.transferSize, encodedBodySize: e.encodedBodySize }));
  const t1 = performance.now();
  const phases = { pyodideMs: tPyodide - t0, numpyMs: tNumpy - tPyodide, gradwiseMs: t1 - tNumpy };
  postMessage({ type: "ready", versions, loadMs: t1 - t0, phases, resources });
})().catch((e) => postMessage({ type: "error", message: String(e && e.stack || e) }));

onmessage = async (ev) => {
  await ready;
  const msg = ev.data;
  try {
    if (msg.type === "train") {
      for (let i = 0; i < msg.epochs; i++) {
        const t = performance.now();
        const r = JSON.parse(py.runPython("json.dumps(trainer.epoch_step())"));
        const ms = performance.now() - t;
        postMessage({ type: "epoch", ...r, epochMs: ms, stepsPerS: 25 / (ms / 1000) });
      }
      postMessage({ type: "done" });
    } else if (msg.type === "rate") {
      const r = JSON.parse(py.runPython(`json.dumps(engine_check.step_rate(${Number(msg.seconds)}))`));
      postMessage({ type: "rate", ...r });
    }
  } catch (e) {
    postMessage({ type: "error", message: String(e && e.stack || e) });
  }
};
