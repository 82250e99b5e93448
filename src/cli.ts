#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { classifyCommand } from './commands/classify.js';
import { doctorCommand } from './commands/doctor.js';
import { lampsOffCommand, lampTestCommand } from './commands/lamp-test.js';
import { modelEvaluateCommand } from './commands/model.js';
import { synthCommand } from './commands/synth.js';
import { historyCommand } from './commands/history.js';
import { runCommand } from './commands/run.js';
import { loadConfig, maskSecrets } from './config/load.js';
import { ConfigError, toCspineError } from './errors.js';

const USAGE = `cspine-edge — cervical-spine radiograph triage on the device (decision support, not a medical device)

usage: cspine-edge <command> [options]

commands:
  run                       watch the capture folder and classify what lands there (npm start)
  classify FILE... [--json] [--model DIR] [--heatmap DIR]
                            classify files without the service; one line per file
                            exit 0 all classified, 2 any rejected, 1 internal failure
  history [--json] [--limit N]
                            latest recorded results (default 20)
  lamp-test                 light each lamp in turn (and the buzzer) on the configured backend
  lamps-off                 turn every lamp off (systemd ExecStopPost)
  doctor [--json]           check model, database, disk, lamps, broker and DICOM receiver; exit 1 on a failure
  model evaluate MODEL_DIR --data DIR [--out DIR]
                            accuracy, sensitivity, specificity, ROC AUC, calibration, CAM
                            localisation on labelled images; JSON + Markdown + PNG plots
  synth --out DIR --count N --seed S [--size WxH] [--bits 8|16]
                            synthetic c-spine phantoms with labels.csv (docs/phantoms.md)
  config                    print the effective configuration (secrets masked)

options:
  --config FILE             YAML or JSON settings (also CSPINE_CONFIG); CSPINE_* variables override
  -h, --help                this text
`;

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: 'string' },
      json: { type: 'boolean', default: false },
      limit: { type: 'string', default: '20' },
      model: { type: 'string' },
      heatmap: { type: 'string' },
      out: { type: 'string' },
      data: { type: 'string' },
      count: { type: 'string' },
      seed: { type: 'string' },
      size: { type: 'string', default: '256x320' },
      bits: { type: 'string', default: '8' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const [command, ...rest] = positionals;
  if (values.help || command === undefined || command === 'help') {
    process.stdout.write(USAGE);
    return command === undefined && !values.help ? 1 : 0;
  }
  const config = loadConfig({ file: values.config });
  switch (command) {
    case 'run':
      return runCommand(config);
    case 'classify':
      if (rest.length === 0) throw new UsageError('classify needs at least one FILE');
      return classifyCommand(config, { files: rest, json: values.json, modelDir: values.model, heatmapDir: values.heatmap });
    case 'history': {
      const limit = Number(values.limit);
      if (!Number.isInteger(limit) || limit < 1) throw new UsageError(`--limit must be a positive whole number, not "${values.limit}"`);
      return historyCommand(config, { json: values.json, limit });
    }
    case 'synth': {
      if (values.out === undefined || values.count === undefined || values.seed === undefined) throw new UsageError('synth needs --out DIR, --count N and --seed S');
      try {
        return await synthCommand({ out: values.out, count: Number(values.count), seed: Number(values.seed), size: values.size, bits: Number(values.bits) });
      } catch (error) {
        if (error instanceof RangeError) throw new UsageError(error.message);
        throw error;
      }
    }
    case 'model': {
      const [action, modelDir] = rest;
      if (action !== 'evaluate' || modelDir === undefined || values.data === undefined) throw new UsageError('usage: model evaluate MODEL_DIR --data DIR [--out DIR]');
      return modelEvaluateCommand(config, { modelDir, dataDir: values.data, outDir: values.out });
    }
    case 'lamp-test':
      return lampTestCommand(config);
    case 'lamps-off':
      return lampsOffCommand(config);
    case 'doctor':
      return doctorCommand(config, { json: values.json });
    case 'config':
      process.stdout.write(`${JSON.stringify(maskSecrets(config), null, 2)}\n`);
      return 0;
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

class UsageError extends Error {}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof UsageError || (error instanceof TypeError && 'code' in error && String(error.code).startsWith('ERR_PARSE_ARGS'))) {
      process.stderr.write(`cspine-edge: ${error.message}\n\n${USAGE}`);
      process.exitCode = 64;
      return;
    }
    const problem = toCspineError(error);
    process.stderr.write(`cspine-edge: ${problem.code}: ${problem.message}\n`);
    if (problem instanceof ConfigError) process.exitCode = 78;
    else process.exitCode = 1;
  },
);
