/**
 * One ONNX Runtime engine of `npm run bench:model`, in its own process so its peak RSS
 * (VmHWM) is its own: `tsx scripts/bench-model-ort.ts MODEL.onnx BATCH_MODEL.onnx RUNS BATCH THREADS`.
 * Prints one JSON line. Sessions are made as the service makes them (src/model/inference.ts).
 */
import { performance } from 'node:perf_hooks';
import ort from 'onnxruntime-node';
import { benchInput, measureLatency, processMemory } from '../src/tools/bench/bench.js';
import { sessionOptions } from '../src/model/inference.js';

const [file, batchFile, runsText, batchText, threadsText] = process.argv.slice(2);
const runs = Number(runsText);
const batch = Number(batchText);
const threads = Number(threadsText);
const shape = [1, 3, 224, 224];

const latency = await measureLatency(file!, { inputName: 'input', shape, runs, warmup: 5, threads });

// throughput: the same graph with a free batch dimension, `batch` images per run
const session = await ort.InferenceSession.create(batchFile!, sessionOptions(threads));
const one = benchInput(3 * 224 * 224);
const input = new Float32Array(one.length * batch);
for (let b = 0; b < batch; b++) input.set(one, b * one.length);
const feeds = { input: new ort.Tensor('float32', input, [batch, 3, 224, 224]) };
await session.run(feeds);
const times: number[] = [];
for (let i = 0; i < 10; i++) {
  const t = performance.now();
  await session.run(feeds);
  times.push(performance.now() - t);
}
times.sort((a, b) => a - b);
await session.release();
process.stdout.write(
  `${JSON.stringify({
    engine: `ONNX Runtime ${ort.env.versions.common} (node)`,
    note: '',
    ...latency,
    batch,
    throughput: batch / (times[times.length >> 1]! / 1000),
    vmhwmKiB: processMemory()?.hwmKiB ?? -1,
  })}\n`,
);
