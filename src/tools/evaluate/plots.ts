import sharp from 'sharp';

/** Text for SVG: the three characters that would end it. */
export const escape = (text: string): string => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const COLOURS = ['#2f7f3f', '#d08a00', '#c02020', '#3050c0', '#803090'];
/** The lamps as the plots and figures draw them; `rejected` (an AMBER "retake" on the device) paler. */
export const LAMP_COLOURS = { GREEN: '#2f9e44', AMBER: '#e8a200', RED: '#c92a2a', rejected: '#f6d98b' } as const;
/** The font every plot is set in (fonts-dejavu, found by librsvg through fontconfig). */
export const FONT_FAMILY = 'DejaVu Sans, sans-serif';

/** An SVG document rendered by sharp (librsvg) as a PNG. */
export function svgPng(svg: string): Promise<Buffer> {
  return sharp(Buffer.from(svg)).png().toBuffer();
}

/** Counts on a white→blue scale; rows are the truth, columns the prediction. */
export async function confusionMatrixPng(matrix: number[][], labels: readonly string[], title: string): Promise<Buffer> {
  const cell = 110;
  const left = 150;
  const top = 110;
  const size = labels.length * cell;
  const max = Math.max(1, ...matrix.flat());
  const cells = matrix.flatMap((row, r) =>
    row.map((count, c) => {
      const shade = count / max;
      const fill = `rgb(${Math.round(255 - 205 * shade)},${Math.round(255 - 160 * shade)},${Math.round(255 - 60 * shade)})`;
      const text = shade > 0.55 ? '#ffffff' : '#000000';
      const x = left + c * cell;
      const y = top + r * cell;
      return `<rect x="${x}" y="${y}" width="${cell}" height="${cell}" fill="${fill}" stroke="#888"/><text x="${x + cell / 2}" y="${y + cell / 2 + 8}" text-anchor="middle" font-size="24" fill="${text}">${count}</text>`;
    }),
  );
  const columnLabels = labels.map((label, c) => `<text x="${left + c * cell + cell / 2}" y="${top - 12}" text-anchor="middle">${escape(label)}</text>`);
  const rowLabels = labels.map((label, r) => `<text x="${left - 12}" y="${top + r * cell + cell / 2 + 6}" text-anchor="end">${escape(label)}</text>`);
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${left + size + 40}" height="${top + size + 40}" font-family="${FONT_FAMILY}" font-size="16">
  <rect width="100%" height="100%" fill="#fff"/>
  <text x="20" y="32" font-size="20" font-weight="bold">${escape(title)}</text>
  <text x="${left + size / 2}" y="${top - 40}" text-anchor="middle" font-style="italic">predicted</text>
  <text x="24" y="${top + size / 2}" font-style="italic" transform="rotate(-90 24 ${top + size / 2})" text-anchor="middle">true</text>
  ${cells.join('\n  ')}
  ${columnLabels.join('\n  ')}
  ${rowLabels.join('\n  ')}
</svg>`;
  return svgPng(svg);
}

/** One-vs-rest ROC curves, one colour per class, AUC in the legend. */
export async function rocPng(curves: Array<{ label: string; auc: number; points: Array<[number, number]> }>, title: string): Promise<Buffer> {
  const side = 420;
  const left = 70;
  const top = 60;
  const x = (fpr: number) => left + fpr * side;
  const y = (tpr: number) => top + (1 - tpr) * side;
  const lines = curves.map(
    (curve, i) =>
      `<polyline fill="none" stroke="${COLOURS[i % COLOURS.length]}" stroke-width="3" points="${curve.points.map(([f, t]) => `${x(f).toFixed(1)},${y(t).toFixed(1)}`).join(' ')}"/>`,
  );
  const legend = curves.map(
    (curve, i) =>
      `<rect x="${left + side + 20}" y="${top + 20 + i * 28}" width="18" height="6" fill="${COLOURS[i % COLOURS.length]}"/><text x="${left + side + 46}" y="${top + 28 + i * 28}">${escape(curve.label)} (AUC ${Number.isNaN(curve.auc) ? 'n/a' : curve.auc.toFixed(3)})</text>`,
  );
  const ticks = [0, 0.25, 0.5, 0.75, 1].map(
    (v) => `<text x="${x(v)}" y="${top + side + 22}" text-anchor="middle" font-size="13">${v}</text><text x="${left - 8}" y="${y(v) + 5}" text-anchor="end" font-size="13">${v}</text>`,
  );
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${left + side + 260}" height="${top + side + 60}" font-family="${FONT_FAMILY}" font-size="15">
  <rect width="100%" height="100%" fill="#fff"/>
  <text x="20" y="32" font-size="20" font-weight="bold">${escape(title)}</text>
  <rect x="${left}" y="${top}" width="${side}" height="${side}" fill="none" stroke="#444"/>
  <line x1="${x(0)}" y1="${y(0)}" x2="${x(1)}" y2="${y(1)}" stroke="#aaa" stroke-dasharray="6 6"/>
  ${ticks.join('\n  ')}
  <text x="${left + side / 2}" y="${top + side + 48}" text-anchor="middle">false positive rate (1 − specificity)</text>
  <text x="20" y="${top + side / 2}" transform="rotate(-90 20 ${top + side / 2})" text-anchor="middle">true positive rate (sensitivity)</text>
  ${lines.join('\n  ')}
  ${legend.join('\n  ')}
</svg>`;
  return svgPng(svg);
}

