/**
 * `npm run bench:dicom [-- --runs N --phantoms N]`: per transfer syntax, side by side in one
 * run, on one 2000×2500 held-out phantom (12 bits stored; 8-bit for lossy JPEG) made into each
 * syntax by dcmtk and OpenJPEG as the tests do:
 *   - our decode in full and at the model's resolution (imaging.dicomDecode 'full' / 'model');
 *   - the native tool on the same file (dcmdjpeg, dcmdjpls, dcmdrle; opj_decompress on the
 *     codestream, in full and at the same reduction);
 *   - the whole pipeline, file bytes → lamp, as the service runs it (model resolution);
 * then the agreement of model-resolution and full-resolution readings on `--phantoms` held-out
 * phantoms in every syntax. Writes docs/benchmarks-dicom.md.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { configSchema } from '../src/config/schema.js';
import { decodeImage } from '../src/imaging/decode.js';
import { readDicom, Tag } from '../src/imaging/dicom/dataset.js';
import { readDicomFrame } from '../src/imaging/dicom/decoder.js';
import type { DecodeLimits } from '../src/imaging/image.js';
import { decodeLimitsFor } from '../src/imaging/model-resolution.js';
import { inputGeometry } from '../src/model/manifest.js';
import { openClassifier } from '../src/pipeline/open-classifier.js';
import { quantile } from '../src/tools/bench/bench.js';
import { compareReadings, HELD_OUT_SEED, phantomInEverySyntax, readAt } from '../src/tools/fixtures/dicom-agreement.js';
import { SYNTAX_TOOLS, toolPath, TS, type SyntaxSample } from '../src/tools/fixtures/dicom.js';

const ROWS = 2500;
const TINY = 128;
const COLUMNS = 2000;
const DOC = fileURLToPath(new URL('../docs/benchmarks-dicom.md', import.meta.url));
/** Raspberry Pi 4 (Cortex-A72, 1.5 GHz) against this machine, per core, for this kind of code. */
const PI4_SLOWDOWN = [3, 5] as const;

/** The reference tool that decompresses each compressed syntax. */
const NATIVE_TOOL: Record<string, string> = {
  [TS.jpegBaseline]: 'dcmdjpeg',
  [TS.jpegExtended]: 'dcmdjpeg',
  [TS.jpegLossless]: 'dcmdjpeg',
  [TS.jpegLosslessSv1]: 'dcmdjpeg',
  [TS.jpegLsLossless]: 'dcmdjpls',
  [TS.jpegLsNear]: 'dcmdjpls',
  [TS.j2kLossless]: 'opj_decompress',
  [TS.j2k]: 'opj_decompress',
  [TS.rle]: 'dcmdrle',
};

const median = (times: number[]): number => quantile(times, 0.5);
const ms = (value: number | undefined): string => (value === undefined ? '—' : value.toFixed(0));

async function timed(runs: number, work: () => Promise<unknown> | unknown): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const started = performance.now();
    await work();
    times.push(performance.now() - started);
  }
  return times;
}

