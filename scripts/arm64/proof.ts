/**
 * `npm run test:arm64`: the arm64 bundle installed and run under a real systemd on an emulated
 * Raspberry Pi 4 CPU (cortex-a72, no dot product) and Pi 5 CPU (cortex-a76), checked against
 * this machine's own answers. docs/arm64.md says what it proves and holds the last run's tables.
 *
 *   sudo npm run test:arm64 [-- --cpus cortex-a72,cortex-a76] [--bundle FILE] [--work DIR] [--no-docs]
 *
 * Steps: the bundle (npm run bundle -- --arch arm64 --node, unless --bundle), the Debian image
 * (scripts/arm64/image.sh), reference images (PNG phantoms, DICOM uncompressed, JPEG Lossless
 * and JPEG-LS, a black frame), this machine's int8 and fp32 answers, then one boot per CPU
 * running scripts/arm64/guest.sh. Exit status 0 only when every label and lamp matches and
 * every probability is within 1e-3, and the watchdog, lamp and install checks passed.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { phantomInEverySyntax } from '../../src/tools/fixtures/dicom-agreement.js';

const TOLERANCE = 1e-3;
const repo = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const { values } = parseArgs({
  options: {
    cpus: { type: 'string', default: 'cortex-a72,cortex-a76' },
    bundle: { type: 'string' },
    work: { type: 'string', default: path.join(repo, 'data/arm64') },
    'timeout-min': { type: 'string', default: '90' },
    'no-docs': { type: 'boolean', default: false },
  },
});
const work = path.resolve(values.work);
const cpus = values.cpus.split(',').filter(Boolean);
const started = Date.now();
const say = (line: string): void => void process.stderr.write(`[arm64 ${Math.round((Date.now() - started) / 1000)} s] ${line}\n`);

function run(command: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; log?: string; timeoutMs?: number } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd ?? repo, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    const log = options.log ? fs.createWriteStream(options.log) : undefined;
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk;
      log?.write(chunk);
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk;
      log?.write(chunk);
    });
    const timer = options.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), options.timeoutMs) : undefined;
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      log?.end();
      if (code === 0) resolve(stdout);
      else reject(new Error(`${command} ${args.join(' ')} ended with ${signal ?? code}:\n${stderr.slice(-3000)}`));
    });
  });
}

async function buildBundle(): Promise<string> {
  if (values.bundle) return path.resolve(values.bundle);
  const out = path.join(work, 'bundle');
  fs.rmSync(out, { recursive: true, force: true });
  say('bundle: npm run bundle -- --arch arm64 --node');
  await run('npm', ['run', 'bundle', '--', '--arch', 'arm64', '--node', '--out', out], { log: path.join(work, 'bundle.log') });
  const tarball = fs.readdirSync(out).find((name) => name.endsWith('.tar.gz'));
  if (!tarball) throw new Error(`npm run bundle left no .tar.gz in ${out}`);
  return path.join(out, tarball);
}

/** The reference set: phantoms the model knows, the clinical variation, a phantom in every DICOM transfer syntax, a frame it must refuse, and unfamiliar images. */
async function referenceImages(dir: string): Promise<void> {
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const synth = path.join(work, 'synth');
  fs.rmSync(synth, { recursive: true, force: true });
  const cli = path.join(repo, 'dist/cli.js');
  await run('node', [cli, 'synth', '--out', `${synth}/standard`, '--count', '6', '--seed', '41']);
  await run('node', [cli, 'synth', '--out', `${synth}/clinical`, '--count', '6', '--seed', '42', '--bits', '16', '--variation', 'clinical']);
  for (const set of ['standard', 'clinical']) {
    for (const label of ['normal', 'fracture', 'dislocation']) {
      for (const name of fs.readdirSync(path.join(synth, set, label)).sort()) fs.copyFileSync(path.join(synth, set, label, name), path.join(dir, `${set}-${label}-${name}`));
    }
  }
  // A held-out phantom in every transfer syntax the runtime reads: our own decoders and the WebAssembly codecs on ARM.
  const { label, files } = phantomInEverySyntax(1, 256, 320);
  for (const sample of files) fs.writeFileSync(path.join(dir, `dicom-${label}-${sample.name.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/-$/, '')}.dcm`), sample.bytes);
  await sharp(Buffer.alloc(256 * 320), { raw: { width: 256, height: 320, channels: 1 } }).png().toFile(path.join(dir, 'black-frame.png'));
  // Phantoms sit at 0 or 1, where any arithmetic agrees; unfamiliar and shifted images put the
  // probabilities mid-way, where a different int8 kernel would show.
  const ood = path.join(synth, 'ood');
  await run('node', [cli, 'synth-ood', '--out', ood, '--seed', '9', '--count', '2', '--categories', 'anatomy,documents,rotated180,rotated270,shift-blur,inverted,drawings']);
  for (const category of fs.readdirSync(ood).filter((name) => fs.statSync(path.join(ood, name)).isDirectory())) {
    for (const name of fs.readdirSync(path.join(ood, category)).sort()) fs.copyFileSync(path.join(ood, category, name), path.join(dir, `ood-${category}-${name}`));
  }
}

