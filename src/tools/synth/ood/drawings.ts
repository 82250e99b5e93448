/**
 * `drawings`: vector pictures on white: pen line drawings, a cartoon scene, geometric
 * shapes and bar / line / pie charts. Hard edges, flat fills and large white areas:
 * nothing like film, but easy to mistake for "high contrast" by a naive quality check.
 */
import type { Rng } from '../prng.js';
import { variantFor, type ItemContext, type OodItem } from './item.js';
import type { VectorPicture } from './picture.js';
import { n, randomColour, svgDocument, text } from './svg.js';
import { title } from './words.js';

const VARIANTS = ['line-drawing', 'cartoon', 'shapes', 'bar-chart', 'line-chart', 'pie-chart'] as const;

export function makeDrawing({ index, rng, width, height }: ItemContext): OodItem {
  const variant = variantFor(VARIANTS, index);
  const body = draw(variant, width, height, rng);
  // Line drawings are ink only: grey files. The rest are colour.
  const picture: VectorPicture = { kind: 'svg', width, height, svg: svgDocument(width, height, body), grey: variant === 'line-drawing' };
  return { variant, picture, format: 'png', source: `drawings ${variant}` };
}

function draw(kind: (typeof VARIANTS)[number], width: number, height: number, rng: Rng): string[] {
  switch (kind) {
    case 'line-drawing':
      return lineDrawing(width, height, rng);
    case 'cartoon':
      return cartoon(width, height, rng);
    case 'shapes':
      return shapes(width, height, rng);
    case 'bar-chart':
      return barChart(width, height, rng);
    case 'line-chart':
      return lineChart(width, height, rng);
    case 'pie-chart':
      return pieChart(width, height, rng);
  }
}

/** Smooth closed pen loops and a few open strokes, black ink: a sketch. */
function lineDrawing(width: number, height: number, rng: Rng): string[] {
  const out: string[] = [];
  const loops = rng.int(3, 7);
  for (let k = 0; k < loops; k++) {
    const cx = rng.uniform(0.2, 0.8) * width;
    const cy = rng.uniform(0.2, 0.8) * height;
    const r = rng.uniform(0.08, 0.3) * Math.min(width, height);
    const points = rng.int(5, 9);
    const pts: [number, number][] = [];
    for (let i = 0; i < points; i++) {
      const a = (2 * Math.PI * i) / points;
      const rr = r * rng.uniform(0.6, 1.3);
      pts.push([cx + rr * Math.cos(a), cy + rr * Math.sin(a)]);
    }
    out.push(`<path d="${smoothClosed(pts)}" fill="none" stroke="#111" stroke-width="${n(rng.uniform(1, 2.5))}" stroke-linejoin="round"/>`);
  }
  for (let k = 0; k < rng.int(3, 8); k++) {
    const x0 = rng.uniform(0, width);
    const y0 = rng.uniform(0, height);
    const d = `M${n(x0)},${n(y0)} Q${n(rng.uniform(0, width))},${n(rng.uniform(0, height))} ${n(rng.uniform(0, width))},${n(rng.uniform(0, height))}`;
    out.push(`<path d="${d}" fill="none" stroke="#222" stroke-width="${n(rng.uniform(0.8, 1.8))}" stroke-linecap="round"/>`);
  }
  return out;
}

/** Catmull–Rom through the points, as cubic Béziers, closed. */
function smoothClosed(points: readonly [number, number][]): string {
  const m = points.length;
  const at = (i: number): [number, number] => points[((i % m) + m) % m]!;
  let d = `M${n(at(0)[0])},${n(at(0)[1])}`;
  for (let i = 0; i < m; i++) {
    const [x0, y0] = at(i - 1);
    const [x1, y1] = at(i);
    const [x2, y2] = at(i + 1);
    const [x3, y3] = at(i + 2);
    d += ` C${n(x1 + (x2 - x0) / 6)},${n(y1 + (y2 - y0) / 6)} ${n(x2 - (x3 - x1) / 6)},${n(y2 - (y3 - y1) / 6)} ${n(x2)},${n(y2)}`;
  }
  return `${d} Z`;
}

