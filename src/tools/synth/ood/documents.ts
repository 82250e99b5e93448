/**
 * `documents`: pages of text rendered from SVG by librsvg with the DejaVu fonts: a page of
 * paragraphs, a table, a filled-in form, a screenshot of an application and a radiology
 * report (words about a c-spine, but no c-spine). A photo of a request form or a screen
 * grab sent to the capture folder instead of the film is a realistic mistake.
 */
import type { Rng } from '../prng.js';
import { variantFor, type ItemContext, type OodItem } from './item.js';
import { CHAR_WIDTH, n, randomColour, svgDocument, text, wrap } from './svg.js';
import { surname, title, words } from './words.js';

const VARIANTS = ['paragraphs', 'table', 'form', 'screenshot', 'report'] as const;

export function makeDocument({ index, rng, width, height }: ItemContext): OodItem {
  const variant = variantFor(VARIANTS, index);
  // Sizes scale with the page, from about 9 px type on a 256-wide page.
  const unit = width / 256;
  const body = draw(variant, width, height, unit, rng);
  // Paper is often scanned or photographed in grey; the screenshot keeps its colours.
  const grey = variant !== 'screenshot' && rng.chance(0.5);
  const paper = variant === 'screenshot' ? '#ffffff' : rng.pick(['#ffffff', '#fbfaf5', '#f4f1e8']);
  return {
    variant,
    picture: { kind: 'svg', width, height, svg: svgDocument(width, height, body, paper), grey },
    format: 'png',
    source: `documents ${variant}`,
  };
}

function draw(kind: (typeof VARIANTS)[number], width: number, height: number, unit: number, rng: Rng): string[] {
  switch (kind) {
    case 'paragraphs':
      return paragraphs(width, height, unit, rng);
    case 'table':
      return table(width, height, unit, rng);
    case 'form':
      return form(width, height, unit, rng);
    case 'screenshot':
      return screenshot(width, height, unit, rng);
    case 'report':
      return report(width, height, unit, rng);
  }
}

/** Lines of wrapped text from y downwards; returns the y below the last line. */
function block(out: string[], x: number, y: number, maxWidth: number, bottom: number, size: number, family: 'sans' | 'serif' | 'mono', content: readonly string[], fill = '#111'): number {
  const columns = Math.max(8, Math.floor(maxWidth / (size * CHAR_WIDTH[family])));
  for (const line of wrap(content, columns)) {
    if (y > bottom) break;
    out.push(text(x, y, line, size, family, `fill="${fill}"`));
    y += size * 1.35;
  }
  return y;
}

function paragraphs(width: number, height: number, unit: number, rng: Rng): string[] {
  const out: string[] = [];
  const margin = 16 * unit;
  const family = rng.pick(['serif', 'sans'] as const);
  const size = rng.uniform(7.5, 10) * unit;
  let y = margin + 14 * unit;
  out.push(text(margin, y, title(rng, rng.int(2, 4)), size * 1.6, family, 'font-weight="bold" fill="#000"'));
  y += size * 2.4;
  // One or two columns, as in letters and in journals.
  const columns = width > 200 * unit && rng.chance(0.35) ? 2 : 1;
  const gap = 10 * unit;
  const columnWidth = (width - 2 * margin - (columns - 1) * gap) / columns;
  for (let c = 0; c < columns; c++) {
    let cy = y;
    while (cy < height - margin) {
      cy = block(out, margin + c * (columnWidth + gap), cy, columnWidth, height - margin, size, family, words(rng, rng.int(25, 70)));
      cy += size * 0.8;
    }
  }
  out.push(text(width / 2, height - margin / 3, String(rng.int(1, 300)), size * 0.8, family, 'text-anchor="middle" fill="#444"'));
  return out;
}

