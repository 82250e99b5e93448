/**
 * `npx tsx scripts/quality-thresholds.ts [--phantoms DIR[:N]]... [--only TEXT]`: the measurements behind the
 * image-quality gate's defaults (config `quality`, docs/safety.md).
 *
 * For every phantom (the PNG files under each DIR as `cspine-edge synth` writes them, in case
 * order, the first N with `:N`; without --phantoms, 300 8-bit 256×320 phantoms with seed 31 and 60
 * 16-bit 1024×1280 ones with seed 32 are generated in a temporary folder) it writes each acquisition shift that must pass and each
 * frame that must be refused (src/tools/fixtures/quality-images.ts) as a real file, decodes it with the
 * real decoders, and measures it. Prints each measure's range per category, what the default
 * thresholds answer, and the gate's cost on a 1024×1280 16-bit frame (median of 200 calls).
 * `--only` keeps the categories whose name contains TEXT (repeatable).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { configSchema } from '../src/config/schema.js';
import { decodeImage } from '../src/imaging/decode.js';
import { assessQuality, type QualityMeasures } from '../src/imaging/quality.js';
import { generatePhantoms } from '../src/tools/synth/generate.js';
import { FAIL_VARIANTS, loadGray, PASS_VARIANTS, type Gray, type Variant } from '../src/tools/fixtures/quality-images.js';

const LIMITS = { maxPixels: 64_000_000 };
const MEASURES = ['minSide', 'stdLevel', 'structureShare', 'fieldShare', 'clippedHigh', 'clippedLow', 'dynamicRange', 'colourfulness'] as const;
type Measure = (typeof MEASURES)[number];

interface Row {
  variant: Variant;
  bits: 8 | 16;
  values: Record<Measure, number[]>;
  answers: Map<string, number>;
  right: number;
}

/** In case order (phantom-000000, -000001, …), so the first N hold every class. */
function pngFiles(dir: string): string[] {
  return (fs.readdirSync(dir, { recursive: true }) as string[])
    .filter((file) => file.endsWith('.png'))
    .sort((a, b) => path.basename(a).localeCompare(path.basename(b)))
    .map((file) => path.join(dir, file));
}

async function defaultPhantoms(): Promise<string[]> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'quality-phantoms-'));
  process.stderr.write(`generating phantoms in ${root}…\n`);
  await generatePhantoms({ outDir: path.join(root, '8bit'), count: 300, seed: 31, width: 256, height: 320, bits: 8 });
  await generatePhantoms({ outDir: path.join(root, '16bit'), count: 60, seed: 32, width: 1024, height: 1280, bits: 16 });
  return [path.join(root, '8bit'), path.join(root, '16bit')];
}

const fmt = (value: number, measure: Measure): string => (measure === 'minSide' ? String(value) : value.toFixed(3));

function range(values: number[], measure: Measure): string {
  if (values.length === 0) return '';
  return `${fmt(Math.min(...values), measure)}–${fmt(Math.max(...values), measure)}`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { phantoms: { type: 'string', multiple: true }, only: { type: 'string', multiple: true } } });
  const variants = [...PASS_VARIANTS, ...FAIL_VARIANTS].filter((variant) => !values.only || values.only.some((text) => variant.name.includes(text)));
  const sources = (values.phantoms ?? (await defaultPhantoms())).map((spec) => {
    const match = /^(.*):(\d+)$/.exec(spec);
    return match ? { dir: match[1]!, limit: Number(match[2]) } : { dir: spec, limit: Infinity };
  });
  const dirs = sources.map((source) => source.dir);
  const thresholds = configSchema.parse({}).quality;
  const rows = new Map<string, Row>();

  for (const { dir, limit } of sources) {
    const files = pngFiles(dir).slice(0, limit);
    process.stderr.write(`${dir}: ${files.length} phantoms\n`);
    for (const [index, file] of files.entries()) {
      const phantom: Gray = await loadGray(fs.readFileSync(file));
      for (const variant of variants) {
        if (variant.bits !== undefined && variant.bits !== phantom.bits) continue;
        const bytes = await variant.make(phantom, index * 7919 + phantom.bits);
        const image = await decodeImage(bytes, LIMITS);
        const verdict = assessQuality(image, thresholds);
        const key = `${variant.name}|${phantom.bits}`;
        let row = rows.get(key);
        if (!row) {
          row = { variant, bits: phantom.bits, values: Object.fromEntries(MEASURES.map((m) => [m, []])) as unknown as Record<Measure, number[]>, answers: new Map(), right: 0 };
          rows.set(key, row);
        }
        const m: QualityMeasures = verdict.measures;
        for (const measure of MEASURES) row.values[measure].push(measure === 'minSide' ? Math.min(m.width, m.height) : m[measure]);
        const answer = verdict.ok ? 'pass' : verdict.code;
        row.answers.set(answer, (row.answers.get(answer) ?? 0) + 1);
        const expected = variant.expect;
        if (answer === expected || (expected === 'refuse' && answer !== 'pass')) row.right++;
      }
      if ((index + 1) % 50 === 0) process.stderr.write(`  ${index + 1}/${files.length}\n`);
    }
  }

  const header = ['category', 'bits', 'n', 'min side px', 'stdLevel', 'structureShare', 'fieldShare', 'clippedHigh', 'clippedLow', 'dynamicRange', 'colourfulness', 'expected', 'answered'];
  const lines = [`| ${header.join(' | ')} |`, `| ${header.map(() => '---').join(' | ')} |`];
  let passTotal = 0;
  let passRight = 0;
  let failTotal = 0;
  let failRight = 0;
  for (const row of rows.values()) {
    const n = row.values.stdLevel.length;
    const answered = [...row.answers.entries()].map(([answer, count]) => `${answer.replace('E_QUALITY_', '')} ${count}`).join(', ');
    const expect = row.variant.expect.replace('E_QUALITY_', '');
    lines.push(`| ${row.variant.name} | ${row.bits} | ${n} | ${MEASURES.map((m) => range(row.values[m], m)).join(' | ')} | ${expect} | ${answered} |`);
    if (row.variant.expect === 'pass') {
      passTotal += n;
      passRight += row.right;
    } else {
      failTotal += n;
      failRight += row.right;
    }
  }
  process.stdout.write(`\nThresholds (config defaults): ${JSON.stringify(thresholds)}\n\n${lines.join('\n')}\n\n`);
  process.stdout.write(`must pass:   ${passRight}/${passTotal} passed\nmust refuse: ${failRight}/${failTotal} refused with the expected code\n`);

  // The gate's cost on the size the brief names: 1024×1280 16-bit.
  const big = dirs.flatMap(pngFiles).map((file) => fs.readFileSync(file)).find((bytes) => bytes.readUInt32BE(16) === 1024 && bytes.readUInt32BE(20) === 1280);
  if (big) {
    const image = await decodeImage(big, LIMITS);
    for (let i = 0; i < 50; i++) assessQuality(image, thresholds);
    const times: number[] = [];
    const cpu = process.cpuUsage();
    for (let i = 0; i < 200; i++) {
      const started = performance.now();
      assessQuality(image, thresholds);
      times.push(performance.now() - started);
    }
    const { user, system } = process.cpuUsage(cpu);
    times.sort((a, b) => a - b);
    process.stdout.write(
      `gate cost, 1024×1280 ${image.bitsPerSample}-bit, 200 calls: median ${times[100]!.toFixed(3)} ms, p95 ${times[190]!.toFixed(3)} ms, max ${times[199]!.toFixed(3)} ms wall; ${((user + system) / 200 / 1000).toFixed(3)} ms CPU per call\n`,
    );
  }
}

await main();