/** Sky, sun, hills, a house with a door and windows, a tree and a smiling face in the sun. */
function cartoon(width: number, height: number, rng: Rng): string[] {
  const s = Math.min(width, height);
  const horizon = height * rng.uniform(0.55, 0.7);
  const out = [
    `<rect width="${width}" height="${n(horizon)}" fill="${rng.pick(['#8fd3ff', '#a7c7ff', '#bfe9ff'])}"/>`,
    `<path d="M0,${n(horizon)} Q${n(width * 0.3)},${n(horizon - s * 0.15)} ${n(width * 0.6)},${n(horizon)} T${width},${n(horizon)} V${height} H0 Z" fill="#5cbf4a" stroke="#2e6b24" stroke-width="2"/>`,
  ];
  const sx = rng.uniform(0.15, 0.85) * width;
  const sy = height * rng.uniform(0.1, 0.2);
  const sr = s * 0.09;
  for (let k = 0; k < 10; k++) {
    const a = (2 * Math.PI * k) / 10;
    out.push(`<line x1="${n(sx + sr * 1.2 * Math.cos(a))}" y1="${n(sy + sr * 1.2 * Math.sin(a))}" x2="${n(sx + sr * 1.7 * Math.cos(a))}" y2="${n(sy + sr * 1.7 * Math.sin(a))}" stroke="#f5b800" stroke-width="3" stroke-linecap="round"/>`);
  }
  out.push(`<circle cx="${n(sx)}" cy="${n(sy)}" r="${n(sr)}" fill="#ffd84d" stroke="#c98f00" stroke-width="2"/>`);
  out.push(`<circle cx="${n(sx - sr * 0.35)}" cy="${n(sy - sr * 0.2)}" r="${n(sr * 0.1)}" fill="#333"/>`);
  out.push(`<circle cx="${n(sx + sr * 0.35)}" cy="${n(sy - sr * 0.2)}" r="${n(sr * 0.1)}" fill="#333"/>`);
  out.push(`<path d="M${n(sx - sr * 0.45)},${n(sy + sr * 0.2)} Q${n(sx)},${n(sy + sr * 0.7)} ${n(sx + sr * 0.45)},${n(sy + sr * 0.2)}" fill="none" stroke="#333" stroke-width="2"/>`);
  const hw = s * rng.uniform(0.3, 0.42);
  const hx = rng.uniform(0.05, 0.95) * (width - hw);
  const hy = horizon + s * 0.05;
  const wall = randomColour(rng, 0.4, 0.95);
  out.push(`<rect x="${n(hx)}" y="${n(hy - hw * 0.7)}" width="${n(hw)}" height="${n(hw * 0.7)}" fill="${wall}" stroke="#333" stroke-width="2"/>`);
  out.push(`<polygon points="${n(hx - hw * 0.1)},${n(hy - hw * 0.7)} ${n(hx + hw / 2)},${n(hy - hw * 1.15)} ${n(hx + hw * 1.1)},${n(hy - hw * 0.7)}" fill="#c0392b" stroke="#333" stroke-width="2"/>`);
  out.push(`<rect x="${n(hx + hw * 0.4)}" y="${n(hy - hw * 0.35)}" width="${n(hw * 0.2)}" height="${n(hw * 0.35)}" fill="#7a4a21" stroke="#333" stroke-width="1.5"/>`);
  for (const wx of [0.12, 0.68]) {
    out.push(`<rect x="${n(hx + hw * wx)}" y="${n(hy - hw * 0.55)}" width="${n(hw * 0.2)}" height="${n(hw * 0.16)}" fill="#dff3ff" stroke="#333" stroke-width="1.5"/>`);
  }
  const tx = hx > width / 2 ? rng.uniform(0.08, 0.3) * width : rng.uniform(0.7, 0.92) * width;
  out.push(`<rect x="${n(tx - s * 0.02)}" y="${n(horizon - s * 0.05)}" width="${n(s * 0.04)}" height="${n(s * 0.18)}" fill="#7a4a21"/>`);
  out.push(`<circle cx="${n(tx)}" cy="${n(horizon - s * 0.1)}" r="${n(s * 0.1)}" fill="#2e8b37" stroke="#1d5a22" stroke-width="2"/>`);
  return out;
}

