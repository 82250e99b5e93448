import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { confusionMatrixPng, curvePanelsPng, LAMP_COLOURS } from '../evaluate/plots.js';
import type { LampRow } from './operating-point.js';
import type { ValidationReport } from './validate.js';
import type { Proportion } from './wilson.js';

const percent = (share: number) => (Number.isNaN(share) ? 'n/a' : `${(share * 100).toFixed(1)}%`);
const interval = (p: Proportion) => `${percent(p.share)} (${p.successes}/${p.trials}; ${percent(p.low)}–${percent(p.high)})`;

/** The thresholds worth a row in the Markdown table: every 0.05, the one read with, and the recommended one. */
function shownRows(report: ValidationReport): LampRow[] {
  const marked = new Set([report.thresholds.greenMinNormal, report.recommendation.greenMinNormal]);
  return report.lampTable.filter((row) => Math.round(row.greenMinNormal * 100) % 5 === 0 || marked.has(row.greenMinNormal) || row.greenMinNormal > 0.99);
}

export function validationMarkdown(report: ValidationReport): string {
  const { target, recommendation } = report;
  const level = `${percent(target.confidence)}`;
  const byClass = Object.entries(report.data.byClass).map(([label, n]) => `${n} ${label}`).join(', ');
  const lampRows = shownRows(report).map((row) => {
    const notes = [row.greenMinNormal === report.thresholds.greenMinNormal ? 'read with' : '', row.greenMinNormal === recommendation.greenMinNormal ? '**recommended**' : ''].filter(Boolean).join(', ');
    return `| ${row.greenMinNormal} | ${interval(row.normalsGreen)} | ${interval(row.injuredGreen)} | ${interval(row.injuredAmongGreen)} | ${row.meetsTarget ? 'yes' : 'no'} | ${notes} |`;
  });
  return [
    `# Site validation of ${report.model.id}`,
    '',
    `Model sha256 \`${report.model.sha256}\`; films \`${report.data.name}\`: ${report.data.films} (${byClass})${report.data.rejected.length ? `, ${report.data.rejected.length} rejected` : ''}; ${report.date}.`,
    `Read with greenMinNormal ${report.thresholds.greenMinNormal}, redMinAbnormal ${report.thresholds.redMinAbnormal}. Intervals are Wilson ${level} intervals.`,
    '',
    '## Recommendation',
    '',
    recommendation.greenMinNormal === null
      ? `**None.** ${recommendation.reason}.`
      : `**greenMinNormal ${recommendation.greenMinNormal}**: the stated target is met: the upper ${level} bound on injured spines among GREEN is ${percent(recommendation.row.injuredAmongGreen.high)} ≤ ${percent(target.maxInjuredAmongGreen)}. At it, ${interval(recommendation.row.normalsGreen)} of normals are GREEN and ${interval(recommendation.row.injuredGreen)} of injured spines are.`,
    '',
    `Even with no injured spine among them, the target needs at least ${report.greenFilmsNeeded} GREEN films. "Injured among GREEN" depends on how many injured spines the set holds (here ${percent(1 - (report.data.byClass.normal ?? 0) / Math.max(1, report.data.films))}); the miss rate (injured shown GREEN, of all injured) does not.`,
    '',
    '![The lamp table](lamp-table.png)',
    '',
    '## The lamp table',
    '',
    '| greenMinNormal | normals GREEN | injured shown GREEN (of injured) | injured among GREEN | meets target | |',
    '| ---: | ---: | ---: | ---: | --- | --- |',
    ...lampRows,
    '',
    '## Per class (top-1 label)',
    '',
    `Accuracy ${percent(report.accuracy)}; expected calibration error ${report.expectedCalibrationError.toFixed(4)}; ` +
      (report.oodFlagged ? `films the OOD detector found unfamiliar: ${interval(report.oodFlagged)}.` : 'no OOD statistics in this package: unfamiliar films are not caught.'),
    '',
    '| class | sensitivity | specificity |',
    '| --- | ---: | ---: |',
    ...report.perClass.map((c) => `| ${c.label} | ${interval(c.sensitivity)} | ${interval(c.specificity)} |`),
    '',
    '![Confusion matrix](confusion-matrix.png)',
    '',
    'Lamps at the thresholds read with, per true class:',
    '',
    '| true class | GREEN | AMBER | RED |',
    '| --- | ---: | ---: | ---: |',
    ...Object.entries(report.lamps).map(([label, counts]) => `| ${label} | ${counts.GREEN} | ${counts.AMBER} | ${counts.RED} |`),
    ...(report.data.rejected.length ? ['', 'Rejected (in no rate):', '', ...report.data.rejected.map((r) => `- \`${r.file}\`: ${r.code}`)] : []),
    '',
    'What this does and does not mean: these films, labelled by this site, read by this package on',
    'this software. It says nothing about films unlike them (another unit, another population) and',
    'it is no substitute for a clinician reading every film: the lamps are decision support.',
    '',
  ].join('\n');
}

