#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { classifyCommand } from './commands/classify.js';
import { doctorCommand } from './commands/doctor.js';
import { lampsOffCommand, lampTestCommand } from './commands/lamp-test.js';
import { modelBenchCommand, modelDequantizeCommand, modelEvaluateCommand, modelQuantizeCommand } from './commands/model.js';
import { modelOodCalibrateCommand } from './commands/model-ood.js';
import { synthCommand } from './commands/synth.js';
import { synthOodCommand } from './commands/synth-ood.js';
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
  model evaluate MODEL_DIR --data DIR [--out DIR] [--variant V] [--compare V2 [--record]]
                            accuracy, sensitivity, specificity, ROC AUC, calibration, CAM
                            localisation on labelled images; JSON + Markdown + PNG plots;
                            --compare: a second variant side by side (agreement, deltas);
                            --record: that comparison into manifest.json (evaluation.heldOut)
  model evaluate MODEL_DIR --ood DIR [--ood DIR2 ...] [--data DIR] [--out DIR] [--variant V]
                            synth-ood sets (ood.csv): lamp per category, OOD detector AUROC
                            and FPR at 95% TPR beside the max-softmax baseline, must-hold
                            checks; ood.json/md/png in --out (default MODEL_DIR/evaluation/ood/);
                            exit 0 even when a check fails (printed as FAIL)
  model quantize IN.onnx --calibrate DIR --out OUT_DIR [--manifest FILE] [--count 300]
                 [--check DIR] [--check-count 300] [--method auto|minmax|percentile|entropy]
                 [--percentile 99.999] [--min-agreement 0.99] [--keep-float NODE,...]
                 [--cam int8|float] [--activations uint8|int8]
                            static INT8 (QDQ) model package from an fp32 ONNX model,
                            calibrated on images; refuses under the agreement floor
  model ood-calibrate MODEL_DIR --data DIR[,DIR...] [--count 3000] [--components 128]
                 [--in-distribution 99.5]
                            out-of-distribution detector from training images: adds the
                            features output, writes ood.bin and manifest ood (docs/safety.md)
  model dequantize MODEL_DIR
                            rebuild the package's fp32 variant from its int8 file
  model bench [MODEL_DIR] [--runs 50]
                            INT8 vs fp32 latency on this board, and which to run
  synth --out DIR --count N --seed S [--size WxH] [--bits 8|16]
                            synthetic c-spine phantoms with labels.csv (docs/phantoms.md)
  synth-ood --out DIR --seed S [--count N] [--categories a,b,...] [--size WxH]
                            out-of-distribution and acquisition-shift test sets with
                            ood.csv; N per category (default 50) (docs/phantoms.md)
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
      ood: { type: 'string', multiple: true },
      count: { type: 'string' },
      seed: { type: 'string' },
      categories: { type: 'string' },
      size: { type: 'string', default: '256x320' },
      bits: { type: 'string', default: '8' },
      variant: { type: 'string' },
      compare: { type: 'string' },
      calibrate: { type: 'string' },
      manifest: { type: 'string' },
      check: { type: 'string' },
      'check-count': { type: 'string', default: '300' },
      method: { type: 'string', default: 'auto' },
      percentile: { type: 'string', default: '99.999' },
      'min-agreement': { type: 'string', default: '0.99' },
      'keep-float': { type: 'string', default: '' },
      cam: { type: 'string', default: 'int8' },
      activations: { type: 'string', default: 'uint8' },
      runs: { type: 'string', default: '50' },
      record: { type: 'boolean', default: false },
      components: { type: 'string', default: '128' },
      'in-distribution': { type: 'string', default: '99.5' },
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
    case 'synth-ood': {
      if (values.out === undefined || values.seed === undefined) throw new UsageError('synth-ood needs --out DIR and --seed S');
      try {
        return await synthOodCommand({ out: values.out, seed: Number(values.seed), count: Number(values.count ?? '50'), size: values.size, categories: values.categories });
      } catch (error) {
        if (error instanceof RangeError) throw new UsageError(error.message);
        throw error;
      }
    }
    case 'model': {
      const [action, target] = rest;
      const number = (name: string, value: string, min: number, max: number) => {
        const n = Number(value);
        if (!Number.isFinite(n) || n < min || n > max) throw new UsageError(`--${name} must be a number from ${min} to ${max}, not "${value}"`);
        return n;
      };
      switch (action) {
        case 'evaluate':
          if (target === undefined || (values.data === undefined && values.ood === undefined)) {
            throw new UsageError('usage: model evaluate MODEL_DIR --data DIR [--out DIR] [--variant V] [--compare V2] | --ood DIR [--ood DIR2 ...] [--out DIR]');
          }
          if (values.compare !== undefined && values.data === undefined) throw new UsageError('--compare compares variants on --data DIR; give --data too');
          return modelEvaluateCommand(config, { modelDir: target, dataDir: values.data, oodDirs: values.ood, outDir: values.out, variant: values.variant, compare: values.compare, record: values.record });
        case 'quantize': {
          if (target === undefined || values.calibrate === undefined || values.out === undefined) throw new UsageError('usage: model quantize IN.onnx --calibrate DIR --out OUT_DIR [options]');
          const method = values.method;
          if (!['auto', 'minmax', 'percentile', 'entropy'].includes(method)) throw new UsageError(`--method must be auto, minmax, percentile or entropy, not "${method}"`);
          if (values.cam !== 'int8' && values.cam !== 'float') throw new UsageError(`--cam must be int8 or float, not "${values.cam}"`);
          if (values.activations !== 'uint8' && values.activations !== 'int8') throw new UsageError(`--activations must be uint8 or int8, not "${values.activations}"`);
          return modelQuantizeCommand(config, {
            input: target,
            calibrate: values.calibrate,
            outDir: values.out,
            manifest: values.manifest,
            count: number('count', values.count ?? '300', 1, 100_000),
            check: values.check,
            checkCount: number('check-count', values['check-count'], 1, 100_000),
            method: method as 'auto',
            percentile: number('percentile', values.percentile, 50, 100),
            minAgreement: number('min-agreement', values['min-agreement'], 0, 1),
            keepFloat: values['keep-float'].split(',').filter(Boolean),
            cam: values.cam === 'float' ? 'float' : 'int8-dynamic',
            activations: values.activations,
          });
        }
        case 'ood-calibrate':
          if (target === undefined || values.data === undefined) throw new UsageError('usage: model ood-calibrate MODEL_DIR --data DIR[,DIR...] [--count 3000] [--components 128] [--in-distribution 99.5]');
          return modelOodCalibrateCommand(config, {
            modelDir: target,
            dataDirs: values.data.split(',').filter(Boolean),
            count: number('count', values.count ?? '3000', 1, 1_000_000),
            components: number('components', values.components, 1, 4096),
            percentile: number('in-distribution', values['in-distribution'], 50.01, 100),
          });
        case 'dequantize':
          if (target === undefined) throw new UsageError('usage: model dequantize MODEL_DIR');
          return modelDequantizeCommand({ modelDir: target });
        case 'bench':
          return modelBenchCommand(config, { modelDir: target, runs: number('runs', values.runs, 1, 100_000) });
        default:
          throw new UsageError('usage: model evaluate|quantize|ood-calibrate|dequantize|bench ...');
      }
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
