/**
 * Sensitivity against severity: the lamps of labelled images binned by how far each injury is
 * over its clinical criterion (labels.csv `criterion_ratio`, 1 = at the line), per kind of
 * injury, and the specificity of normal necks binned by their own variation. Pure functions;
 * the criteria themselves are in src/tools/synth/criteria.ts and docs/phantoms.md.
 */
import { CRITERION_TEXT, type InjuryKind } from '../synth/criteria.js';
import { curvePanelsPng, LAMP_COLOURS, type CurvePanel } from './plots.js';

/** What the device showed for one image; `rejected` is the AMBER "retake" of a refused image. */
export type Lamp = 'GREEN' | 'AMBER' | 'RED' | 'rejected';

export interface SeverityOutcome {
  /** labels.csv `kind`: `none` for a normal neck, else the injury. */
  kind: string;
  /** Severity as a multiple of the kind's criterion. */
  ratio: number;
  lamp: Lamp;
}

/** Bin edges in multiples of the criterion, finer near the line; the last bin is open. */
export const SEVERITY_EDGES = [0, 0.5, 0.75, 0.9, 1, 1.1, 1.25, 1.5, 2, 2.5] as const;
/** The share the curves are read at, and the issue's targets (docs/phantoms.md). */
export const TARGET_SHARE = 0.95;
export const TARGETS = { redFrom125: 0.98, redFromCriterion: 0.9, normalSpecificity: 0.95 } as const;

export interface LampCounts {
  n: number;
  GREEN: number;
  AMBER: number;
  RED: number;
  rejected: number;
}

export interface SeverityBin extends LampCounts {
  from: number;
  /** null for the open top bin. */
  to: number | null;
}

export interface InjuryCurve {
  /** An injury kind, or `all` for every injury together. */
  kind: string;
  criterion: string;
  n: number;
  bins: SeverityBin[];
  /** At or over the criterion, and at or over 1.25× it. */
  fromCriterion: LampCounts;
  from125: LampCounts;
  /**
   * The lowest bin edge from which every bin up (with images) has at least 95% RED, or at least
   * 95% not GREEN (RED, AMBER or refused); null when even the top bins fall short.
   */
  reaches95At: { red: number | null; notGreen: number | null };
}

export interface NormalVariation {
  criterion: string;
  bins: SeverityBin[];
  all: LampCounts;
}

export type CheckStatus = 'pass' | 'fail' | 'n/a';

export interface SeverityCheck {
  description: string;
  status: CheckStatus;
  measured: string;
}

export interface SeverityReport {
  edges: readonly number[];
  /** `all` first, then each kind present, in a fixed order. */
  injuries: InjuryCurve[];
  normals: NormalVariation | null;
  checks: SeverityCheck[];
}

const KIND_ORDER: readonly InjuryKind[] = ['translation', 'wedge', 'cortical-break', 'avulsion'];

const share = (part: number, whole: number): number => (whole === 0 ? Number.NaN : part / whole);
const notGreen = (c: LampCounts): number => c.n - c.GREEN;

function emptyCounts(): LampCounts {
  return { n: 0, GREEN: 0, AMBER: 0, RED: 0, rejected: 0 };
}

function count(outcomes: readonly SeverityOutcome[]): LampCounts {
  const counts = emptyCounts();
  for (const { lamp } of outcomes) {
    counts.n++;
    counts[lamp]++;
  }
  return counts;
}

function binIndex(ratio: number): number {
  let index = 0;
  while (index + 1 < SEVERITY_EDGES.length && ratio >= SEVERITY_EDGES[index + 1]!) index++;
  return index;
}

function binned(outcomes: readonly SeverityOutcome[]): SeverityBin[] {
  return SEVERITY_EDGES.map((from, i) => ({ from, to: SEVERITY_EDGES[i + 1] ?? null, ...count(outcomes.filter((o) => binIndex(o.ratio) === i)) }));
}

/** The lowest edge from which every non-empty bin up reaches the share; null if the top one does not. */
function reachesFrom(bins: readonly SeverityBin[], caught: (b: LampCounts) => number): number | null {
  let from: number | null = null;
  for (let i = bins.length - 1; i >= 0; i--) {
    const bin = bins[i]!;
    if (bin.n === 0) continue;
    if (caught(bin) / bin.n < TARGET_SHARE) break;
    from = bin.from;
  }
  return from;
}

function injuryCurve(kind: string, criterion: string, outcomes: readonly SeverityOutcome[]): InjuryCurve {
  const bins = binned(outcomes);
  return {
    kind,
    criterion,
    n: outcomes.length,
    bins,
    fromCriterion: count(outcomes.filter((o) => o.ratio >= 1)),
    from125: count(outcomes.filter((o) => o.ratio >= 1.25)),
    reaches95At: { red: reachesFrom(bins, (b) => b.RED), notGreen: reachesFrom(bins, notGreen) },
  };
}