interface Answer {
  name: string;
  ok: boolean;
  label: string | null;
  level: string;
  code: string | null;
  probabilities: Record<string, number> | null;
  oodScore: number | null;
}

function readAnswers(file: string, kind: 'classify' | 'history'): Map<string, Answer> {
  const answers = new Map<string, Answer>();
  if (!fs.existsSync(file)) return answers;
  for (const line of fs.readFileSync(file, 'utf8').split('\n').filter(Boolean)) {
    const row = JSON.parse(line);
    const name = path.basename(kind === 'classify' ? row.file : row.source);
    answers.set(name, {
      name,
      ok: kind === 'classify' ? row.ok : row.outcome === 'classified',
      label: row.label ?? null,
      level: row.triage?.level ?? 'none',
      code: row.error?.code ?? null,
      probabilities: row.probabilities ?? null,
      oodScore: row.ood?.score ?? null,
    });
  }
  return answers;
}

interface Comparison {
  name: string;
  reference: Answer;
  other: Answer | undefined;
  maxDelta: number;
  oodDelta: number;
  agrees: boolean;
}

function compare(reference: Map<string, Answer>, other: Map<string, Answer>): Comparison[] {
  return [...reference.values()].map((answer) => {
    const found = other.get(answer.name);
    const classes = Object.keys(answer.probabilities ?? {});
    const maxDelta = found?.probabilities ? Math.max(0, ...classes.map((label) => Math.abs(answer.probabilities![label]! - (found.probabilities![label] ?? Number.NaN)))) : answer.probabilities ? Number.NaN : 0;
    const oodDelta = answer.oodScore !== null && found?.oodScore != null ? Math.abs(answer.oodScore - found.oodScore) : 0;
    // A refused image has no lamp in classify's output; the service must have shown AMBER for it.
    const sameVerdict = answer.ok ? found?.label === answer.label && found.level === answer.level && maxDelta <= TOLERANCE : found?.level === 'AMBER' || found?.level === 'none';
    const agrees = !!found && found.ok === answer.ok && found.code === answer.code && sameVerdict;
    return { name: answer.name, reference: answer, other: found, maxDelta, oodDelta, agrees };
  });
}

function readFacts(file: string): Record<string, string> {
  if (!fs.existsSync(file)) return {};
  return Object.fromEntries(
    fs
      .readFileSync(file, 'utf8')
      .split('\n')
      .filter((line) => line.includes('='))
      .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
  );
}