export interface StackedBarRow {
  label: string;
  /** Rows with the same group are drawn together under its name, in the order first seen. */
  group: string;
  /** One count per series, in `series` order. */
  counts: readonly number[];
  /** Right of the bar, e.g. a rate that matters for this row. */
  note?: string;
  /** Draw the note in bold red: this row fails what it is measured against. */
  alert?: boolean;
}

/**
 * One horizontal bar per row, its series' shares stacked left to right and labelled when wide
 * enough, rows grouped under their group's heading; a legend below.
 */
export async function stackedBarsPng(rows: readonly StackedBarRow[], series: ReadonlyArray<{ name: string; colour: string; text?: string }>, title: string): Promise<Buffer> {
  const left = 220;
  const barWidth = 520;
  const barHeight = 22;
  const rowStep = 30;
  const headingStep = 34;
  const noteWidth = 280;
  const parts: string[] = [];
  let y = 64;
  let currentGroup: string | undefined;
  for (const row of rows) {
    if (row.group !== currentGroup) {
      currentGroup = row.group;
      y += currentGroup === rows[0]!.group ? 6 : 14;
      parts.push(`<text x="20" y="${y + 16}" font-size="17" font-weight="bold">${escape(row.group)}</text>`);
      y += headingStep;
    }
    const total = row.counts.reduce((a, b) => a + b, 0);
    parts.push(`<text x="${left - 10}" y="${y + barHeight / 2 + 5}" text-anchor="end">${escape(row.label)}</text>`);
    let x = left;
    for (const [i, count] of row.counts.entries()) {
      if (count === 0 || total === 0) continue;
      const width = (count / total) * barWidth;
      const { colour, text = '#ffffff' } = series[i]!;
      parts.push(`<rect x="${x.toFixed(1)}" y="${y}" width="${width.toFixed(1)}" height="${barHeight}" fill="${colour}"/>`);
      const share = `${Math.round((count / total) * 100)}%`;
      if (width >= share.length * 8 + 6) parts.push(`<text x="${(x + width / 2).toFixed(1)}" y="${y + barHeight / 2 + 5}" text-anchor="middle" font-size="13" fill="${text}">${share}</text>`);
      x += width;
    }
    if (total === 0) parts.push(`<rect x="${left}" y="${y}" width="${barWidth}" height="${barHeight}" fill="none" stroke="#aaa" stroke-dasharray="4 4"/>`);
    if (row.note) {
      const style = row.alert ? 'fill="#c92a2a" font-weight="bold"' : 'fill="#333"';
      parts.push(`<text x="${left + barWidth + 10}" y="${y + barHeight / 2 + 5}" font-size="13" ${style}>${escape(row.note)}</text>`);
    }
    y += rowStep;
  }
  y += 14;
  let legendX = left;
  for (const { name, colour } of series) {
    parts.push(`<rect x="${legendX}" y="${y}" width="18" height="14" fill="${colour}" stroke="#666" stroke-width="0.5"/><text x="${legendX + 24}" y="${y + 12}" font-size="14">${escape(name)}</text>`);
    legendX += 24 + name.length * 8.5 + 24;
  }
  const width = Math.max(left + barWidth + noteWidth, legendX + 20);
  const height = y + 34;
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${Math.ceil(width)}" height="${height}" font-family="${FONT_FAMILY}" font-size="15">
  <rect width="100%" height="100%" fill="#fff"/>
  <text x="20" y="34" font-size="20" font-weight="bold">${escape(title)}</text>
  ${[0, 0.25, 0.5, 0.75, 1].map((v) => `<line x1="${left + v * barWidth}" y1="56" x2="${left + v * barWidth}" y2="${y - 14}" stroke="#e4e4e4"/>`).join('\n  ')}
  ${parts.join('\n  ')}
</svg>`;
  return svgPng(svg);
}

export interface CurveSeries {
  name: string;
  colour: string;
  dashed?: boolean;
  /** [x, share 0…1], in x order. */
  points: ReadonlyArray<readonly [number, number]>;
}

export interface CurvePanel {
  title: string;
  series: readonly CurveSeries[];
  /** The top of this panel's y axis, a share (default 1): small shares need a closer look. */
  yMax?: number;
  /** This panel's own reference lines, instead of the axes' ones. */
  horizontals?: PanelAxes['horizontals'];
}

export interface PanelAxes {
  /** Default 0. */
  xMin?: number;
  xMax: number;
  xTicks: readonly number[];
  xLabel: string;
  yLabel: string;
  /** Reference lines drawn in every panel, e.g. a criterion and a target share. */
  verticals: ReadonlyArray<{ x: number; label: string }>;
  horizontals: ReadonlyArray<{ y: number; label: string }>;
}

/**
 * Small multiples: one plot per panel (up to three a row), y a share from 0 to 100%, the same
 * x axis and reference lines in each, the panel's series named under it.
 */
export async function curvePanelsPng(panels: readonly CurvePanel[], axes: PanelAxes, title: string): Promise<Buffer> {
  const plotW = 300;
  const plotH = 200;
  const cellW = plotW + 90;
  const cellH = plotH + 130;
  const columns = Math.min(3, Math.max(1, panels.length));
  const rows = Math.ceil(panels.length / columns);
  const parts: string[] = [];
  panels.forEach((panel, i) => {
    const left = 70 + (i % columns) * cellW;
    const top = 80 + Math.floor(i / columns) * cellH;
    const xMin = axes.xMin ?? 0;
    const yMax = panel.yMax ?? 1;
    const x = (value: number) => left + ((Math.min(Math.max(value, xMin), axes.xMax) - xMin) / (axes.xMax - xMin)) * plotW;
    const y = (value: number) => top + (1 - Math.min(value, yMax) / yMax) * plotH;
    parts.push(`<text x="${left}" y="${top - 12}" font-weight="bold">${escape(panel.title)}</text>`);
    parts.push(`<rect x="${left}" y="${top}" width="${plotW}" height="${plotH}" fill="none" stroke="#444"/>`);
    for (const v of [0, 0.25, 0.5, 0.75, 1].map((step) => step * yMax)) {
      parts.push(`<line x1="${left}" y1="${y(v)}" x2="${left + plotW}" y2="${y(v)}" stroke="#eee"/><text x="${left - 6}" y="${y(v) + 4}" text-anchor="end" font-size="11">${Number((v * 100).toFixed(2))}%</text>`);
    }
    for (const t of axes.xTicks) parts.push(`<text x="${x(t)}" y="${top + plotH + 15}" text-anchor="middle" font-size="11">${t}</text>`);
    parts.push(`<text x="${left + plotW / 2}" y="${top + plotH + 32}" text-anchor="middle" font-size="12">${escape(axes.xLabel)}</text>`);
    for (const h of panel.horizontals ?? axes.horizontals) {
      parts.push(`<line x1="${left}" y1="${y(h.y)}" x2="${left + plotW}" y2="${y(h.y)}" stroke="#777" stroke-dasharray="2 3"/><text x="${left + 4}" y="${y(h.y) + 13}" font-size="10" fill="#555">${escape(h.label)}</text>`);
    }
    // Labels stacked upwards from the bottom, so that close lines keep readable names.
    axes.verticals.forEach((v, k) => {
      // Near the right edge the label goes on the line's left, inside the plot.
      const leftOf = x(v.x) > left + plotW * 0.75;
      const label = `<text x="${x(v.x) + (leftOf ? -3 : 3)}" y="${top + plotH - 6 - 13 * k}" font-size="10"${leftOf ? ' text-anchor="end"' : ''}>${escape(v.label)}</text>`;
      parts.push(`<line x1="${x(v.x)}" y1="${top}" x2="${x(v.x)}" y2="${top + plotH}" stroke="#000" stroke-width="${k === 0 ? 1.5 : 0.8}"/>${label}`);
    });
    panel.series.forEach((series, s) => {
      const points = series.points.map(([px, py]) => [x(px).toFixed(1), y(py).toFixed(1)] as const);
      const dash = series.dashed ? ' stroke-dasharray="6 4"' : '';
      parts.push(`<polyline fill="none" stroke="${series.colour}" stroke-width="2.5"${dash} points="${points.map((p) => p.join(',')).join(' ')}"/>`);
      for (const [cx, cy] of points) parts.push(`<circle cx="${cx}" cy="${cy}" r="3" fill="${series.colour}"/>`);
      const legendY = top + plotH + 52 + s * 18;
      parts.push(`<line x1="${left}" y1="${legendY - 4}" x2="${left + 26}" y2="${legendY - 4}" stroke="${series.colour}" stroke-width="2.5"${dash}/><text x="${left + 32}" y="${legendY}" font-size="12">${escape(series.name)}</text>`);
    });
  });
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${40 + columns * cellW}" height="${60 + rows * cellH}" font-family="${FONT_FAMILY}" font-size="13">
  <rect width="100%" height="100%" fill="#fff"/>
  <text x="20" y="32" font-size="20" font-weight="bold">${escape(title)}</text>
  <text x="20" y="54" font-size="12" fill="#444">${escape(axes.yLabel)}</text>
  ${parts.join('\n  ')}
</svg>`;
  return svgPng(svg);
}