function shapes(width: number, height: number, rng: Rng): string[] {
  const out: string[] = [];
  const s = Math.min(width, height);
  for (let k = rng.int(5, 14); k > 0; k--) {
    const fill = randomColour(rng, rng.uniform(0.4, 1), rng.uniform(0.6, 1));
    const stroke = rng.chance(0.5) ? ` stroke="#222" stroke-width="${n(rng.uniform(1, 3))}"` : '';
    const cx = rng.uniform(0, width);
    const cy = rng.uniform(0, height);
    const r = rng.uniform(0.05, 0.2) * s;
    switch (rng.int(0, 3)) {
      case 0:
        out.push(`<circle cx="${n(cx)}" cy="${n(cy)}" r="${n(r)}" fill="${fill}"${stroke}/>`);
        break;
      case 1:
        out.push(`<rect x="${n(cx - r)}" y="${n(cy - r * 0.7)}" width="${n(2 * r)}" height="${n(1.4 * r)}" fill="${fill}"${stroke} transform="rotate(${n(rng.uniform(-45, 45))} ${n(cx)} ${n(cy)})"/>`);
        break;
      case 2:
        out.push(`<polygon points="${regular(cx, cy, r, 3, rng.uniform(0, 2))}" fill="${fill}"${stroke}/>`);
        break;
      default:
        out.push(`<polygon points="${star(cx, cy, r, r * 0.45, rng.int(5, 7))}" fill="${fill}"${stroke}/>`);
    }
  }
  return out;
}

function regular(cx: number, cy: number, r: number, sides: number, turn: number): string {
  const pts: string[] = [];
  for (let i = 0; i < sides; i++) {
    const a = turn + (2 * Math.PI * i) / sides;
    pts.push(`${n(cx + r * Math.cos(a))},${n(cy + r * Math.sin(a))}`);
  }
  return pts.join(' ');
}

function star(cx: number, cy: number, outer: number, inner: number, spikes: number): string {
  const pts: string[] = [];
  for (let i = 0; i < spikes * 2; i++) {
    const r = i % 2 === 0 ? outer : inner;
    const a = -Math.PI / 2 + (Math.PI * i) / spikes;
    pts.push(`${n(cx + r * Math.cos(a))},${n(cy + r * Math.sin(a))}`);
  }
  return pts.join(' ');
}

interface Plot {
  left: number;
  top: number;
  right: number;
  bottom: number;
  font: number;
}

/** Title, axes and horizontal grid lines shared by the bar and line charts. */
function axes(width: number, height: number, rng: Rng, out: string[]): Plot {
  const font = Math.max(8, Math.round(width / 26));
  const plot = { left: font * 3, top: font * 3, right: width - font, bottom: height - font * 2.5, font };
  out.push(text(width / 2, font * 1.6, title(rng, 2), font * 1.1, 'sans', 'text-anchor="middle" font-weight="bold" fill="#222"'));
  for (let k = 0; k <= 4; k++) {
    const y = plot.bottom - ((plot.bottom - plot.top) * k) / 4;
    out.push(`<line x1="${n(plot.left)}" y1="${n(y)}" x2="${n(plot.right)}" y2="${n(y)}" stroke="#ddd" stroke-width="1"/>`);
    out.push(text(plot.left - 3, y + font * 0.35, String(k * 25), font * 0.8, 'sans', 'text-anchor="end" fill="#444"'));
  }
  out.push(`<path d="M${n(plot.left)},${n(plot.top)} V${n(plot.bottom)} H${n(plot.right)}" fill="none" stroke="#222" stroke-width="1.5"/>`);
  return plot;
}