/** The native tool's wall time on the same file (process start and writing the output included). */
function nativeRunner(sample: SyntaxSample, dir: string, reduce: number): (() => void) | undefined {
  const tool = NATIVE_TOOL[sample.uid];
  if (!tool) return undefined;
  const input = path.join(dir, `${sample.uid}.dcm`);
  fs.writeFileSync(input, sample.bytes);
  if (tool !== 'opj_decompress') return () => execFileSync(tool, [input, path.join(dir, 'out.dcm')], { stdio: 'ignore' });
  const fragments = readDicom(sample.bytes, { maxInflatedBytes: 0 }).dataset.get(Tag.PixelData)!.fragments!;
  const codestream = path.join(dir, `${sample.uid}.j2k`);
  fs.writeFileSync(codestream, Buffer.concat(fragments));
  return () => execFileSync(tool, ['-i', codestream, '-o', path.join(dir, 'out.pgm'), '-r', String(reduce)], { stdio: 'ignore' });
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { runs: { type: 'string', default: '9' }, phantoms: { type: 'string', default: '3' } } });
  const runs = Math.max(1, Number(values.runs));
  const phantoms = Math.max(1, Number(values.phantoms));
  const missing = SYNTAX_TOOLS.filter((tool) => !toolPath(tool));
  if (missing.length > 0) throw new Error(`missing ${missing.join(', ')}: apt-get install dcmtk libopenjp2-tools`);

  const config = configSchema.parse({ model: { dir: fileURLToPath(new URL('../models', import.meta.url)) } });
  const classifier = await openClassifier(config);
  const full: DecodeLimits = { maxPixels: config.imaging.maxPixels };
  const model = decodeLimitsFor(config.imaging, classifier.engine.model.manifest.input);
  const input = inputGeometry(classifier.engine.model.manifest.input);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cspine-bench-dicom-'));
  // The machine is shared: the load beside the figures says how far to trust them.
  const loadBefore = os.loadavg()[0]!;

  try {
    process.stderr.write(`making held-out phantoms at ${COLUMNS}×${ROWS} in every syntax…\n`);
    const sets = Array.from({ length: phantoms }, (_, index) => phantomInEverySyntax(index, COLUMNS, ROWS));
    // The native tools' process start-up and I/O alone: the same syntaxes at 128×128.
    const tinySet = phantomInEverySyntax(0, TINY, TINY);

    const speedRows: string[][] = [];
    for (const sample of sets[0]!.files) {
      process.stderr.write(`${sample.name}…\n`);
      const started = performance.now();
      await decodeImage(sample.bytes, full);
      const first = performance.now() - started;
      const fullTimes = await timed(runs, () => decodeImage(sample.bytes, full));
      const codecTimes = await timed(runs, () => readDicomFrame(sample.bytes, full));
      const reduced = await decodeImage(sample.bytes, model);
      const modelTimes = await timed(runs, () => decodeImage(sample.bytes, model));
      const steps = Math.round(Math.log2(COLUMNS / reduced.width));
      const fullNative = nativeRunner(sample, dir, 0);
      const reducedNative = steps > 0 && NATIVE_TOOL[sample.uid] === 'opj_decompress' ? nativeRunner(sample, dir, steps) : undefined;
      const nativeFull = fullNative ? median(await timed(runs, fullNative)) : undefined;
      const tinyNative = nativeRunner(tinySet.files.find((tiny) => tiny.uid === sample.uid)!, dir, 0);
      const startup = tinyNative ? median(await timed(runs, tinyNative)) : undefined;
      const nativeReduced = reducedNative ? median(await timed(runs, reducedNative)) : undefined;
      await classifier.classify(sample.bytes);
      const pipeline = await timed(runs, () => classifier.classify(sample.bytes));
      const raw = (ROWS * COLUMNS * (sample.uid === TS.jpegBaseline || sample.uid === TS.jpegExtended ? 1 : 2)) / sample.bytes.length;
      speedRows.push([
        sample.name,
        raw.toFixed(1),
        ms(first),
        ms(median(fullTimes)),
        `${ms(median(modelTimes))} (${reduced.width}×${reduced.height})`,
        ms(median(codecTimes)),
        NATIVE_TOOL[sample.uid] ? `${NATIVE_TOOL[sample.uid]} ${ms(nativeFull)}${nativeReduced === undefined ? '' : ` / -r ${steps}: ${ms(nativeReduced)}`}` : '—',
        ms(startup),
        nativeFull === undefined ? '—' : (median(codecTimes) / nativeFull).toFixed(2),
        nativeFull === undefined || startup === undefined ? '—' : (median(codecTimes) / Math.max(1, nativeFull - startup)).toFixed(2),
        ms(median(pipeline)),
        ms(quantile(pipeline, 0.95)),
        `${ms(median(pipeline) * PI4_SLOWDOWN[0])}–${ms(median(pipeline) * PI4_SLOWDOWN[1])}`,
      ]);
    }

    process.stderr.write(`agreement on ${phantoms} held-out phantoms…\n`);
    const agreementRows: string[][] = [];
    for (const [position, sample] of sets[0]!.files.entries()) {
      let same = 0;
      let largest = 0;
      const notes: string[] = [];
      let decodedAt = '';
      for (const set of sets) {
        const bytes = set.files[position]!.bytes;
        const atFull = await readAt(classifier, config.quality, bytes, full);
        const atModel = await readAt(classifier, config.quality, bytes, model);
        const { maxProbabilityDelta, differences } = compareReadings(atFull, atModel);
        if (differences.length === 0) same++;
        else notes.push(`${set.label}: ${differences.join('; ')}`);
        largest = Math.max(largest, maxProbabilityDelta);
        decodedAt = `${atModel.decoded.width}×${atModel.decoded.height}`;
        if (notes.length === 0 && set === sets[0]) notes.push(`${atFull.quality}, ${atFull.label} ${atFull.level}${atFull.inDistribution === undefined ? '' : atFull.inDistribution ? ', familiar' : ', unfamiliar'}`);
      }
      agreementRows.push([sample.name, decodedAt, `${same}/${sets.length}`, largest === 0 ? '0' : largest.toExponential(1), notes.join(' · ')]);
    }

    const speedTable = [
      '| Transfer syntax | ratio | first decode | our decode, full | our decode, model resolution | our decompress | native tool, same file | native start-up | decompress / native | decompress / (native − start-up) | pipeline p50 | pipeline p95 | Pi 4 estimate, p50 |',
      '| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |',
      ...speedRows.map((row) => `| ${row.join(' | ')} |`),
    ].join('\n');
    const agreementTable = [
      '| Transfer syntax | decoded at (model) | same quality verdict, label, lamp, OOD verdict | largest probability difference | first phantom at full resolution / differences |',
      '| --- | --- | ---: | ---: | --- |',
      ...agreementRows.map((row) => `| ${row.join(' | ')} |`),
    ].join('\n');
    const cpus = os.cpus();
    const markdown = `# DICOM decode benchmarks

Generated by \`scripts/bench-dicom.ts\` (\`npm run bench:dicom\`); rerun it rather than editing this file.

- Date: ${new Date().toISOString()}
- CPU: ${cpus[0]?.model.trim() ?? 'unknown'}, ${cpus.length} cores; 1-minute load average ${loadBefore.toFixed(2)} at the start, ${os.loadavg()[0]!.toFixed(2)} at the end
- Node ${process.version}
- Image: held-out phantom 0 (seed ${HELD_OUT_SEED}) at ${COLUMNS}×${ROWS}, 12 bits stored in 16 (lossy JPEG: 8-bit), a DX cervical-spine lateral; ${runs} timed runs of each after one untimed
- Model: ${classifier.engine.model.manifest.id} (${classifier.engine.model.variant}), input ${input.width}×${input.height}; model resolution: short side ≥ ${model.minShortSide} px

## Speed (ms, medians unless marked)

"our decode" is the whole DICOM decoder: parse, decompress, mask and sign-extend, Modality
LUT, VOI, 16-bit output; "full" with \`imaging.dicomDecode: full\`, "model resolution" with the
default \`model\` (the size it decodes to in brackets: JPEG 2000 drops wavelet levels, lossy JPEG
scales its IDCT; every other syntax is decoded in full and box-averaged while it is rendered).
"our decompress" is parse and decompress only (raw sample words, full size): what the native
tool does. "first decode" includes compiling the codec's WebAssembly, once per process. The
native tool is timed as a process on the same file, start-up and reading and writing files
included (opj_decompress on the bare codestream, in full and with the same \`-r\` reduction);
"native start-up" is the same tool on the same syntax at ${TINY}×${TINY}: its process start, library
loading and file I/O, nearly without decoding. "decompress / native" compares against the whole
process (flattering us); "decompress / (native − start-up)" against its decoding alone, an
estimate that is closer to a fair comparison with the codec in-process.
"pipeline" is \`Classifier.classify\` on the file's bytes, as the
service runs it: decode at model resolution, quality gate, preprocess, inference, OOD, triage.
"ratio" is the uncompressed pixel bytes over the file size. The Pi 4 column multiplies the
pipeline p50 by ${PI4_SLOWDOWN[0]}–${PI4_SLOWDOWN[1]} (a Cortex-A72 core against one of these): an estimate, not a measurement.

${speedTable}

## Agreement: model resolution against full resolution

${phantoms} held-out phantoms (seed ${HELD_OUT_SEED}, cases 0–${phantoms - 1}: ${sets.map((set) => set.label).join(', ')}) at ${COLUMNS}×${ROWS} in every
syntax, each read twice through the same pipeline: decoded in full and at model resolution.
"Same" counts images where the quality gate's verdict, the label, the lamp and the OOD
verdict are all equal. \`test/imaging/dicom-resolution.test.ts\` checks the same on three
1024×1280 phantoms at every \`npm test\`.

${agreementTable}
`;
    fs.writeFileSync(DOC, markdown);
    process.stdout.write(`${speedTable}\n\n${agreementTable}\n\nwritten to ${DOC}\n`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
    await classifier.engine.close();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
