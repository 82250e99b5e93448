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

    const tiles: MontageTile[] = [];
    for (const category of OOD_CATEGORIES) {
      for (const index of PICKS[category]) {
        const file = files.get(`${category}/${index}`)!;
        tiles.push({ file: path.join(dir, file), title: category, subtitle: file.split('/')[1]!.replace(/^\d+-/, '').replace(/\.\w+$/, '') });
      }
    }
    return await composeMontage(tiles, { tileWidth, tileHeight, columns });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** One picture in a montage, with a caption of two lines under it. */
export interface MontageTile {
  file: string;
  title: string;
  subtitle: string;
  subtitleColour?: string;
  /** A frame of this colour around the picture (e.g. the lamp it got). */
  frame?: string;
}

export interface MontageLayout {
  tileWidth: number;
  tileHeight: number;
  columns: number;
  gap?: number;
  /** Frame line width, for tiles with a `frame` (keep it under `gap`). */
  frameWidth?: number;
  titleSize?: number;
  subtitleSize?: number;
  /** Palette size of the PNG (default 128). */
  colours?: number;
}

/**
 * Tiles on white, row by row, each image fitted (black bars) into its tile with its caption
 * under it, as a palette PNG (128 colours unless told): noise and photos make a true-colour figure several
 * times larger.
 */
export async function composeMontage(tiles: readonly MontageTile[], layout: MontageLayout): Promise<Buffer> {
  const { tileWidth, tileHeight, columns, gap = 6, frameWidth = 4, titleSize = 10, subtitleSize = 9, colours = 128 } = layout;
  const labelHeight = Math.round(titleSize + subtitleSize + 5);
  const cellW = tileWidth + gap;
  const cellH = tileHeight + labelHeight + gap;
  const rows = Math.ceil(tiles.length / columns);
  const width = gap + columns * cellW;
  const height = gap + rows * cellH;

  const overlays: OverlayOptions[] = [];
  const labels: string[] = [];
  for (const [k, tile] of tiles.entries()) {
    const left = gap + (k % columns) * cellW;
    const top = gap + Math.floor(k / columns) * cellH;
    const input = await sharp(tile.file)
      .resize(tileWidth, tileHeight, { fit: 'contain', background: '#000000' })
      .toColourspace('srgb')
      .png()
      .toBuffer();
    overlays.push({ input, left, top });
    if (tile.frame !== undefined) {
      const f = frameWidth;
      labels.push(`<rect x="${left - f / 2}" y="${top - f / 2}" width="${tileWidth + f}" height="${tileHeight + f}" fill="none" stroke="${tile.frame}" stroke-width="${f}"/>`);
    }
    const below = top + tileHeight + (tile.frame !== undefined ? frameWidth / 2 : 0);
    labels.push(
      `<text x="${left}" y="${below + titleSize}" font-family="${FONTS.sans}" font-size="${titleSize}" font-weight="bold" fill="#000">${escapeXml(tile.title)}</text>`,
      `<text x="${left}" y="${below + titleSize + subtitleSize + 2}" font-family="${FONTS.sans}" font-size="${subtitleSize}" fill="${tile.subtitleColour ?? '#555'}">${escapeXml(tile.subtitle)}</text>`,
    );
  }
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${labels.join('')}</svg>`;
  overlays.push({ input: Buffer.from(svg), left: 0, top: 0 });
  return sharp({ create: { width, height, channels: 3, background: { r: 255, g: 255, b: 255 } } })
    .composite(overlays)
    .png({ palette: true, colours, compressionLevel: 9 })
    .toBuffer();
}
