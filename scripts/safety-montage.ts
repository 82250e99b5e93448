/**
 * `npx tsx scripts/safety-montage.ts OOD_DIR [--model DIR] [--out FILE] [--per 2] [--columns 8]
 * [--include-third-party]`: docs/images/safety-montage.png, one or two inputs of every category
 * of a `cspine-edge synth-ood` set, each framed in the colour of the lamp the device gave it
 * (green, amber, red; a rejected image is amber) and captioned with its category and what
 * happened. Every image goes through the real pipeline (quality gate, model, OOD detector,
 * triage) with the configured settings (CSPINE_CONFIG / CSPINE_* as for the CLI).
 *
 * Third-party images (`photos-real`, `imagemagick`, from scripts/ood/debian-photos.sh) are left
 * out unless --include-third-party: they keep their own licences and are not to be committed.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../src/config/load.js';
import { toCspineError } from '../src/errors.js';
import { OOD_GROUPS, readOodSet, type OodSetImage } from '../src/tools/evaluate/evaluate-ood.js';
import { LAMP_COLOURS } from '../src/tools/evaluate/plots.js';
import { openClassifier } from '../src/pipeline/open-classifier.js';
import { composeMontage, type MontageTile } from '../src/tools/synth/ood/montage.js';

const THIRD_PARTY = new Set(['photos-real', 'imagemagick']);
const MAX_BYTES = 400 * 1024;
/** Caption text in the lamp's colour; amber text darker than the frame so it reads on white. */
const TEXT_COLOURS = { GREEN: '#1f7a33', AMBER: '#9a6700', RED: LAMP_COLOURS.RED } as const;

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    model: { type: 'string' },
    out: { type: 'string', default: 'docs/images/safety-montage.png' },
    per: { type: 'string', default: '2' },
    columns: { type: 'string', default: '8' },
    'include-third-party': { type: 'boolean', default: false },
  },
});
const [setDir] = positionals;
if (setDir === undefined) {
  process.stderr.write('usage: npx tsx scripts/safety-montage.ts OOD_DIR [--model DIR] [--out FILE] [--per 2] [--columns 8] [--include-third-party]\n');
  process.exit(64);
}
const per = Number(values.per);
const columns = Number(values.columns);

/**
 * Up to `per` images of each category, of different variants: of a phantom-derived category an
 * injured spine first (the case that matters most), then a normal one.
 */
function pick(images: readonly OodSetImage[]): OodSetImage[] {
  const byCategory = new Map<string, OodSetImage[]>();
  for (const image of images) {
    if (THIRD_PARTY.has(image.category) && !values['include-third-party']) continue;
    byCategory.set(image.category, [...(byCategory.get(image.category) ?? []), image]);
  }
  const variant = (file: string) => path.basename(file).replace(/^\d+-/, '').replace(/\.\w+$/, '');
  const categories = [...byCategory.keys()].sort((a, b) => OOD_GROUPS.indexOf(byCategory.get(a)![0]!.group) - OOD_GROUPS.indexOf(byCategory.get(b)![0]!.group));
  return categories.flatMap((category) => {
    const rows = byCategory.get(category)!;
    const injured = rows.find((r) => r.label === 'fracture' || r.label === 'dislocation');
    const normal = rows.find((r) => r.label === 'normal');
    const chosen: OodSetImage[] = [];
    const seen = new Set<string>();
    for (const image of [injured, normal, ...rows]) {
      if (chosen.length >= per) break;
      if (image === undefined || seen.has(variant(image.file))) continue;
      seen.add(variant(image.file));
      chosen.push(image);
    }
    return chosen;
  });
}

const config = loadConfig();
const classifier = await openClassifier(config, values.model === undefined ? undefined : path.resolve(values.model));
const tiles: MontageTile[] = [];
const tally = { GREEN: 0, AMBER: 0, RED: 0 };
try {
  for (const image of pick(readOodSet(setDir))) {
    let lamp: 'GREEN' | 'AMBER' | 'RED';
    let what: string;
    try {
      const result = await classifier.classify(fs.readFileSync(image.path));
      lamp = result.triage.level === 'FAULT' ? 'AMBER' : result.triage.level;
      // phantom-derived: the truth, which the lamp must not contradict; otherwise what the model said
      what = result.ood?.inDistribution === false ? 'OOD flagged' : image.label === null ? `said ${result.label}` : `true ${image.label}`;
      if (result.orientation) what += ' ↻';
    } catch (error) {
      lamp = 'AMBER';
      what = `gate: ${toCspineError(error).code.replace(/^E_(QUALITY_)?/, '').toLowerCase().replace(/_/g, ' ')}`;
    }
    tally[lamp]++;
    tiles.push({ file: image.path, title: image.category, subtitle: `${lamp} · ${what}`, subtitleColour: TEXT_COLOURS[lamp], frame: LAMP_COLOURS[lamp] });
  }
} finally {
  await classifier.engine.close();
}

const png = await composeMontage(tiles, { tileWidth: 120, tileHeight: 150, columns, gap: 14, frameWidth: 5, titleSize: 11, subtitleSize: 10, colours: 64 });
fs.mkdirSync(path.dirname(values.out), { recursive: true });
fs.writeFileSync(values.out, png);
process.stdout.write(`${values.out}: ${tiles.length} images (GREEN ${tally.GREEN}, AMBER ${tally.AMBER}, RED ${tally.RED}), ${(png.length / 1024).toFixed(0)} KB\n`);
if (png.length > MAX_BYTES) {
  process.stderr.write(`over ${MAX_BYTES / 1024} KB: use --per 1 or fewer --columns' worth of images before committing it\n`);
  process.exitCode = 1;
}
