import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Config } from '../config/schema.js';
import { ErrorCode, ImageRejectedError, toCspineError } from '../errors.js';
import { decodeImage } from '../imaging/decode.js';
import { HEATMAP_EXTENSION, heatmapOverlay, type HeatmapFormat } from '../imaging/heatmap.js';
import type { DecodeLimits } from '../imaging/image.js';
import { decodeLimitsFor } from '../imaging/model-resolution.js';
import { readManifest } from '../model/model-package.js';
import type { Classification, Classifier } from '../pipeline/classifier.js';
import { openClassifier } from '../pipeline/open-classifier.js';
import { ProgressBar } from '../ui/progress.js';

export interface ClassifyFilesOptions {
  files: readonly string[];
  json: boolean;
  modelDir?: string | undefined;
  /** Write `<name>.heatmap.jpg` overlays here (imaging.heatmapFormat), for models with a CAM output. */
  heatmapDir?: string | undefined;
}

/**
 * One line per file, in order, on stdout. Exit codes: 0 all classified, 2 any rejected, 1
 * internal failure (e.g. no usable model).
 */
export async function classifyFiles(config: Config, options: ClassifyFilesOptions): Promise<number> {
  // Opened at the first image that decodes: unreadable files are answered without the model.
  let classifier: Classifier | undefined;
  // On a terminal the result lines are the progress (a bar would be drawn over them); the bar is
  // for lines going to a file or a pipe, and ProgressBar itself stays silent unless stderr is a terminal.
  const progress = options.files.length > 1 && !process.stdout.isTTY ? new ProgressBar(options.files.length) : undefined;
  let rejected = 0;
  const modelDir = path.resolve(options.modelDir ?? path.join(config.model.dir, config.model.id));
  // The model's input size says how small DICOM frames may be decoded (imaging.dicomDecode); the
  // manifest is enough for that. Unreadable, it leaves decoding in full: opening the model fails anyway.
  const limits: DecodeLimits = await readManifest(modelDir).then(
    (manifest) => decodeLimitsFor(config.imaging, manifest.input),
    () => config.imaging,
  );
  for (const file of options.files) {
    let line: Record<string, unknown>;
    try {
      const bytes = await readInput(file, config.capture.maxFileBytes);
      const started = performance.now();
      const image = await decodeImage(bytes, limits);
      const decodeMs = performance.now() - started;
      if (!classifier) {
        try {
          classifier = await openClassifier(config, modelDir);
        } catch (error) {
          const problem = toCspineError(error);
          process.stderr.write(`cspine-edge classify: ${problem.code}: ${problem.message}\n`);
          return 1;
        }
      }
      const result = await classifier.classifyDecoded(image, decodeMs);
      line = { file, ok: true, label: result.label, probabilities: result.probabilities, triage: result.triage, model: result.model, timingsMs: result.timingsMs };
      if (result.quality) line.quality = result.quality;
      // Absent: the package has no OOD statistics (doctor says "unguarded").
      if (result.ood) line.ood = result.ood;
      if (result.orientation) line.orientation = result.orientation;
      // DICOM: the header's non-identifying attributes (never names, IDs or UIDs).
      if (result.dicom) line.dicom = result.dicom;
      if (options.heatmapDir !== undefined) line.heatmap = await writeHeatmap(options.heatmapDir, file, result, classifier, config.imaging.heatmapFormat);
    } catch (error) {
      const problem = toCspineError(error);
      if (problem.code === ErrorCode.INTERNAL) {
        process.stderr.write(`cspine-edge classify: internal failure on ${file}: ${problem.message}\n`);
        await classifier?.engine.close();
        return 1;
      }
      rejected++;
      line = { file, ok: false, error: problem.toJSON() };
    }
    progress?.tick(path.basename(file));
    process.stdout.write(options.json ? `${JSON.stringify(line)}\n` : humanLine(line));
  }
  await classifier?.engine.close();
  return rejected > 0 ? 2 : 0;
}

async function writeHeatmap(dir: string, file: string, result: Classification, classifier: Classifier, format: HeatmapFormat): Promise<string | null> {
  if (!result.cam) return null; // this model has no CAM output
  await fs.promises.mkdir(dir, { recursive: true });
  const target = path.join(dir, `${path.basename(file, path.extname(file))}.heatmap.${HEATMAP_EXTENSION[format]}`);
  await fs.promises.writeFile(target, await heatmapOverlay(result.decoded, result.cam, classifier.engine.model.manifest, { format }));
  return target;
}

async function readInput(file: string, maxBytes: number): Promise<Buffer> {
  let size: number;
  try {
    size = (await fs.promises.stat(file)).size;
  } catch (error) {
    throw new ImageRejectedError(ErrorCode.FILE_UNREADABLE, `cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  if (size > maxBytes) throw new ImageRejectedError(ErrorCode.FILE_TOO_LARGE, `file is ${size} bytes, over the limit of ${maxBytes} (capture.maxFileBytes)`);
  return fs.promises.readFile(file);
}

function humanLine(line: Record<string, unknown>): string {
  if (line.ok) {
    const triage = line.triage as { level: string; reason: string };
    const timings = line.timingsMs as { total: number };
    const heatmap = typeof line.heatmap === 'string' ? `  heatmap ${line.heatmap}` : '';
    return `${String(triage.level).padEnd(5)}  ${line.file}  ${triage.reason}  [${timings.total.toFixed(0)} ms]${heatmap}\n`;
  }
  const error = line.error as { code: string; message: string };
  return `REJECTED  ${line.file}  ${error.code}: ${error.message}\n`;
}
