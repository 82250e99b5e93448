/**
 * `npm run bench:model [-- --model DIR --runs 50 --batch 8 --threads 0 --no-write]`
 *
 * The model alone, side by side in one run, each engine in its own child process: our INT8 in
 * ONNX Runtime, the fp32 export in ONNX Runtime, the same fp32 ONNX file in OpenCV DNN and in
 * PyTorch eager (/usr/bin/python3 with Debian's python3-opencv and python3-torch). Batch-1
 * latency (median, p95) after warm-up, batch throughput, load time, peak RSS (VmHWM); ratios to
 * our INT8; and the floor this CPU allows: MACs ÷ int8 peak, weight bytes ÷ memory bandwidth.
 * Writes docs/benchmarks-model.md.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import ort from 'onnxruntime-node';
import { readManifest } from '../src/model/model-package.js';
import { dimsOf, encodeOnnx, intAttribute, proto, readOnnx, type ModelProto } from '../src/model/onnx-io.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DOC = path.join(ROOT, 'docs/benchmarks-model.md');
const PYTHON = '/usr/bin/python3';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'models/cspine-alexnet-demo' },
    runs: { type: 'string', default: '50' },
    batch: { type: 'string', default: '8' },
    threads: { type: 'string', default: '0' },
    'no-write': { type: 'boolean', default: false },
  },
});
const runs = Math.max(50, Number(values.runs));
const batch = Number(values.batch);
const threads = Number(values.threads) > 0 ? Number(values.threads) : os.availableParallelism();
const modelDir = path.resolve(values.model);

interface EngineResult {
  engine: string;
  note: string;
  loadMs: number;
  medianMs: number;
  p95Ms: number;
  runs: number;
  batch: number;
  throughput: number;
  vmhwmKiB: number;
}

// ------------------------------------------------------------------ models

const manifest = await readManifest(modelDir);
const int8File = path.join(modelDir, manifest.variants?.int8?.file ?? manifest.file);
const fp32Variant = manifest.variants?.export ?? manifest.variants?.fp32;
if (!fp32Variant || !fs.existsSync(path.join(modelDir, fp32Variant.file))) {
  throw new Error(`${modelDir} has no fp32 export here (variants.export); copy the trained model.onnx in, or run ${manifest.variants?.fp32?.rebuild ?? 'model dequantize'}`);
}
const fp32File = path.join(modelDir, fp32Variant.file);
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'cspine-bench-model-'));

/** The same graph with a free batch dimension (for throughput). */
function batchFree(model: ModelProto): Uint8Array {
  const free = (info: (typeof model.graph.input)[number]) => ({
    ...info,
    type: { tensorType: { ...info.type!.tensorType!, shape: { dim: info.type!.tensorType!.shape!.dim!.map((d, i) => (i === 0 ? { dimParam: 'N' } : d)) } } },
  });
  return encodeOnnx({ ...model, graph: { ...model.graph, input: model.graph.input.map(free), output: model.graph.output.map(free), valueInfo: [] } });
}

/** Only what the logits need (for an engine that cannot import the CAM subgraph). */
function logitsOnly(model: ModelProto, logits: string): Uint8Array {
  const needed = new Set([logits]);
  const keep = [...model.graph.node].reverse().filter((node) => {
    if (!node.output.some((o) => needed.has(o))) return false;
    for (const input of node.input) needed.add(input);
    return true;
  }).reverse();
  return encodeOnnx({
    ...model,
    graph: { ...model.graph, node: keep, initializer: model.graph.initializer.filter((t) => needed.has(t.name!)), output: model.graph.output.filter((o) => o.name === logits), valueInfo: [] },
  });
}

const fp32Model = readOnnx(fp32File);
const int8Model = readOnnx(int8File);
const files = {
  int8Batch: path.join(work, 'int8-batch.onnx'),
  fp32Batch: path.join(work, 'fp32-batch.onnx'),
  fp32Logits: path.join(work, 'fp32-logits.onnx'),
};
fs.writeFileSync(files.int8Batch, batchFree(int8Model));
fs.writeFileSync(files.fp32Batch, batchFree(fp32Model));
fs.writeFileSync(files.fp32Logits, logitsOnly(fp32Model, manifest.outputs.logits));
// the package's fp32 variant (model dequantize), when it is here and is not the export itself
const fp32Variant2 = manifest.variants?.fp32 && manifest.variants.export ? path.join(modelDir, manifest.variants.fp32.file) : '';
const variantFiles = { variantBatch: path.join(work, 'variant-batch.onnx') };
if (fp32Variant2 && fs.existsSync(fp32Variant2)) fs.writeFileSync(variantFiles.variantBatch, batchFree(readOnnx(fp32Variant2)));