function table(width: number, height: number, unit: number, rng: Rng): string[] {
  const out: string[] = [];
  const margin = 12 * unit;
  const size = rng.uniform(7, 9) * unit;
  out.push(text(margin, margin + size, title(rng, 3), size * 1.4, 'sans', 'font-weight="bold" fill="#000"'));
  const columns = rng.int(3, 5);
  const rowHeight = size * 1.9;
  const top = margin + size * 3;
  const rows = Math.floor((height - top - margin) / rowHeight);
  const columnWidth = (width - 2 * margin) / columns;
  const shade = rng.chance(0.5);
  for (let r = 0; r < rows; r++) {
    const y = top + r * rowHeight;
    if (r === 0) out.push(`<rect x="${n(margin)}" y="${n(y)}" width="${n(width - 2 * margin)}" height="${n(rowHeight)}" fill="#d9d9d9"/>`);
    else if (shade && r % 2 === 0) out.push(`<rect x="${n(margin)}" y="${n(y)}" width="${n(width - 2 * margin)}" height="${n(rowHeight)}" fill="#f0f0f0"/>`);
    for (let c = 0; c < columns; c++) {
      const x = margin + c * columnWidth;
      const cell = r === 0 ? title(rng, 1) : c === 0 ? words(rng, 1)[0]!.replace(/[.;]/, '') : (rng.uniform(0, 1000)).toFixed(rng.int(0, 2));
      // Numbers are right-aligned, as in any spreadsheet; the first column is left-aligned.
      const right = c !== 0;
      const clipped = cell.slice(0, Math.floor(columnWidth / (size * CHAR_WIDTH.sans)));
      out.push(text(right ? x + columnWidth - 3 * unit : x + 3 * unit, y + rowHeight * 0.68, clipped, size, 'sans', `${right ? 'text-anchor="end" ' : ''}fill="#111"${r === 0 ? ' font-weight="bold"' : ''}`));
    }
    out.push(`<line x1="${n(margin)}" y1="${n(y + rowHeight)}" x2="${n(width - margin)}" y2="${n(y + rowHeight)}" stroke="#888" stroke-width="0.8"/>`);
  }
  for (let c = 0; c <= columns; c++) {
    const x = margin + c * columnWidth;
    out.push(`<line x1="${n(x)}" y1="${n(top)}" x2="${n(x)}" y2="${n(top + rows * rowHeight)}" stroke="#888" stroke-width="0.8"/>`);
  }
  out.push(`<rect x="${n(margin)}" y="${n(top)}" width="${n(width - 2 * margin)}" height="${n(rows * rowHeight)}" fill="none" stroke="#333" stroke-width="1.2"/>`);
  return out;
}

/** A request form: labelled fields (some filled in, in a "handwritten" oblique face), tick boxes, a signature line. */
function form(width: number, height: number, unit: number, rng: Rng): string[] {
  const out: string[] = [];
  const margin = 12 * unit;
  const size = rng.uniform(7, 8.5) * unit;
  out.push(`<rect x="${n(margin)}" y="${n(margin)}" width="${n(width - 2 * margin)}" height="${n(size * 2.6)}" fill="#222"/>`);
  out.push(text(margin + 4 * unit, margin + size * 1.8, `${title(rng, 2)} Request Form`, size * 1.2, 'sans', 'font-weight="bold" fill="#fff"'));
  let y = margin + size * 5;
  const fields = ['Name', 'Date of birth', 'Address', 'Ward', 'Requested by', 'Reason', 'Phone', 'Reference'];
  while (y < height - margin - size * 6) {
    const label = rng.pick(fields);
    out.push(text(margin, y, `${label}:`, size, 'sans', 'fill="#222"'));
    const boxX = margin + size * 7.5;
    out.push(`<rect x="${n(boxX)}" y="${n(y - size * 1.05)}" width="${n(width - margin - boxX)}" height="${n(size * 1.5)}" fill="none" stroke="#555" stroke-width="0.8"/>`);
    if (rng.chance(0.7)) {
      const value = label === 'Name' ? `${surname(rng)}, ${title(rng, 1)}` : label === 'Date of birth' ? `${rng.int(1, 28)}/${rng.int(1, 12)}/${rng.int(1930, 2015)}` : words(rng, rng.int(1, 4)).join(' ');
      out.push(text(boxX + 3 * unit, y, value.slice(0, Math.floor((width - margin - boxX) / (size * 0.6))), size, 'serif', 'font-style="italic" fill="#1a3a8a"'));
    }
    y += size * 2.3;
  }
  for (let k = 0; k < 3; k++) {
    const bx = margin + k * ((width - 2 * margin) / 3);
    out.push(`<rect x="${n(bx)}" y="${n(y - size)}" width="${n(size)}" height="${n(size)}" fill="none" stroke="#222" stroke-width="1"/>`);
    if (rng.chance(0.5)) out.push(`<path d="M${n(bx + size * 0.15)},${n(y - size * 0.5)} L${n(bx + size * 0.4)},${n(y - size * 0.1)} L${n(bx + size * 0.9)},${n(y - size * 0.95)}" fill="none" stroke="#1a3a8a" stroke-width="1.5"/>`);
    out.push(text(bx + size * 1.4, y - size * 0.1, title(rng, 1), size * 0.9, 'sans', 'fill="#222"'));
  }
  y += size * 3;
  out.push(`<line x1="${n(margin)}" y1="${n(y)}" x2="${n(width / 2)}" y2="${n(y)}" stroke="#222" stroke-width="0.8"/>`);
  out.push(text(margin, y + size * 1.2, 'Signature', size * 0.8, 'sans', 'fill="#444"'));
  out.push(`<path d="M${n(margin + 5 * unit)},${n(y - 3 * unit)} c${n(8 * unit)},${n(-10 * unit)} ${n(12 * unit)},${n(8 * unit)} ${n(20 * unit)},${n(-2 * unit)} s${n(10 * unit)},${n(6 * unit)} ${n(22 * unit)},${n(-4 * unit)}" fill="none" stroke="#1a3a8a" stroke-width="1.2"/>`);
  return out;
}

