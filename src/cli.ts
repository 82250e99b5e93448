#!/usr/bin/env node
import { COMMON_OPTION_HELP, UsageError, type Command } from './commands/options.js';
import { ConfigError, toCspineError } from './errors.js';

interface CommandEntry {
  summary: string;
  /** Imported only when run: `classify` must not load ONNX Runtime before it knows it may. */
  load(): Promise<Command>;
}

/** Each command parses its own options (`cspine-edge <command> --help`); `model` has actions. */
const COMMANDS = new Map<string, CommandEntry>([
  ['run', { summary: 'watch the capture folder and classify what lands there (npm start)', load: async () => (await import('./commands/run.js')).run }],
  ['classify', { summary: 'classify files and folders without the service; one line per file', load: async () => (await import('./commands/classify.js')).classify }],
  ['history', { summary: 'latest recorded results (default 20)', load: async () => (await import('./commands/history.js')).history }],
  ['lamp-test', { summary: 'light each lamp in turn (and the buzzer) on the configured backend', load: async () => (await import('./commands/lamp-test.js')).lampTest }],
  ['lamps-off', { summary: 'turn every lamp off (systemd ExecStopPost)', load: async () => (await import('./commands/lamp-test.js')).lampsOff }],
  ['doctor', { summary: 'check model, database, disk, lamps, broker, DICOM receiver and the running service; exit 1 on a failure', load: async () => (await import('./commands/doctor.js')).doctor }],
  ['model evaluate', { summary: 'accuracy, ROC, calibration, CAM on labelled images; OOD sets with --ood', load: async () => (await import('./commands/model.js')).modelEvaluate }],
  ['model validate', { summary: "a site's labelled films: sensitivity, specificity, the lamp table and a greenMinNormal that meets a stated bound", load: async () => (await import('./commands/model-validate.js')).modelValidate }],
  ['model quantize', { summary: 'static INT8 (QDQ) package from an fp32 ONNX model, calibrated on images', load: async () => (await import('./commands/model.js')).modelQuantize }],
  ['model ood-calibrate', { summary: 'out-of-distribution detector from training images (docs/safety.md)', load: async () => (await import('./commands/model-ood.js')).modelOodCalibrate }],
  ['model dequantize', { summary: "rebuild the package's fp32 variant from its int8 file", load: async () => (await import('./commands/model.js')).modelDequantize }],
  ['model bench', { summary: 'INT8 vs fp32 latency on this board, and which to run', load: async () => (await import('./commands/model.js')).modelBench }],
  ['model references', { summary: "record the package's self-test images and the lamps they must get", load: async () => (await import('./commands/model-references.js')).modelReferences }],
  ['model keygen', { summary: 'a new Ed25519 key pair for signing model packages (docs/model-updates.md)', load: async () => (await import('./commands/model-signing.js')).modelKeygen }],
  ['model sign', { summary: "check a package's files against its manifest and sign it (manifest.sig)", load: async () => (await import('./commands/model-signing.js')).modelSign }],
  ['model verify', { summary: "a package's signature and files, as a device checks them; exit 2 when refused", load: async () => (await import('./commands/model-signing.js')).modelVerify }],
  ['synth', { summary: 'synthetic c-spine phantoms with labels.csv (docs/phantoms.md)', load: async () => (await import('./commands/synth.js')).synth }],
  ['synth-ood', { summary: 'out-of-distribution and acquisition-shift test sets with ood.csv', load: async () => (await import('./commands/synth-ood.js')).synthOod }],
  ['dashboard', { summary: 'the central dashboard: MQTT → PostgreSQL → web page and API (docs/dashboard.md)', load: async () => (await import('./commands/dashboard.js')).dashboard }],
  ['dashboard user', { summary: 'add, list, disable dashboard users or set a password', load: async () => (await import('./commands/dashboard-user.js')).dashboardUser }],
  ['dashboard retire', { summary: 'take a dashboard instance out of the group, storing what the broker kept for it', load: async () => (await import('./commands/dashboard-retire.js')).dashboardRetire }],
  ['dashboard package', { summary: 'add a signed model package for fleet updates, or list them', load: async () => (await import('./commands/dashboard-package.js')).dashboardPackage }],
  ['dashboard rollout', { summary: 'roll a package out to devices, canaries first; advance, halt, roll back', load: async () => (await import('./commands/dashboard-rollout.js')).dashboardRollout }],
  ['camera snapshot', { summary: 'one camera frame with the region of interest drawn on it, for setting it up', load: async () => (await import('./commands/camera.js')).cameraSnapshot }],
  ['config', { summary: 'print the effective configuration (secrets masked)', load: async () => (await import('./commands/config.js')).config }],
]);

const USAGE = `cspine-edge — cervical-spine radiograph triage on the device (decision support, not a medical device)

usage: cspine-edge <command> [options]
       cspine-edge <command> --help      that command's operands and options

commands:
${[...COMMANDS]
  .map(([name, { summary }]) => `  ${name.padEnd(22)}${summary}`)
  .join('\n')}

options:
${COMMON_OPTION_HELP.config}
${COMMON_OPTION_HELP.help}
`;

const HELP = new Set(['help', '-h', '--help']);

async function main(argv: string[]): Promise<number> {
  const { configOption, rest } = leadingConfigOption(argv);
  const [command, ...args] = rest;
  if (command === undefined || HELP.has(command)) {
    process.stdout.write(USAGE);
    return command === undefined ? 1 : 0;
  }
  // Two-word commands: `model <action>` (model alone is not a command) and `dashboard user`.
  const twoWord = `${command} ${args[0] ?? ''}`;
  const entry = COMMANDS.get(twoWord) ?? COMMANDS.get(command);
  if (COMMANDS.has(twoWord)) args.shift();
  if (entry === undefined) {
    if (command === 'model' && HELP.has(args[0] ?? '')) {
      process.stdout.write(USAGE);
      return 0;
    }
    throw new UsageError(command === 'model' ? 'usage: model evaluate|validate|quantize|ood-calibrate|dequantize|bench|references|keygen|sign|verify ...' : `unknown command "${command}"`);
  }
  return (await entry.load()).run([...configOption, ...args]);
}

/** `--config FILE` may also come before the command, where it could when all commands shared one option list. */
function leadingConfigOption(argv: string[]): { configOption: string[]; rest: string[] } {
  if (argv[0] === '--config' && argv.length > 1) return { configOption: argv.slice(0, 2), rest: argv.slice(2) };
  if (argv[0]?.startsWith('--config=')) return { configOption: argv.slice(0, 1), rest: argv.slice(1) };
  return { configOption: [], rest: argv };
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof UsageError) {
      process.stderr.write(`cspine-edge: ${error.message}\n\n${error.usage ?? USAGE}`);
      process.exitCode = 64;
      return;
    }
    const problem = toCspineError(error);
    process.stderr.write(`cspine-edge: ${problem.code}: ${problem.message}\n`);
    if (problem instanceof ConfigError) process.exitCode = 78;
    else process.exitCode = 1;
  },
);