async function boot(cpu: string, payload: string): Promise<{ results: string; seconds: number }> {
  const results = path.join(work, 'results', cpu);
  fs.rmSync(results, { recursive: true, force: true });
  fs.mkdirSync(results, { recursive: true });
  const disk = path.join(work, `${cpu}.qcow2`);
  fs.rmSync(disk, { force: true });
  await run('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', path.join(work, 'base.img'), '-F', 'raw', disk]);
  say(`${cpu}: booting (serial console in ${path.relative(repo, results)}/console.log)`);
  const bootStarted = Date.now();
  // prettier-ignore
  await run('qemu-system-aarch64', [
    '-M', 'virt', '-cpu', cpu, '-smp', '2', '-m', '2048', '-nographic', '-no-reboot', '-nic', 'none',
    '-kernel', path.join(work, 'vmlinuz'), '-initrd', path.join(work, 'initrd.img'),
    '-append', `root=/dev/vda rw console=ttyAMA0 panic=-1 cspine.cpu=${cpu}`,
    '-drive', `if=virtio,format=qcow2,file=${disk}`,
    '-virtfs', `local,path=${payload},mount_tag=payload,security_model=none,readonly=on`,
    '-virtfs', `local,path=${results},mount_tag=results,security_model=none`,
  ], { log: path.join(results, 'console.log'), timeoutMs: Number(values['timeout-min']) * 60_000 });
  fs.rmSync(disk, { force: true });
  return { results, seconds: (Date.now() - bootStarted) / 1000 };
}

function fmt(value: number): string {
  return Number.isNaN(value) ? 'missing' : value === 0 ? '0' : value.toExponential(1);
}

function table(comparisons: Record<string, Comparison[]>): string {
  const names = Object.keys(comparisons);
  const rows = comparisons[names[0]!]!.map((first, index) => {
    const ref = first.reference;
    const cells = names.map((name) => {
      const row = comparisons[name]![index]!;
      return row.other ? `${row.agrees ? '✓' : '✗'} ${row.other.label ?? row.other.code} ${row.other.level}, Δp ${fmt(row.maxDelta)}, Δood ${fmt(row.oodDelta)}` : '✗ missing';
    });
    return `| ${ref.name} | ${ref.label ?? ref.code} ${ref.level} | ${cells.join(' | ')} |`;
  });
  return [`| image | x86 | ${names.join(' | ')} |`, `|---|---|${names.map(() => '---|').join('')}`, ...rows].join('\n');
}