/** The report, or null when no image has a severity (labels.csv without `criterion_ratio`). */
export function severityReport(outcomes: readonly SeverityOutcome[]): SeverityReport | null {
  if (outcomes.length === 0) return null;
  const injured = outcomes.filter((o) => o.kind !== 'none');
  const normal = outcomes.filter((o) => o.kind === 'none');
  // Known kinds in their usual order, then any other a labels.csv names, as first seen.
  const rank = (kind: string) => {
    const index = KIND_ORDER.indexOf(kind as InjuryKind);
    return index < 0 ? KIND_ORDER.length : index;
  };
  const kinds = [...new Set(injured.map((o) => o.kind))].sort((a, b) => rank(a) - rank(b));
  const injuries =
    injured.length === 0
      ? []
      : [
          injuryCurve('all', 'each injury against its own criterion', injured),
          ...kinds.map((kind) => injuryCurve(kind, CRITERION_TEXT[kind as InjuryKind] ?? 'labels.csv criterion_ratio', injured.filter((o) => o.kind === kind))),
        ];
  const normals = normal.length === 0 ? null : { criterion: CRITERION_TEXT.none, bins: binned(normal), all: count(normal) };
  return { edges: SEVERITY_EDGES, injuries, normals, checks: checks(injuries[0], normals) };
}

function checks(all: InjuryCurve | undefined, normals: NormalVariation | null): SeverityCheck[] {
  const pct = (part: number, whole: number) => (whole === 0 ? 'no images' : `${formatShare(share(part, whole))} (${part} of ${whole})`);
  const status = (whole: number, ok: boolean): CheckStatus => (whole === 0 ? 'n/a' : ok ? 'pass' : 'fail');
  const result: SeverityCheck[] = [];
  if (all) {
    const { from125, fromCriterion } = all;
    result.push(
      { description: `injuries at ≥ 1.25× their criterion: RED ≥ ${TARGETS.redFrom125 * 100}%`, status: status(from125.n, from125.RED >= TARGETS.redFrom125 * from125.n), measured: pct(from125.RED, from125.n) },
      { description: `injuries at or over their criterion: RED ≥ ${TARGETS.redFromCriterion * 100}%`, status: status(fromCriterion.n, fromCriterion.RED >= TARGETS.redFromCriterion * fromCriterion.n), measured: pct(fromCriterion.RED, fromCriterion.n) },
      { description: 'injuries at or over their criterion: none GREEN', status: status(fromCriterion.n, fromCriterion.GREEN === 0), measured: pct(fromCriterion.GREEN, fromCriterion.n) },
    );
  }
  if (normals) {
    const { all: n } = normals;
    result.push({
      description: `normal necks (their own variation under the criteria): not RED ≥ ${TARGETS.normalSpecificity * 100}%`,
      status: status(n.n, n.n - n.RED >= TARGETS.normalSpecificity * n.n),
      measured: `${pct(n.n - n.RED, n.n)}; AMBER ${pct(n.AMBER + n.rejected, n.n)}`,
    });
  }
  return result;
}

const formatShare = (value: number): string => (Number.isNaN(value) ? 'n/a' : `${(value * 100).toFixed(1)}%`);
const binName = (bin: SeverityBin): string => (bin.to === null ? `≥ ${bin.from}×` : `${bin.from}–${bin.to}×`);
const at = (value: number | null): string => (value === null ? 'not reached' : `${value}×`);

