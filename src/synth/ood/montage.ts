/**
 * docs/images/ood-categories.png: a few examples of every OOD category, labelled. Made by
 * running the real generator into a temporary folder, so the figure shows what
 * `cspine-edge synth-ood` writes.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp, { type OverlayOptions } from 'sharp';
import { OOD_CATEGORIES, type OodCategory } from './catalogue.js';
import { generateOodSets } from './generate.js';
import { escapeXml, FONTS } from './svg.js';

export interface OodMontageOptions {
  seed: number;
  /** Tile size in the figure; the images are drawn at twice this and scaled down. */
  tileWidth?: number;
  tileHeight?: number;
  columns?: number;
}

/** Which items of each category to show: variants that look different from each other. */
const PICKS: Record<OodCategory, readonly number[]> = {
  blank: [1, 3],
  saturated: [0, 1],
  noise: [2, 6],
  photos: [1, 3],
  drawings: [1, 3],
  documents: [0, 3],
  anatomy: [0, 1, 2],
  inverted: [2],
  rotated90: [2],
  rotated180: [2],
  rotated270: [2],
  fresh: [2],
  'shift-mirror': [2],
  'shift-blur': [2],
  'shift-noise': [2],
  'shift-gamma': [2],
  'shift-jpeg': [2],
  'shift-lowres': [2],
  'shift-rotate': [2],
  'shift-collimation': [2],
};

export async function renderOodMontage(options: OodMontageOptions): Promise<Buffer> {
  const { seed, tileWidth = 112, tileHeight = 140, columns = 7 } = options;
  const count = Math.max(...Object.values(PICKS).flat()) + 1;
  const dir = await mkdtemp(path.join(os.tmpdir(), 'cspine-ood-montage-'));
  try {
    await generateOodSets({ outDir: dir, seed, count, width: tileWidth * 2, height: tileHeight * 2 });
    const csv = (await readFile(path.join(dir, 'ood.csv'), 'utf8')).trimEnd().split('\n').slice(1);
    const files = new Map(csv.map((line) => line.split(',')).map(([file, category]) => [`${category}/${Number(file!.split('/')[1]!.slice(0, 6))}`, file!]));

    const gap = 6;
    const labelHeight = 24;
    const cellW = tileWidth + gap;
    const cellH = tileHeight + labelHeight + gap;
    const tiles: { category: OodCategory; file: string }[] = [];
    for (const category of OOD_CATEGORIES) for (const index of PICKS[category]) tiles.push({ category, file: files.get(`${category}/${index}`)! });
    const rows = Math.ceil(tiles.length / columns);
    const width = gap + columns * cellW;
    const height = gap + rows * cellH;

    const overlays: OverlayOptions[] = [];
    const labels: string[] = [];
    for (const [k, tile] of tiles.entries()) {
      const left = gap + (k % columns) * cellW;
      const top = gap + Math.floor(k / columns) * cellH;
      const input = await sharp(path.join(dir, tile.file))
        .resize(tileWidth, tileHeight, { fit: 'contain', background: '#000000' })
        .toColourspace('srgb')
        .png()
        .toBuffer();
      overlays.push({ input, left, top });
      const variant = tile.file.split('/')[1]!.replace(/^\d+-/, '').replace(/\.\w+$/, '');
      labels.push(
        `<text x="${left}" y="${top + tileHeight + 10}" font-family="${FONTS.sans}" font-size="10" font-weight="bold" fill="#000">${escapeXml(tile.category)}</text>`,
        `<text x="${left}" y="${top + tileHeight + 21}" font-family="${FONTS.sans}" font-size="9" fill="#555">${escapeXml(variant)}</text>`,
      );
    }
    const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${labels.join('')}</svg>`;
    overlays.push({ input: Buffer.from(svg), left: 0, top: 0 });
    // A palette PNG: noise and photos make a true-colour figure several times larger.
    return await sharp({ create: { width, height, channels: 3, background: { r: 255, g: 255, b: 255 } } })
      .composite(overlays)
      .png({ palette: true, colours: 128, compressionLevel: 9 })
      .toBuffer();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