// ------------------------------------------------------------------ MACs, weights

/** MACs of every Conv/Gemm/MatMul, from the output shapes of one fp32 run. */
async function countMacs(model: ModelProto): Promise<{ total: number; conv: number; dense: number; cam: number }> {
  const targets = model.graph.node.filter((n) => ['Conv', 'Gemm', 'MatMul'].includes(n.opType));
  const outputs = targets.map((n) => n.output[0]!);
  const existing = new Set(model.graph.output.map((o) => o.name));
  const probe = encodeOnnx({
    ...model,
    graph: { ...model.graph, output: [...model.graph.output, ...outputs.filter((o) => !existing.has(o)).map((name) => ({ name, type: { tensorType: { elemType: proto.TensorProto.DataType.FLOAT } } }))] },
  });
  const session = await ort.InferenceSession.create(probe, { graphOptimizationLevel: 'basic' });
  const result = await session.run({ input: new ort.Tensor('float32', new Float32Array(3 * 224 * 224).fill(0.5), [1, 3, 224, 224]) }, outputs);
  await session.release();
  const inits = new Map(model.graph.initializer.map((t) => [t.name!, t]));
  const sums = { total: 0, conv: 0, dense: 0, cam: 0 };
  for (const node of targets) {
    const out = result[node.output[0]!]!.dims.reduce((a, b) => a * b, 1);
    const w = dimsOf(inits.get(node.input[1]!)!);
    let macs: number;
    if (node.opType === 'Conv') macs = out * (w[1]! * w[2]! * w[3]!);
    else if (node.opType === 'Gemm') macs = out * (intAttribute(node, 'transB', 0) ? w[1]! : w[0]!);
    else macs = out * w[0]!;
    sums.total += macs;
    if (node.opType === 'Conv') sums.conv += macs;
    else if (node.opType === 'Gemm') sums.dense += macs;
    else sums.cam += macs;
  }
  return sums;
}

const initializerBytes = (model: ModelProto) => model.graph.initializer.reduce((sum, t) => sum + (t.rawData?.length ?? 0) + (t.floatData?.length ?? 0) * 4, 0);

// ------------------------------------------------------------------ this CPU's floor

function cpuFacts(): { model: string; flags: Set<string>; ghz: number; macsPerCycle: number; peakBasis: string } {
  const info = fs.readFileSync('/proc/cpuinfo', 'utf8');
  const flags = new Set((/^(?:flags|Features)\s*:\s*(.*)$/m.exec(info)?.[1] ?? '').split(/\s+/));
  const maxFreq = (() => {
    try {
      return Number(fs.readFileSync('/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq', 'utf8')) / 1e6;
    } catch {
      return Number(/^cpu MHz\s*:\s*([\d.]+)/m.exec(info)?.[1] ?? 0) / 1000;
    }
  })();
  let macsPerCycle: number;
  let peakBasis: string;
  if (flags.has('avx512_vnni')) {
    macsPerCycle = 128;
    peakBasis = 'AVX-512 VNNI: VPDPBUSD does 64 u8×s8 MACs per 512-bit instruction; 2 per cycle assumed';
  } else if (flags.has('avx_vnni')) {
    macsPerCycle = 64;
    peakBasis = 'AVX-VNNI: 32 MACs per 256-bit VPDPBUSD, 2 per cycle assumed';
  } else if (flags.has('avx2')) {
    macsPerCycle = 64;
    peakBasis = 'AVX2: VPMADDUBSW 32 u8×s8 products per 256-bit instruction, 2 per cycle assumed';
  } else if (flags.has('asimddp')) {
    macsPerCycle = 32;
    peakBasis = 'ARM dot product: SDOT/UDOT 16 MACs per 128-bit instruction, 2 pipes assumed (Cortex-A76/A78)';
  } else {
    macsPerCycle = 16;
    peakBasis = 'NEON/SSE without dot product: 8 16-bit MACs per 128-bit multiply-accumulate, 2 pipes assumed';
  }
  return { model: os.cpus()[0]?.model ?? 'unknown', flags, ghz: maxFreq, macsPerCycle, peakBasis };
}