function barChart(width: number, height: number, rng: Rng): string[] {
  const out: string[] = [];
  const plot = axes(width, height, rng, out);
  const bars = rng.int(3, 8);
  const slot = (plot.right - plot.left) / bars;
  const colour = randomColour(rng);
  for (let i = 0; i < bars; i++) {
    const value = rng.uniform(0.1, 1);
    const h = (plot.bottom - plot.top) * value;
    const x = plot.left + slot * (i + 0.15);
    out.push(`<rect x="${n(x)}" y="${n(plot.bottom - h)}" width="${n(slot * 0.7)}" height="${n(h)}" fill="${rng.chance(0.3) ? randomColour(rng) : colour}"/>`);
    out.push(text(x + slot * 0.35, plot.bottom + plot.font * 1.2, String.fromCharCode(65 + i), plot.font * 0.8, 'sans', 'text-anchor="middle" fill="#444"'));
  }
  return out;
}

function lineChart(width: number, height: number, rng: Rng): string[] {
  const out: string[] = [];
  const plot = axes(width, height, rng, out);
  for (let series = rng.int(1, 3); series > 0; series--) {
    const points = rng.int(6, 14);
    let value = rng.uniform(0.2, 0.8);
    const pts: string[] = [];
    for (let i = 0; i < points; i++) {
      value = Math.min(1, Math.max(0, value + rng.uniform(-0.2, 0.2)));
      pts.push(`${n(plot.left + ((plot.right - plot.left) * i) / (points - 1))},${n(plot.bottom - (plot.bottom - plot.top) * value)}`);
    }
    out.push(`<polyline points="${pts.join(' ')}" fill="none" stroke="${randomColour(rng)}" stroke-width="2.5" stroke-linejoin="round"/>`);
  }
  return out;
}

function pieChart(width: number, height: number, rng: Rng): string[] {
  const out: string[] = [];
  const font = Math.max(8, Math.round(width / 26));
  out.push(text(width / 2, font * 1.6, title(rng, 2), font * 1.1, 'sans', 'text-anchor="middle" font-weight="bold" fill="#222"'));
  const cx = width / 2;
  const cy = height * 0.45;
  const r = Math.min(width, height) * 0.33;
  const slices = Array.from({ length: rng.int(3, 7) }, () => rng.uniform(0.3, 1));
  const total = slices.reduce((a, b) => a + b, 0);
  let angle = -Math.PI / 2;
  slices.forEach((value, i) => {
    const sweep = (2 * Math.PI * value) / total;
    const x0 = cx + r * Math.cos(angle);
    const y0 = cy + r * Math.sin(angle);
    const x1 = cx + r * Math.cos(angle + sweep);
    const y1 = cy + r * Math.sin(angle + sweep);
    const colour = randomColour(rng);
    out.push(`<path d="M${n(cx)},${n(cy)} L${n(x0)},${n(y0)} A${n(r)},${n(r)} 0 ${sweep > Math.PI ? 1 : 0} 1 ${n(x1)},${n(y1)} Z" fill="${colour}" stroke="#fff" stroke-width="2"/>`);
    const ly = height * 0.82 + (i % 3) * font * 1.3;
    const lx = width * (0.08 + 0.45 * Math.floor(i / 3));
    out.push(`<rect x="${n(lx)}" y="${n(ly - font * 0.8)}" width="${n(font)}" height="${n(font)}" fill="${colour}"/>`);
    out.push(text(lx + font * 1.4, ly, `${title(rng, 1)} ${Math.round((100 * value) / total)}%`, font * 0.8, 'sans', 'fill="#333"'));
    angle += sweep;
  });
  return out;
}