/** The Markdown section of evaluation.md. */
export function severityMarkdown(report: SeverityReport): string[] {
  const lines = ['## Sensitivity against severity', '', 'Severity in multiples of each kind\'s clinical criterion (labels.csv `criterion_ratio`; 1× is the line, docs/phantoms.md). RED: the device calls an injury; caught: RED, AMBER or refused (a person looks); GREEN is the miss that matters.', ''];
  if (report.injuries.length > 0) {
    lines.push(
      '| injury | criterion | n | RED from 1× | caught from 1× | RED from 1.25× | GREEN from 1× | RED reaches 95% from | caught reaches 95% from |',
      '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
      ...report.injuries.map(
        (c) =>
          `| ${c.kind} | ${c.criterion} | ${c.n} | ${formatShare(share(c.fromCriterion.RED, c.fromCriterion.n))} | ${formatShare(share(notGreen(c.fromCriterion), c.fromCriterion.n))} | ${formatShare(share(c.from125.RED, c.from125.n))} | ${c.fromCriterion.GREEN} | ${at(c.reaches95At.red)} | ${at(c.reaches95At.notGreen)} |`,
      ),
      '',
    );
    for (const curve of report.injuries) {
      lines.push(`**${curve.kind}** (${curve.criterion}):`, '', '| severity | n | GREEN | AMBER | RED | refused | RED | caught |', '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
      for (const bin of curve.bins.filter((b) => b.n > 0)) {
        lines.push(`| ${binName(bin)} | ${bin.n} | ${bin.GREEN} | ${bin.AMBER} | ${bin.RED} | ${bin.rejected} | ${formatShare(share(bin.RED, bin.n))} | ${formatShare(share(notGreen(bin), bin.n))} |`);
      }
      lines.push('');
    }
  }
  if (report.normals) {
    const { all } = report.normals;
    lines.push(
      `**Normal necks**, binned by their own variation (${report.normals.criterion}): specificity (not RED) ${formatShare(share(all.n - all.RED, all.n))}, AMBER or refused ${formatShare(share(all.AMBER + all.rejected, all.n))}, GREEN ${formatShare(share(all.GREEN, all.n))} of ${all.n}.`,
      '',
      '| own variation | n | GREEN | AMBER | RED | refused | not RED | AMBER or refused |',
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
      ...report.normals.bins
        .filter((b) => b.n > 0)
        .map((b) => `| ${binName(b)} | ${b.n} | ${b.GREEN} | ${b.AMBER} | ${b.RED} | ${b.rejected} | ${formatShare(share(b.n - b.RED, b.n))} | ${formatShare(share(b.AMBER + b.rejected, b.n))} |`),
      '',
    );
  }
  lines.push('| result | check | measured |', '| --- | --- | --- |', ...report.checks.map((c) => `| ${c.status === 'fail' ? '**FAIL**' : c.status} | ${c.description} | ${c.measured} |`), '', '![Sensitivity against severity](severity.png)', '');
  return lines;
}

/** The console summary of `model evaluate`: where each curve reaches 95%, then every check. */
export function severitySummaryLines(report: SeverityReport): string[] {
  return [
    ...(report.injuries.length > 0 ? [`severity: RED reaches 95% from ${report.injuries.map((c) => `${at(c.reaches95At.red)} (${c.kind})`).join(', ')} of the criterion`] : []),
    ...report.checks.map((c) => `  ${c.status === 'fail' ? 'FAIL' : c.status.padEnd(4)} ${c.description}: ${c.measured}`),
  ];
}

/** Where a bin's point is drawn: its middle, or a quarter past the open top bin's edge. */
const middle = (bin: SeverityBin): number => (bin.to === null ? bin.from + 0.25 : (bin.from + bin.to) / 2);

/** severity.png: the curves with the criterion (1×), 1.25× and the 95% line marked. */
export function severityPng(report: SeverityReport, title: string): Promise<Buffer> {
  return curvePanelsPng(
    severityPanels(report),
    {
      xMax: 2.75,
      xTicks: [0, 0.5, 1, 1.5, 2, 2.5],
      xLabel: 'severity, multiples of the criterion',
      yLabel: 'share of the images in each severity bin (points at the bin middles; the top bin is ≥ 2.5×)',
      verticals: [
        { x: 1, label: 'criterion' },
        { x: 1.25, label: '1.25×' },
      ],
      horizontals: [{ y: TARGET_SHARE, label: '95%' }],
    },
    title,
  );
}

/** One panel per injury curve (RED and caught), and one for the normals (not RED and GREEN). */
function severityPanels(report: SeverityReport): CurvePanel[] {
  const line = (bins: readonly SeverityBin[], value: (b: SeverityBin) => number): Array<[number, number]> => bins.filter((b) => b.n > 0).map((b) => [middle(b), value(b) / b.n]);
  const panels: CurvePanel[] = report.injuries.map((curve) => ({
    title: `${curve.kind} (n ${curve.n})`,
    series: [
      { name: 'RED', colour: LAMP_COLOURS.RED, points: line(curve.bins, (b) => b.RED) },
      { name: 'caught (not GREEN)', colour: LAMP_COLOURS.AMBER, dashed: true, points: line(curve.bins, notGreen) },
    ],
  }));
  if (report.normals) {
    const { bins, all } = report.normals;
    panels.push({
      title: `normal necks (n ${all.n})`,
      series: [
        { name: 'not RED (specificity)', colour: '#3050c0', points: line(bins, (b) => b.n - b.RED) },
        { name: 'GREEN', colour: LAMP_COLOURS.GREEN, dashed: true, points: line(bins, (b) => b.GREEN) },
      ],
    });
  }
  return panels;
}