/** Copy bandwidth: bytes read + written per second, best of 5 copies of 256 MiB. */
function copyBandwidth(): number {
  const size = 256 * 1024 * 1024;
  const a = Buffer.alloc(size, 1);
  const b = Buffer.alloc(size, 2);
  let best = Number.POSITIVE_INFINITY;
  for (let i = 0; i < 5; i++) {
    const t = performance.now();
    a.copy(b);
    best = Math.min(best, performance.now() - t);
  }
  return (2 * size) / (best / 1000);
}

// ------------------------------------------------------------------ engines

function child(command: string, args: string[], label: string): EngineResult | { error: string } {
  const done = spawnSync(command, args, { cwd: ROOT, encoding: 'utf8', timeout: 15 * 60_000, maxBuffer: 16 << 20 });
  const line = done.stdout?.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line) as EngineResult;
  } catch {
    return { error: `${label} failed (exit ${done.status}): ${(done.stderr || done.stdout || String(done.error)).trim().split('\n').slice(-3).join(' | ').slice(0, 300)}` };
  }
}

const tsx = path.join(ROOT, 'node_modules/.bin/tsx');
const loadAtStart = os.loadavg()[0]!;
process.stderr.write(`bench:model: ${path.relative(ROOT, int8File)} vs ${path.relative(ROOT, fp32File)}, ${runs} runs, batch ${batch}, ${threads} threads\n`);
const engines: Array<{ name: string; result: EngineResult | { error: string } }> = [];
for (const [name, command, args] of [
  ['our INT8, ONNX Runtime', tsx, ['scripts/bench-model-ort.ts', int8File, files.int8Batch, String(runs), String(batch), String(threads)]],
  ['fp32, ONNX Runtime', tsx, ['scripts/bench-model-ort.ts', fp32File, files.fp32Batch, String(runs), String(batch), String(threads)]],
  ...(fs.existsSync(fp32Variant2)
    ? ([['fp32 variant (INT8 weights in float, same graph), ONNX Runtime', tsx, ['scripts/bench-model-ort.ts', fp32Variant2, variantFiles.variantBatch, String(runs), String(batch), String(threads)]]] as const)
    : []),
  ['fp32, OpenCV DNN', PYTHON, ['scripts/bench_model_worker.py', 'opencv', files.fp32Batch, '--runs', String(runs), '--batch', String(batch), '--threads', String(threads), '--fallback', files.fp32Logits]],
  ['fp32, PyTorch eager', PYTHON, ['scripts/bench_model_worker.py', 'torch', fp32File, '--runs', String(runs), '--batch', String(batch), '--threads', String(threads)]],
] as const) {
  process.stderr.write(`  ${name}…\n`);
  engines.push({ name, result: child(command, [...args], name) });
}

const macs = await countMacs(fp32Model);
const cpu = cpuFacts();
const peak = threads * cpu.macsPerCycle * cpu.ghz * 1e9;
const bandwidth = copyBandwidth();
const int8WeightBytes = initializerBytes(int8Model);
const computeFloorMs = (macs.total / peak) * 1000;
const memoryFloorMs = (int8WeightBytes / bandwidth) * 1000;
const floorMs = Math.max(computeFloorMs, memoryFloorMs);
fs.rmSync(work, { recursive: true, force: true });

// ------------------------------------------------------------------ report

