// llama.cpp's perplexity (through node-llama-cpp) of GGUF models on fixed token windows, and optionally its decode speed.
//   node perplexity.mjs <node-llama-cpp install dir> <threads> <windows.json> <model.gguf>... [--decode N]
// windows.json: [[BOS, t1, …], …]; every window is evaluated from an empty context, and every token after the first is
// scored from the tokens before it (the same protocol as QuantSharp's PerplexityEvaluator: token ids are passed as they
// are, so no tokenizer and no implicit BOS is involved). Prints one JSON line per model.
// --decode N: also times N greedy tokens generated one at a time after the first window's first 8 tokens.
import {readFileSync} from "node:fs";
import {join} from "node:path";
import {pathToFileURL} from "node:url";

const args = process.argv.slice(2);
let decode = 0;
const di = args.indexOf("--decode");
if (di >= 0) { decode = Number(args[di + 1]); args.splice(di, 2); }
const [dir, threadsArg, windowsPath, ...models] = args;
const threads = Number(threadsArg);
const {getLlama} = await import(pathToFileURL(join(dir, "node_modules", "node-llama-cpp", "dist", "index.js")).href);
const windows = JSON.parse(readFileSync(windowsPath, "utf8"));
const ctx = Math.max(...windows.map(w => w.length));
const llama = await getLlama({gpu: false, build: "never", maxThreads: threads, logLevel: "error"});
for (const modelPath of models) {
  const model = await llama.loadModel({modelPath});
  const context = await model.createContext({contextSize: Math.max(ctx, decode + 16), threads: {ideal: threads, min: threads}, batchSize: ctx});
  const sequence = context.getSequence();
  let nll = 0, scored = 0;
  const t0 = performance.now();
  for (const w of windows) {
    await sequence.clearHistory();
    const out = await sequence.controlledEvaluate(w.map((t, i) => i < w.length - 1 ? [t, {generateNext: {probabilities: true}}] : t));
    for (let i = 0; i < w.length - 1; i++) {
      nll -= Math.log(out[i].next.probabilities.get(w[i + 1]));
      scored++;
    }
  }
  const seconds = (performance.now() - t0) / 1000;
  const result = {model: modelPath, ppl: Math.exp(nll / scored), meanNll: nll / scored, scored, windows: windows.length,
    threads, seconds, promptTokensPerSecond: windows.reduce((s, w) => s + w.length, 0) / seconds};
  if (decode > 0) {
    await sequence.clearHistory();
    let n = 0, start = 0;
    // The first generated token includes the prompt's evaluation; the clock starts after it.
    for await (const _ of sequence.evaluate(windows[0].slice(0, 8), {temperature: 0})) {
      if (n === 0) start = performance.now();
      if (++n > decode) break;
    }
    result.decodeTokens = decode;
    result.decodeTokensPerSecond = decode / ((performance.now() - start) / 1000);
  }
  console.log(JSON.stringify(result));
  await context.dispose();
  await model.dispose();
}