function lampTablePng(report: ValidationReport): Promise<Buffer> {
  const rows = report.lampTable;
  const verticals = [
    ...(report.recommendation.greenMinNormal === null ? [] : [{ x: report.recommendation.greenMinNormal, label: `recommended ${report.recommendation.greenMinNormal}` }]),
    { x: report.thresholds.greenMinNormal, label: `read with ${report.thresholds.greenMinNormal}` },
  ];
  const upperMax = Math.max(report.target.maxInjuredAmongGreen * 4, ...rows.map((row) => (row.injuredAmongGreen.trials > 0 ? row.injuredAmongGreen.share : 0)));
  const yMax = Math.min(1, Math.ceil(upperMax * 100) / 100 || 0.01);
  return curvePanelsPng(
    [
      {
        title: 'Normals shown GREEN',
        series: [
          { name: 'share of normals', colour: LAMP_COLOURS.GREEN, points: rows.map((row) => [row.greenMinNormal, row.normalsGreen.share] as const) },
          { name: `lower ${percent(report.target.confidence)} bound`, colour: LAMP_COLOURS.GREEN, dashed: true, points: rows.map((row) => [row.greenMinNormal, row.normalsGreen.low] as const) },
        ],
        horizontals: [],
      },
      {
        title: 'Injured spines among GREEN',
        yMax,
        series: [
          { name: 'share of GREEN', colour: LAMP_COLOURS.RED, points: rows.filter((row) => row.injuredAmongGreen.trials > 0).map((row) => [row.greenMinNormal, row.injuredAmongGreen.share] as const) },
          { name: `upper ${percent(report.target.confidence)} bound`, colour: LAMP_COLOURS.RED, dashed: true, points: rows.map((row) => [row.greenMinNormal, row.injuredAmongGreen.high] as const) },
        ],
        horizontals: [{ y: report.target.maxInjuredAmongGreen, label: `target ${percent(report.target.maxInjuredAmongGreen)}` }],
      },
    ],
    { xMin: 0.5, xMax: 1, xTicks: [0.5, 0.6, 0.7, 0.8, 0.9, 1], xLabel: 'greenMinNormal', yLabel: 'share of films', verticals, horizontals: [] },
    `${report.model.id}: what GREEN means on ${report.data.films} films`,
  );
}

/** validation.json, validation.md, lamp-table.png and confusion-matrix.png in `outDir`; returns the files and validation.json's sha256. */
export async function writeValidation(report: ValidationReport, outDir: string, labels: readonly string[]): Promise<{ files: string[]; reportSha256: string }> {
  fs.mkdirSync(outDir, { recursive: true });
  const json = `${JSON.stringify(report, null, 2)}\n`;
  const files = ['validation.json', 'validation.md', 'lamp-table.png', 'confusion-matrix.png'].map((name) => path.join(outDir, name));
  fs.writeFileSync(files[0]!, json);
  fs.writeFileSync(files[1]!, validationMarkdown(report));
  fs.writeFileSync(files[2]!, await lampTablePng(report));
  fs.writeFileSync(files[3]!, await confusionMatrixPng(report.confusion, labels, `${report.model.id}: confusion matrix (site films)`));
  return { files, reportSha256: crypto.createHash('sha256').update(json).digest('hex') };
}