const ok = (r: EngineResult | { error: string }): r is EngineResult => !('error' in r);
const ours = engines[0]!.result;
const base = ok(ours) ? ours : undefined;
const fmt = (v: number, digits = 1) => v.toFixed(digits);
const rows = engines.map(({ name, result }) =>
  ok(result)
    ? [
        name,
        fmt(result.medianMs),
        fmt(result.p95Ms),
        base ? `${fmt(result.medianMs / base.medianMs, 2)}×` : '',
        fmt(result.throughput, 1),
        base ? `${fmt(base.throughput / result.throughput, 2)}×` : '',
        fmt(result.loadMs, 0),
        fmt(result.vmhwmKiB / 1024, 0),
        result.engine + (result.note ? ` (${result.note})` : ''),
      ]
    : [name, 'failed', '', '', '', '', '', '', result.error],
);
const headers = ['engine', 'batch-1 median ms', 'p95 ms', '÷ INT8', `batch-${batch} images/s`, 'INT8 ×', 'load ms', 'peak RSS MiB', 'version'];
const table = [`| ${headers.join(' | ')} |`, `| --- | ${headers.slice(1).map(() => '---:').join(' | ')} |`, ...rows.map((r) => `| ${r.join(' | ')} |`)];
const fp32Ort = engines[1]!.result;
const latencyRatio = base && ok(fp32Ort) ? base.medianMs / fp32Ort.medianMs : Number.NaN;
const sizes = { int8: fs.statSync(int8File).size, fp32: fs.statSync(fp32File).size };
const lines = [
  '# Model benchmark: our INT8 against fp32 in three engines',
  '',
  'Generated by `scripts/bench-model.ts`; rerun it rather than editing this file.',
  '',
  `- Command: \`npm run bench:model -- --model ${path.relative(ROOT, modelDir)}\` (${new Date().toISOString().slice(0, 16)}Z)`,
  `- Machine: ${cpu.model}, ${os.availableParallelism()} cores (${threads} threads used by every engine), ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, ${os.platform()} ${os.release()}, Node ${process.version}`,
  `- Package: \`${manifest.id}\` — ${manifest.description ?? ''}`,
  `- Load average at start ${loadAtStart.toFixed(1)}, at end ${os.loadavg()[0]!.toFixed(1)} on ${os.availableParallelism()} cores${loadAtStart > os.availableParallelism() ? ' (other work shared the CPU: absolute times are inflated; the ratios, measured in the same run, hold better)' : ''}`,
  `- Models: INT8 \`${path.basename(int8File)}\` ${(sizes.int8 / 1e6).toFixed(1)} MB, fp32 \`${path.basename(fp32File)}\` ${(sizes.fp32 / 1e6).toFixed(1)} MB (${((sizes.int8 / sizes.fp32) * 100).toFixed(1)}%); input 1×3×224×224; every engine computes logits and the Grad-CAM map unless noted`,
  `- Batch-1: median and p95 of ${runs} runs after 5 warm-up runs; throughput: batch ${batch}, median of 10 runs; load: file to ready session; peak RSS: VmHWM of the engine's own child process`,
  '',
  ...table,
  '',
  `**INT8 batch-1 latency is ${fmt(latencyRatio, 3)}× the fp32 latency in ONNX Runtime** (acceptance: ≤ 0.3×).`,
  '',
  '## The floor on this CPU',
  '',
  `- Work: ${(macs.total / 1e6).toFixed(0)} M MACs per image (convolutions ${(macs.conv / 1e6).toFixed(0)} M, classifier ${(macs.dense / 1e6).toFixed(0)} M, in-graph Grad-CAM ${(macs.cam / 1e6).toFixed(0)} M)`,
  `- INT8 peak: ${threads} cores × ${cpu.macsPerCycle} MACs/cycle × ${fmt(cpu.ghz, 2)} GHz = ${(peak / 1e9).toFixed(0)} G MAC/s. Assumption: ${cpu.peakBasis}; the clock is cpuinfo's (no turbo counted)`,
  `- Memory: ${(int8WeightBytes / 1e6).toFixed(1)} MB of INT8 weights read per image (they do not stay in cache); copy bandwidth measured here ${(bandwidth / 1e9).toFixed(1)} GB/s (bytes read + written per second, best of 5 copies of 256 MiB)`,
  `- Compute floor ${fmt(computeFloorMs, 2)} ms, memory floor ${fmt(memoryFloorMs, 2)} ms → floor ${fmt(floorMs, 2)} ms`,
  base ? `- **Our INT8 batch-1 median is ${fmt(base.medianMs / floorMs, 1)}× that floor.**` : '- INT8 run failed',
  '',
];
process.stdout.write(`${lines.join('\n')}\n`);
if (!values['no-write']) {
  fs.writeFileSync(DOC, `${lines.join('\n')}`);
  process.stderr.write(`wrote ${path.relative(ROOT, DOC)}\n`);
}
