import { generatePhantoms } from '../synth/generate.js';
import { ProgressBar } from '../ui/progress.js';

export interface SynthCommandOptions {
  out: string;
  count: number;
  seed: number;
  size: string;
  bits: number;
}

/** `cspine-edge synth`: synthetic lateral c-spine phantoms with labels.csv (docs/phantoms.md). */
export async function synthCommand(options: SynthCommandOptions): Promise<number> {
  const size = /^(\d+)x(\d+)$/.exec(options.size);
  if (!size) throw new RangeError(`--size must look like 256x320, not "${options.size}"`);
  if (options.bits !== 8 && options.bits !== 16) throw new RangeError(`--bits must be 8 or 16, not ${options.bits}`);
  const progress = new ProgressBar(Math.max(options.count, 1));
  const started = Date.now();
  const { files, labelsCsv } = await generatePhantoms({
    outDir: options.out,
    count: options.count,
    seed: options.seed,
    width: Number(size[1]),
    height: Number(size[2]),
    bits: options.bits,
    onProgress: () => progress.tick('phantoms'),
  });
  process.stdout.write(`wrote ${files} phantoms and ${labelsCsv} in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  return 0;
}