/** A desktop application: title bar, toolbar, sidebar list, content text, buttons, status bar. */
function screenshot(width: number, height: number, unit: number, rng: Rng): string[] {
  const out: string[] = [];
  const size = 7.5 * unit;
  const accent = randomColour(rng, 0.6, 0.75);
  const dark = rng.chance(0.4);
  const panel = dark ? '#2b2b2b' : '#f3f3f3';
  const ink = dark ? '#e6e6e6' : '#222222';
  const bar = size * 2.4;
  out.push(`<rect width="${width}" height="${height}" fill="${dark ? '#1e1e1e' : '#ffffff'}"/>`);
  out.push(`<rect width="${width}" height="${n(bar)}" fill="${accent}"/>`);
  out.push(text(size, bar * 0.65, `${title(rng, 2)} - ${title(rng, 1)}`, size, 'sans', 'fill="#fff"'));
  for (let k = 0; k < 3; k++) out.push(`<circle cx="${n(width - size * (1.2 + 1.6 * k))}" cy="${n(bar / 2)}" r="${n(size * 0.45)}" fill="#ffffff" opacity="0.8"/>`);
  out.push(`<rect y="${n(bar)}" width="${width}" height="${n(bar)}" fill="${panel}"/>`);
  for (let k = 0; k < 6; k++) out.push(`<rect x="${n(size * (0.6 + 2.2 * k))}" y="${n(bar + bar * 0.2)}" width="${n(size * 1.6)}" height="${n(bar * 0.6)}" rx="2" fill="${randomColour(rng, 0.3, dark ? 0.5 : 0.8)}"/>`);
  const side = width * rng.uniform(0.28, 0.38);
  out.push(`<rect y="${n(2 * bar)}" width="${n(side)}" height="${n(height - 3 * bar)}" fill="${panel}"/>`);
  let y = 2 * bar + size * 1.8;
  const selected = rng.int(0, 5);
  for (let k = 0; y < height - 2 * bar; k++) {
    if (k === selected) out.push(`<rect y="${n(y - size * 1.1)}" width="${n(side)}" height="${n(size * 1.6)}" fill="${accent}" opacity="0.35"/>`);
    out.push(text(size * 0.8, y, title(rng, 1), size * 0.9, 'sans', `fill="${ink}"`));
    y += size * 1.7;
  }
  const x = side + size;
  y = 2 * bar + size * 2;
  out.push(text(x, y, title(rng, 3), size * 1.3, 'sans', `font-weight="bold" fill="${ink}"`));
  y = block(out, x, y + size * 2, width - x - size, height - bar * 3, size * 0.9, 'sans', words(rng, rng.int(30, 70)), ink);
  out.push(`<rect x="${n(x)}" y="${n(Math.min(y, height - bar * 2.8))}" width="${n(size * 6)}" height="${n(size * 2)}" rx="3" fill="${accent}"/>`);
  out.push(text(x + size * 3, Math.min(y, height - bar * 2.8) + size * 1.35, 'OK', size, 'sans', 'text-anchor="middle" fill="#fff"'));
  out.push(`<rect y="${n(height - bar)}" width="${width}" height="${n(bar)}" fill="${panel}"/>`);
  out.push(text(size, height - bar * 0.35, `Ready  ${rng.int(1, 99)} items`, size * 0.8, 'mono', `fill="${ink}"`));
  return out;
}

/** A printed report with a header block, clinical wording about a c-spine, and no image. */
function report(width: number, height: number, unit: number, rng: Rng): string[] {
  const out: string[] = [];
  const margin = 14 * unit;
  const size = rng.uniform(7, 8.5) * unit;
  let y = margin + size;
  out.push(text(margin, y, 'RADIOLOGY REPORT', size * 1.4, 'sans', 'font-weight="bold" fill="#000"'));
  y += size * 2.2;
  const header = [
    `Patient: ${surname(rng)}, ${title(rng, 1)}`,
    `MRN: ${rng.int(1_000_000, 9_999_999)}`,
    `Exam: XR C-SPINE LATERAL`,
    `Date: 20${rng.int(10, 25)}-${String(rng.int(1, 12)).padStart(2, '0')}-${String(rng.int(1, 28)).padStart(2, '0')}`,
  ];
  for (const line of header) {
    out.push(text(margin, y, line, size, 'mono', 'fill="#111"'));
    y += size * 1.4;
  }
  out.push(`<line x1="${n(margin)}" y1="${n(y)}" x2="${n(width - margin)}" y2="${n(y)}" stroke="#000" stroke-width="1"/>`);
  y += size * 2;
  for (const heading of ['FINDINGS', 'IMPRESSION']) {
    out.push(text(margin, y, heading, size, 'sans', 'font-weight="bold" fill="#000"'));
    y = block(out, margin, y + size * 1.5, width - 2 * margin, height - margin * 3, size, 'serif', words(rng, rng.int(20, 45), 'clinical'));
    y += size;
  }
  out.push(text(margin, height - margin, `Reported by Dr ${surname(rng)}`, size * 0.9, 'serif', 'font-style="italic" fill="#222"'));
  return out;
}
