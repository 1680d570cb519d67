// Per-position next-token log-probabilities from llama.cpp (via node-llama-cpp) for a fixed token sequence.
import {getLlama} from "node-llama-cpp";
const [modelPath, threadsArg] = process.argv.slice(2);
const threads = Number(threadsArg ?? 2);
const llama = await getLlama({gpu: false, build: "never", maxThreads: threads, logLevel: "warn"});
const model = await llama.loadModel({modelPath});
const context = await model.createContext({contextSize: 256, threads, batchSize: 256});
const sequence = context.getSequence();
const tokens = [1]; for (let i = 0; i < 63; i++) tokens.push(259 + ((i * 37) % 250));
const input = tokens.map((t, i) => i < tokens.length - 1 ? [t, {generateNext: {probabilities: true}}] : t);
const t0 = performance.now();
const out = await sequence.controlledEvaluate(input);
const ms = performance.now() - t0;
let nll = 0, n = 0;
for (let i = 0; i < tokens.length - 1; i++) {
  const p = out[i]?.next?.probabilities?.get(tokens[i + 1]);
  nll -= Math.log(p); n++;
}
console.log(JSON.stringify({model: modelPath, threads, nTokens: n, ppl: Math.exp(nll / n), ms: Math.round(ms),
  vocab: model.tokens?.bos, firstProbs: out[0]?.next?.probabilities?.size}));
await context.dispose(); await model.dispose();