async function main(): Promise<number> {
  fs.mkdirSync(work, { recursive: true });
  if (!fs.existsSync(path.join(repo, 'dist/cli.js'))) throw new Error('dist/ missing: npm run build');
  const bundle = await buildBundle();
  say(`bundle ${path.relative(repo, bundle)} (${(fs.statSync(bundle).size / 2 ** 20).toFixed(1)} MiB)`);
  say('Debian arm64 image (scripts/arm64/image.sh)');
  await run('bash', [path.join(repo, 'scripts/arm64/image.sh'), work], { log: path.join(work, 'image.log') });

  const payload = path.join(work, 'payload');
  fs.rmSync(payload, { recursive: true, force: true });
  fs.mkdirSync(payload, { recursive: true });
  await referenceImages(path.join(payload, 'images'));
  // Two more for the lamp checks, outside the comparison: a normal to have GREEN lit when the
  // service hangs, a fracture to have RED lit when it is stopped.
  await run('node', [path.join(repo, 'dist/cli.js'), 'synth', '--out', path.join(work, 'synth/extra'), '--count', '2', '--seed', '43']);
  fs.mkdirSync(path.join(payload, 'extra'));
  for (const label of ['normal', 'fracture']) fs.copyFileSync(path.join(work, 'synth/extra', label, fs.readdirSync(path.join(work, 'synth/extra', label))[0]!), path.join(payload, 'extra', `${label}.png`));
  fs.copyFileSync(bundle, path.join(payload, 'bundle.tar.gz'));
  fs.copyFileSync(path.join(repo, 'deploy/install.sh'), path.join(payload, 'install.sh'));
  fs.copyFileSync(path.join(repo, 'scripts/arm64/guest.sh'), path.join(payload, 'guest.sh'));
  fs.copyFileSync(path.join(repo, 'scripts/arm64/guest-config.yaml'), path.join(payload, 'cspine-edge.yaml'));

  say('x86 reference answers: int8 and fp32');
  const images = path.join(payload, 'images');
  const cli = path.join(repo, 'dist/cli.js');
  const reference = path.join(work, 'x86');
  fs.rmSync(reference, { recursive: true, force: true });
  fs.mkdirSync(reference, { recursive: true });
  const quiet = { ...process.env, CSPINE_LOG__LEVEL: 'warn' };
  // exit status 2 means some were rejected (the black frame): the lines are the answer all the same
  const classifyJson = (env: NodeJS.ProcessEnv, extra: string[]) => run('sh', ['-c', 'node "$0" classify --json "$@"; status=$?; [ $status -eq 0 ] || [ $status -eq 2 ]', cli, ...extra, images], { env });
  fs.writeFileSync(path.join(reference, 'classify-int8.jsonl'), await classifyJson(quiet, []));
  fs.cpSync(path.join(repo, 'models/cspine-alexnet-demo'), path.join(reference, 'fp32/cspine-alexnet-demo'), { recursive: true });
  await run('node', [cli, 'model', 'dequantize', path.join(reference, 'fp32/cspine-alexnet-demo')]);
  fs.writeFileSync(path.join(reference, 'classify-fp32.jsonl'), await classifyJson({ ...quiet, CSPINE_MODEL__VARIANT: 'fp32' }, ['--model', path.join(reference, 'fp32/cspine-alexnet-demo')]));
  const x86Int8 = readAnswers(path.join(reference, 'classify-int8.jsonl'), 'classify');
  const x86Fp32 = readAnswers(path.join(reference, 'classify-fp32.jsonl'), 'classify');

  let failures = 0;
  const sections: string[] = [];
  const summary: string[] = [];
  for (const cpu of cpus) {
    const { results, seconds } = await boot(cpu, payload);
    const facts = readFacts(path.join(results, 'facts.env'));
    const comparisons = {
      [`${cpu} service int8`]: compare(x86Int8, readAnswers(path.join(results, 'service-int8.jsonl'), 'history')),
      [`${cpu} CLI int8`]: compare(x86Int8, readAnswers(path.join(results, 'classify-int8.jsonl'), 'classify')),
    };
    const fp32 = { [`${cpu} CLI fp32`]: compare(x86Fp32, readAnswers(path.join(results, 'classify-fp32.jsonl'), 'classify')) };
    const all = [...Object.values(comparisons), ...Object.values(fp32)].flat();
    const disagreements = all.filter((row) => !row.agrees).length;
    const maxDelta = Math.max(...all.map((row) => row.maxDelta));
    const checks: Array<[string, boolean, string]> = [
      ['answers agree with x86', disagreements === 0, `${all.length - disagreements}/${all.length}, max Δp ${fmt(maxDelta)}`],
      ['installed and started (Type=notify)', /^\d+$/.test(facts.install_s ?? ''), `${facts.install_s ?? '?'} s`],
      [
        'watchdog restarted a SIGSTOPped service (GREEN lit), lamps off after',
        /^(\d+)->(\d+)$/.test(facts.watchdog_restarts ?? '') && Number(facts.watchdog_restarts!.split('->')[1]) > Number(facts.watchdog_restarts!.split('->')[0]) && facts.lamps_before_hang === 'green=1 amber=0 red=0' && facts.lamps_after_restart === 'green=0 amber=0 red=0',
        `NRestarts ${facts.watchdog_restarts ?? '?'}, pid ${facts.watchdog_pids ?? '?'}, ${facts.watchdog_restart_s ?? '?'} s; lamps before: ${facts.lamps_before_hang ?? '?'}, after the restart: ${facts.lamps_after_restart ?? '?'}`,
      ],
      ['lamps off after stop (RED lit)', facts.lamps_before_stop === 'green=0 amber=0 red=1' && facts.lamps_after_stop === 'green=0 amber=0 red=0', `before: ${facts.lamps_before_stop ?? '?'}; after: ${facts.lamps_after_stop ?? '?'}`],
      [
        'reinstall keeps settings and history',
        facts.reinstall === 'ok' && facts.config_kept === 'yes' && facts.history_before_reinstall === String(x86Int8.size + 2) && facts.history_after_reinstall === facts.history_before_reinstall,
        `${facts.reinstall ?? '?'}, config kept ${facts.config_kept ?? '?'}, ${facts.history_before_reinstall ?? '?'} → ${facts.history_after_reinstall ?? '?'} results`,
      ],
      ['uninstall keeps settings and data', facts.uninstall === 'ok' && facts.after_uninstall === 'opt-gone, config-kept, data-kept', facts.after_uninstall ?? '?'],
    ];
    failures += checks.filter(([, ok]) => !ok).length;
    summary.push(
      `### ${cpu}\n\nCPU features: \`${facts.features ?? '?'}\` (dot product: ${/\basimddp\b/.test(facts.features ?? '') ? 'yes' : 'no'}); kernel ${facts.kernel ?? '?'}; ${Math.round(Number(facts.memory_kb ?? 0) / 1024)} MiB; whole boot-to-poweroff ${Math.round(seconds)} s emulated.\n\n| check | result | detail |\n|---|---|---|\n${checks
        .map(([name, ok, detail]) => `| ${name} | ${ok ? 'pass' : '**FAIL**'} | ${detail} |`)
        .join('\n')}\n\nsystemd-analyze security: **${facts.security ?? '?'}**; service RSS after start ${Math.round(Number(facts.rss_after_start_kb ?? 0) / 1024)} MiB, after the images ${Math.round(Number(facts.rss_after_results_kb ?? 0) / 1024)} MiB (emulated; the figures that count are in docs/benchmarks-memory.md).`,
    );
    sections.push(`#### ${cpu}: int8 (the service and the CLI) against x86 int8\n\n${table(comparisons)}\n\n#### ${cpu}: fp32 against x86 fp32\n\n${table(fp32)}`);
    say(`${cpu}: ${checks.map(([name, ok]) => `${ok ? 'ok' : 'FAIL'} ${name}`).join('; ')}`);
  }

  const report = `<!-- results:start (written by npm run test:arm64 on ${new Date().toISOString().slice(0, 10)}) -->\nBundle \`${path.basename(bundle)}\`, ${(fs.statSync(bundle).size / 2 ** 20).toFixed(1)} MiB; ${x86Int8.size} reference images; tolerance ${TOLERANCE} on every probability; the whole run took ${Math.round((Date.now() - started) / 60_000)} min on the 2-core build machine.\n\n${summary.join('\n\n')}\n\n${sections.join('\n\n')}\n<!-- results:end -->`;
  fs.writeFileSync(path.join(work, 'report.md'), `${report}\n`);
  const doc = path.join(repo, 'docs/arm64.md');
  if (!values['no-docs'] && fs.existsSync(doc)) {
    const text = fs.readFileSync(doc, 'utf8');
    fs.writeFileSync(doc, text.replace(/<!-- results:start[\s\S]*<!-- results:end -->/, () => report));
    say('tables written to docs/arm64.md');
  }
  say(failures === 0 ? 'arm64 proof passed' : `arm64 proof: ${failures} check(s) failed; ${path.join(work, 'report.md')}`);
  return failures === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: Error) => {
    process.stderr.write(`test:arm64: ${error.message}\n`);
    process.exit(1);
  },
);
