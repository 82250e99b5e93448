/**
 * The acceptance of a quantized package (issue #4), from what `model quantize`,
 * `model evaluate --compare export --record` and `npm run bench:model` recorded:
 *
 *   tsx scripts/check-quantized.ts [MODEL_DIR]      exit 1 when a criterion fails
 */
import fs from 'node:fs';
import path from 'node:path';
import { readManifest } from '../src/model/model-package.js';

const dir = path.resolve(process.argv[2] ?? 'models/cspine-alexnet-demo');
const manifest = await readManifest(dir);
const variants = manifest.variants ?? {};
const heldOut = (manifest.evaluation as { heldOut?: Record<string, unknown> } | undefined)?.heldOut as
  | { images: number; comparison: { top1Agreement: number; accuracyDelta: number; sensitivityDelta: Record<string, number>; sizeRatio: number } }
  | undefined;
const bench = fs.existsSync('docs/benchmarks-model.md') ? fs.readFileSync('docs/benchmarks-model.md', 'utf8') : '';
const latency = /INT8 batch-1 latency is ([\d.]+)× the fp32 latency/.exec(bench);
const int8Bytes = variants.int8?.bytes ?? fs.statSync(path.join(dir, manifest.file)).size;
const fp32Bytes = variants.export?.bytes;
const checks: Array<[string, boolean, string]> = [
  ['INT8 file ≤ 30% of fp32', fp32Bytes !== undefined && int8Bytes / fp32Bytes <= 0.3, fp32Bytes ? `${((int8Bytes / fp32Bytes) * 100).toFixed(1)}%` : 'no export variant'],
  ['top-1 agreement ≥ 99.5% (held out)', (heldOut?.comparison.top1Agreement ?? 0) >= 0.995, heldOut ? `${(heldOut.comparison.top1Agreement * 100).toFixed(2)}% of ${heldOut.images}` : 'not recorded'],
  ['accuracy drop ≤ 0.5 pt', (heldOut?.comparison.accuracyDelta ?? -1) >= -0.005, heldOut ? `${(heldOut.comparison.accuracyDelta * 100).toFixed(2)} pt` : 'not recorded'],
  ...(['fracture', 'dislocation'] as const).map((label): [string, boolean, string] => {
    const delta = heldOut?.comparison.sensitivityDelta[label];
    return [`${label} sensitivity drop ≤ 0.5 pt`, delta !== undefined && delta >= -0.005, delta === undefined ? 'not recorded' : `${(delta * 100).toFixed(2)} pt`];
  }),
  ['INT8 batch-1 latency ≤ 0.3× fp32 (ORT, same run)', latency !== null && Number(latency[1]) <= 0.3, latency ? `${latency[1]}×` : 'docs/benchmarks-model.md has no result'],
];
for (const [name, ok, value] of checks) process.stdout.write(`${ok ? 'PASS' : 'FAIL'}  ${name}: ${value}\n`);
process.exitCode = checks.every(([, ok]) => ok) ? 0 : 1;
