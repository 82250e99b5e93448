import { generatePhantoms, VARIATIONS } from '../tools/synth/generate.js';
import { ProgressBar } from '../ui/progress.js';
import { defineCommand, rangeErrorsAsUsage, UsageError } from './options.js';

export interface SynthCommandOptions {
  out: string;
  count: number;
  seed: number;
  size: string;
  bits: number;
  /** Default `standard`; scripts/train/recipe.sh calls this without it. */
  variation?: string;
}

/** `cspine-edge synth`: synthetic lateral c-spine phantoms with labels.csv (docs/phantoms.md). */
export async function synthCommand(options: SynthCommandOptions): Promise<number> {
  const size = /^(\d+)x(\d+)$/.exec(options.size);
  if (!size) throw new RangeError(`--size must look like 256x320, not "${options.size}"`);
  if (options.bits !== 8 && options.bits !== 16) throw new RangeError(`--bits must be 8 or 16, not ${options.bits}`);
  const variation = VARIATIONS.find((name) => name === (options.variation ?? 'standard'));
  if (variation === undefined) throw new RangeError(`--variation must be ${VARIATIONS.join(' or ')}, not "${options.variation}"`);
  const progress = new ProgressBar(Math.max(options.count, 1));
  const started = Date.now();
  const { files, labelsCsv } = await generatePhantoms({
    outDir: options.out,
    count: options.count,
    seed: options.seed,
    width: Number(size[1]),
    height: Number(size[2]),
    bits: options.bits,
    variation,
    onProgress: () => progress.tick('phantoms'),
  });
  process.stdout.write(`wrote ${files} phantoms and ${labelsCsv} in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  return 0;
}

export const synth = defineCommand({
  synopsis: 'synth --out DIR --count N --seed S [--size WxH] [--bits 8|16] [--variation standard|clinical]',
  about: 'Synthetic lateral c-spine phantoms in class folders, with labels.csv (docs/phantoms.md).',
  options: {
    out: { type: 'string' },
    count: { type: 'string' },
    seed: { type: 'string' },
    size: { type: 'string', default: '256x320' },
    bits: { type: 'string', default: '8' },
    variation: { type: 'string', default: 'standard' },
  },
  optionHelp: `  --out DIR                 where the phantoms go
  --count N                 how many
  --seed S                  the same seed draws the same phantoms
  --size WxH                image size (default 256x320)
  --bits 8|16               grey-level depth of the PNGs (default 8)
  --variation V             standard (default: the shipped model's training population) or
                            clinical (normals varying under the clinical criteria, injuries
                            from just over them; docs/phantoms.md)`,
  run: ({ values }) => {
    if (values.out === undefined || values.count === undefined || values.seed === undefined) throw new UsageError('synth needs --out DIR, --count N and --seed S');
    const options = { out: values.out, count: Number(values.count), seed: Number(values.seed), size: values.size, bits: Number(values.bits), variation: values.variation };
    return rangeErrorsAsUsage(() => synthCommand(options));
  },
});
