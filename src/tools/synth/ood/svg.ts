/**
 * Small helpers for the categories drawn as SVG (drawings, documents). Numbers are written
 * with one decimal so the SVG text, and so the rasterised PNG, is the same on every run.
 */
import type { Rng } from '../prng.js';

/** The fonts the base image installs (fonts-dejavu); librsvg finds them through fontconfig. */
export const FONTS = { sans: 'DejaVu Sans', serif: 'DejaVu Serif', mono: 'DejaVu Sans Mono' } as const;

/** Rough advance width of one character as a share of the font size (DejaVu is wide). */
export const CHAR_WIDTH = { sans: 0.62, serif: 0.6, mono: 0.61 } as const;

export function n(value: number): string {
  return (Math.round(value * 10) / 10).toString();
}

export function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

export function svgDocument(width: number, height: number, body: readonly string[], background = '#ffffff'): string {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">`,
    `<rect width="${width}" height="${height}" fill="${background}"/>`,
    ...body,
    '</svg>',
  ].join('\n');
}

export function text(x: number, y: number, content: string, size: number, family: keyof typeof FONTS, attributes = ''): string {
  return `<text x="${n(x)}" y="${n(y)}" font-family="${FONTS[family]}" font-size="${n(size)}" ${attributes}>${escapeXml(content)}</text>`;
}

/** A random saturated colour, as #rrggbb. */
export function randomColour(rng: Rng, saturation = 0.7, value = 0.85): string {
  const h = rng.next();
  const f = (k: number): number => {
    const t = (k + h * 6) % 6;
    return value - value * saturation * Math.max(0, Math.min(t, 4 - t, 1));
  };
  return hex(f(5), f(3), f(1));
}

export function hex(r: number, g: number, b: number): string {
  const byte = (v: number): string => Math.round(Math.min(1, Math.max(0, v)) * 255).toString(16).padStart(2, '0');
  return `#${byte(r)}${byte(g)}${byte(b)}`;
}

/** Greedy word wrap to lines of at most `columns` characters. */
export function wrap(words: readonly string[], columns: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of words) {
    if (line.length > 0 && line.length + 1 + word.length > columns) {
      lines.push(line);
      line = word;
    } else {
      line = line.length > 0 ? `${line} ${word}` : word;
    }
  }
  if (line.length > 0) lines.push(line);
  return lines;
}
