import fs from 'node:fs';
import path from 'node:path';
import type { Config } from '../config/schema.js';
import { CspineError, toCspineError } from '../errors.js';
import { sha256Hex } from '../hash.js';
import { REFERENCE_DIR, REFERENCE_NAME, type SelfTestReference } from '../model/manifest.js';
import { readManifest, writeManifest } from '../model/model-package.js';
import { SIGNATURE_FILE } from '../model/signature.js';
import { openClassifier } from '../pipeline/open-classifier.js';
import { commandConfig, CONFIG_OPTION, defineCommand, numberInRange, UsageError } from './options.js';

const DEFAULT_TOLERANCE = 0.02;
const round6 = (p: number) => Math.round(p * 1e6) / 1e6;

export interface ReferencesOptions {
  modelDir: string;
  images: readonly string[];
  /** Default: the manifest's, else 0.02. */
  tolerance?: number | undefined;
}

/** The names the images will have in the package, each once and plain. */
function referenceNames(images: readonly string[]): string[] {
  const names = images.map((image) => path.basename(image));
  for (const name of names) {
    if (!REFERENCE_NAME.test(name)) throw new UsageError(`"${name}": a reference's file name may hold only letters, digits, ".", "_" and "-" (and not start with ".")`);
  }
  const twice = names.find((name, i) => names.indexOf(name) !== i);
  if (twice !== undefined) throw new UsageError(`two images are named ${twice}; references are kept by file name, so give each a different one`);
  return names;
}

/**
 * `cspine-edge model references MODEL_DIR IMAGE...`: the package's self-test references become
 * these images (copied, byte for byte, into MODEL_DIR/reference/) with what the package makes of
 * them now, through the same pipeline as the service. Nothing is written when any image is
 * refused. The manifest changes, so a signature of it is removed: sign again.
 */
export async function modelReferencesCommand(config: Config, options: ReferencesOptions): Promise<number> {
  const modelDir = path.resolve(options.modelDir);
  const names = referenceNames(options.images);
  const manifest = await readManifest(modelDir);
  // The manifest is about to change and its signature with it: checking the old one would only
  // stop a package being prepared on a machine that also lists trusted keys.
  const classifier = await openClassifier({ ...config, model: { ...config.model, trustedKeys: [] } }, modelDir);
  const recorded: Array<{ reference: SelfTestReference; bytes: Buffer }> = [];
  try {
    for (const [i, image] of options.images.entries()) {
      const bytes = await fs.promises.readFile(image);
      let classification;
      try {
        classification = await classifier.classify(bytes);
      } catch (error) {
        const problem = toCspineError(error);
        throw new CspineError(problem.code, `${image} cannot be a reference: the pipeline refuses it (${problem.message}); nothing was written`, { cause: error });
      }
      const probabilities = Object.fromEntries(Object.entries(classification.probabilities).map(([label, p]) => [label, round6(p)]));
      // FAULT is the device's state, never a classification's lamp (writeManifest checks it too).
      const level = classification.triage.level as SelfTestReference['expected']['level'];
      recorded.push({ reference: { file: `${REFERENCE_DIR}/${names[i]!}`, sha256: sha256Hex(bytes), expected: { level, label: classification.label, probabilities } }, bytes });
    }
  } finally {
    await classifier.engine.close();
  }
  fs.mkdirSync(path.join(modelDir, REFERENCE_DIR), { recursive: true });
  for (const { reference, bytes } of recorded) fs.writeFileSync(path.join(modelDir, reference.file), bytes);
  const tolerance = options.tolerance ?? manifest.selfTest?.tolerance ?? DEFAULT_TOLERANCE;
  writeManifest(modelDir, { ...manifest, selfTest: { tolerance, references: recorded.map(({ reference }) => reference) } });
  const signature = path.join(modelDir, SIGNATURE_FILE);
  const wasSigned = fs.existsSync(signature);
  fs.rmSync(signature, { force: true });
  const { variant } = classifier.engine.model;
  process.stdout.write(
    [
      ...recorded.map(({ reference: { file, expected } }) => `${file.padEnd(32)} ${expected.level.padEnd(6)} ${expected.label.padEnd(12)} ${Object.entries(expected.probabilities).map(([label, p]) => `${label} ${p.toFixed(4)}`).join('  ')}`),
      `recorded ${recorded.length} reference(s) in ${path.join(modelDir, 'manifest.json')} (selfTest, tolerance ${tolerance}${variant === 'default' ? '' : `, from the ${variant} variant`})`,
      wasSigned ? `removed the now stale ${SIGNATURE_FILE}: sign again with: cspine-edge model sign ${options.modelDir} --key KEY` : `sign it with: cspine-edge model sign ${options.modelDir} --key KEY`,
    ].join('\n') + '\n',
  );
  return 0;
}

const REFERENCES_SYNOPSIS = 'model references MODEL_DIR IMAGE... [--tolerance 0.02]';

export const modelReferences = defineCommand({
  synopsis: REFERENCES_SYNOPSIS,
  about: `The package's self-test references: copies the images into MODEL_DIR/reference/ and records
in manifest.json (selfTest) the lamp, label and probabilities the package gives each now, through
the service's own pipeline. Devices check them at load, nightly and before switching to an
update. Replaces earlier references; an image the pipeline refuses is refused with its reason.
Removes manifest.sig: sign again. Phantoms or anonymised images only: packages travel.`,
  operands: true,
  options: { tolerance: { type: 'string' }, ...CONFIG_OPTION },
  optionHelp: '  --tolerance X             the most a probability may differ on a device (default: the manifest\'s, else 0.02)',
  run: ({ values, positionals: [modelDir, ...images] }) => {
    if (modelDir === undefined || images.length === 0) throw new UsageError(`usage: ${REFERENCES_SYNOPSIS}`);
    const tolerance = values.tolerance === undefined ? undefined : numberInRange('tolerance', values.tolerance, 0.0001, 1);
    return modelReferencesCommand(commandConfig(values), { modelDir, images, tolerance });
  },
});
