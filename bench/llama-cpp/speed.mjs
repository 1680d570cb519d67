// llama.cpp's prefill and decode speed on one GGUF file, through node-llama-cpp, driven line by line so the caller
// (quantsharp bench --vs-llama-cpp) can alternate runs with its own: every "run" line on stdin does one timed run and
// prints one JSON line; the model and context are loaded once.
//   node speed.mjs <node-llama-cpp install dir> <model.gguf> <threads> <prompt tokens> <decode tokens> <vocab>
// One run = clear the context → evaluate the prompt (P token ids, the same ids QuantSharp's SpeedBenchmark uses:
// 1 + (i·7919 mod (vocab − 1))) as one batch → decode G tokens one at a time, each the greedy (temperature 0) choice
// after the previous one. Through sequence.evaluate's generator: its first yield comes after the prompt's batch and the
// first sampled token (prefill time), every later yield after one single-token decode + sampling (decode time).
import {join} from "node:path";
import {pathToFileURL} from "node:url";
import {createInterface} from "node:readline";

const [dir, modelPath, threadsArg, promptArg, genArg, vocabArg] = process.argv.slice(2);
const threads = Number(threadsArg), promptTokens = Number(promptArg), gen = Number(genArg), vocab = Number(vocabArg);
const {getLlama} = await import(pathToFileURL(join(dir, "node_modules", "node-llama-cpp", "dist", "index.js")).href);
const llama = await getLlama({gpu: false, build: "never", maxThreads: threads, logLevel: "error"});
const model = await llama.loadModel({modelPath, useMmap: true});
const context = await model.createContext({contextSize: promptTokens + gen + 16, batchSize: Math.max(promptTokens, 1),
  threads: {ideal: threads, min: threads}});
const sequence = context.getSequence();
const prompt = Array.from({length: promptTokens}, (_, i) => 1 + ((i * 7919) % (vocab - 1)));

async function run() {
  await sequence.clearHistory();
  let n = 0, t0 = performance.now(), tFirst = 0, cpuFirst = null;
  for await (const _ of sequence.evaluate(prompt, {temperature: 0})) {
    if (n === 0) { tFirst = performance.now(); cpuFirst = process.cpuUsage(); }
    if (++n > gen) break;
  }
  const tEnd = performance.now();
  const cpu = process.cpuUsage(cpuFirst);
  return {prefillTokensPerSecond: promptTokens / ((tFirst - t0) / 1000), decodeTokensPerSecond: gen / ((tEnd - tFirst) / 1000),
    decodeCpuCores: (cpu.user + cpu.system) / 1000 / (tEnd - tFirst)};
}

await run(); // warm-up (page faults of the mapped weights, buffers)
console.log(JSON.stringify({ready: true, threads: context.currentThreads ?? threads}));
for await (const line of createInterface({input: process.stdin})) {
  if (line.trim() === "run") console.log(JSON.stringify(await run()));
  else if (line.trim() === "quit") break;
}
await context.dispose();
await model.dispose();
process.exit(0);
