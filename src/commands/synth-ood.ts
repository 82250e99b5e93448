import { generateOodSets, OOD_CATEGORIES } from '../tools/synth/ood/generate.js';
import { ProgressBar } from '../ui/progress.js';
import { defineCommand, rangeErrorsAsUsage, UsageError } from './options.js';

export interface SynthOodCommandOptions {
  out: string;
  seed: number;
  count: number;
  size: string;
  /** Comma-separated category names; undefined = all. */
  categories: string | undefined;
}

/** `cspine-edge synth-ood`: OOD and acquisition-shift test sets with ood.csv (docs/phantoms.md). */
export async function synthOodCommand(options: SynthOodCommandOptions): Promise<number> {
  const size = /^(\d+)x(\d+)$/.exec(options.size);
  if (!size) throw new RangeError(`--size must look like 256x320, not "${options.size}"`);
  const categories = options.categories
    ?.split(',')
    .map((c) => c.trim())
    .filter(Boolean);
  const perCategory = categories?.length ?? OOD_CATEGORIES.length;
  const progress = new ProgressBar(Math.max(options.count * perCategory, 1));
  const started = Date.now();
  const result = await generateOodSets({
    outDir: options.out,
    seed: options.seed,
    count: options.count,
    width: Number(size[1]),
    height: Number(size[2]),
    ...(categories === undefined ? {} : { categories }),
    onProgress: () => progress.tick('images'),
  });
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  const names = Object.keys(result.perCategory);
  process.stdout.write(
    `wrote ${result.files} images (${options.count} in each of ${names.length} categories: ${names.join(', ')}) and ${result.csv} in ${seconds} s; phantoms from synth seed ${result.phantomSeed}\n`,
  );
  return 0;
}

export const synthOod = defineCommand({
  synopsis: 'synth-ood --out DIR --seed S [--count N] [--categories a,b,...] [--size WxH]',
  about: 'Out-of-distribution and acquisition-shift test sets with ood.csv, N images per category (docs/phantoms.md).',
  options: {
    out: { type: 'string' },
    seed: { type: 'string' },
    count: { type: 'string', default: '50' },
    categories: { type: 'string' },
    size: { type: 'string', default: '256x320' },
  },
  optionHelp: `  --out DIR                 where the sets go
  --seed S                  the same seed draws the same sets
  --count N                 images per category (default 50)
  --categories a,b,...      only these categories (default all)
  --size WxH                image size (default 256x320)`,
  run: ({ values }) => {
    if (values.out === undefined || values.seed === undefined) throw new UsageError('synth-ood needs --out DIR and --seed S');
    const options = { out: values.out, seed: Number(values.seed), count: Number(values.count), size: values.size, categories: values.categories };
    return rangeErrorsAsUsage(() => synthOodCommand(options));
  },
});
