import { z } from 'zod';
import { ErrorCode, ModelError } from '../errors.js';

export const MANIFEST_FILE = 'manifest.json';

const positiveInt = z.int().min(1);
const onnxFileName = z.string().regex(/^[A-Za-z0-9._-]+\.onnx$/, 'a plain file name ending in .onnx, inside the package folder');
const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, '64 lowercase hex digits');

/** One file of the package that can serve the same interface (int8 / fp32 / the training export). */
export const variantSchema = z.object({
  file: onnxFileName,
  sha256: sha256Hex,
  bytes: z.int().min(1).optional(),
  precision: z.enum(['int8', 'fp32']).optional(),
  description: z.string().optional(),
  /** The one command that makes this file when it is not shipped (not in git). */
  rebuild: z.string().optional(),
});
export type ModelVariant = z.infer<typeof variantSchema>;
export const VARIANT_NAME = /^[a-z0-9][a-z0-9-]*$/;

/**
 * How "familiar" an image is to the model. `msp+pca-residual`: the larger of two ratios, each a
 * score over its threshold calibrated on training images: the confidence deficit −log(max
 * softmax) from the logits, and the distance of the features from their principal subspace
 * (what the training images never varied in). Above 1 the image is outside the model's world.
 */
export const oodSchema = z.object({
  method: z.literal('msp+pca-residual'),
  /** Little-endian float32: the feature mean [featureDim], then `components` rows of [featureDim]. */
  statsFile: z.string().regex(/^[A-Za-z0-9._-]+\.bin$/, 'a plain file name ending in .bin, inside the package folder'),
  statsSha256: sha256Hex,
  featureDim: positiveInt,
  components: positiveInt,
  thresholds: z.object({ confidence: z.number().positive(), residual: z.number().positive() }),
  /** Share (percent) of calibration images inside: each part at this percentile, then both scaled so their maximum is too. */
  inDistributionPercentile: z.number().gt(50).max(100),
  /** Where the statistics come from and what they were checked on (free-form, for people). */
  provenance: z.record(z.string(), z.unknown()).optional(),
});
export type OodSpec = z.infer<typeof oodSchema>;

/** The folder inside a package that holds its self-test's reference images. */
export const REFERENCE_DIR = 'reference';
/** A reference image's file name in {@link REFERENCE_DIR}: plain, so it can never point outside the package. */
export const REFERENCE_NAME = /^[A-Za-z0-9_-][A-Za-z0-9._-]*$/;

/**
 * The package's own answer key: images inside the package (`model references`) and what this
 * model must make of them. The device checks them at load, nightly and before switching to an
 * update, so a package that was damaged, mis-built or run by a broken runtime never goes into
 * service. Phantoms or anonymised images only: the package travels to every device.
 */
export const selfTestSchema = z.object({
  /** The most any one probability may differ from the recorded one. */
  tolerance: z.number().positive().max(1).default(0.02),
  references: z
    .array(
      z.object({
        file: z
          .string()
          .refine((file) => file.startsWith(`${REFERENCE_DIR}/`) && REFERENCE_NAME.test(file.slice(REFERENCE_DIR.length + 1)), `${REFERENCE_DIR}/<name>: a plain file name in the package's ${REFERENCE_DIR} folder`),
        sha256: sha256Hex,
        expected: z.object({
          level: z.enum(['GREEN', 'AMBER', 'RED']),
          label: z.string().min(1),
          probabilities: z.record(z.string(), z.number().min(0).max(1)),
        }),
      }),
    )
    .min(1)
    .refine((references) => new Set(references.map((reference) => reference.file)).size === references.length, 'each reference file once'),
});
export type SelfTestSpec = z.infer<typeof selfTestSchema>;
export type SelfTestReference = SelfTestSpec['references'][number];

/**
 * `models/<id>/manifest.json`: everything the runtime needs to feed and read the model.
 * Preprocessing lives here and nowhere else, so a retrained model cannot be fed wrongly.
 */
export const manifestSchema = z
  .object({
    schemaVersion: z.literal(1),
    id: z.string().regex(/^[A-Za-z0-9._-]+$/),
    description: z.string().optional(),
    /** ONNX file name inside the package folder: the default variant, what an older runtime loads. */
    file: onnxFileName,
    sha256: sha256Hex,
    /**
     * Optional alternatives to `file` with the same input, outputs and preprocessing, chosen by
     * `model.variant` (e.g. int8 by default, fp32 for boards where it runs faster).
     */
    variants: z.record(z.string().regex(VARIANT_NAME, 'lowercase letters, digits and "-"'), variantSchema).optional(),
    labels: z
      .array(z.string().min(1))
      .min(2)
      .refine((labels) => new Set(labels).size === labels.length, 'labels must be unique')
      .refine((labels) => labels.includes('normal'), 'one label must be "normal" (the only class that can give GREEN)'),
    input: z.object({
      name: z.string().min(1),
      layout: z.enum(['NCHW', 'NHWC']),
      /** [batch, channels, height, width] for NCHW, [batch, height, width, channels] for NHWC. */
      shape: z.tuple([z.literal(1), positiveInt, positiveInt, positiveInt]),
    }),
    preprocess: z.object({
      /** stretch: ignore aspect; letterbox: fit inside, pad black; center-crop: fill, crop the excess. */
      resize: z.enum(['stretch', 'letterbox', 'center-crop']),
      /** Applied to samples scaled to 0..1 by the source bit depth; one value or one per channel. */
      mean: z.array(z.number()).min(1),
      std: z.array(z.number().positive()).min(1),
    }),
    outputs: z.object({
      logits: z.string().min(1),
      cam: z.string().min(1).optional(),
      /** Penultimate features (float32 [1, D]) for the out-of-distribution detector; added by `model ood-calibrate`. */
      features: z.string().min(1).optional(),
    }),
    calibration: z.object({ temperature: z.number().positive() }).prefault({ temperature: 1 }),
    triage: z
      .object({
        greenMinNormal: z.number().min(0).max(1).optional(),
        redMinAbnormal: z.number().min(0).max(1).optional(),
        /**
         * Where greenMinNormal came from (`model validate --write`): the site's films, the target
         * it meets and the report's hash. Absent: defaults, chosen on phantoms, not validated.
         */
        validation: z
          .object({
            reportSha256: z.string().regex(/^[0-9a-f]{64}$/),
            date: z.string(),
            films: z.int().positive(),
            data: z.string(),
            maxInjuredAmongGreen: z.number().gt(0).lt(1),
            confidence: z.number().gt(0).lt(1),
          })
          .optional(),
      })
      .optional(),
    /** The out-of-distribution detector's statistics and thresholds (`model ood-calibrate`, docs/safety.md). */
    ood: oodSchema.optional(),
    /** Reference images and the answers they must get (`model references`); without it only the fixed-image drift check runs. */
    selfTest: selfTestSchema.optional(),
    quantization: z.record(z.string(), z.unknown()).optional(),
    provenance: z.record(z.string(), z.unknown()).optional(),
    evaluation: z.record(z.string(), z.unknown()).optional(),
  })
  .superRefine((manifest, ctx) => {
    const variants = Object.entries(manifest.variants ?? {});
    if (variants.length > 0 && !variants.some(([, v]) => v.file === manifest.file && v.sha256 === manifest.sha256)) {
      ctx.addIssue({ code: 'custom', path: ['variants'], message: `no variant is the default file ${manifest.file} with its sha256` });
    }
    if (manifest.ood && !manifest.outputs.features) {
      ctx.addIssue({ code: 'custom', path: ['outputs', 'features'], message: 'the ood statistics need a features output' });
    }
    for (const [i, reference] of (manifest.selfTest?.references ?? []).entries()) {
      const where = ['selfTest', 'references', i, 'expected'];
      if (!manifest.labels.includes(reference.expected.label)) ctx.addIssue({ code: 'custom', path: [...where, 'label'], message: `"${reference.expected.label}" is not one of the labels` });
      const given = Object.keys(reference.expected.probabilities).sort().join(',');
      if (given !== [...manifest.labels].sort().join(',')) ctx.addIssue({ code: 'custom', path: [...where, 'probabilities'], message: `needs one probability per label (${manifest.labels.join(', ')}), got ${given || 'none'}` });
    }
    const channels = inputGeometry(manifest.input).channels;
    for (const key of ['mean', 'std'] as const) {
      const length = manifest.preprocess[key].length;
      if (length !== 1 && length !== channels) {
        ctx.addIssue({ code: 'custom', path: ['preprocess', key], message: `needs 1 or ${channels} values (input has ${channels} channels), got ${length}` });
      }
    }
  });

export type ModelManifest = z.infer<typeof manifestSchema>;

export interface InputGeometry {
  channels: number;
  height: number;
  width: number;
}

export function inputGeometry(input: ModelManifest['input']): InputGeometry {
  const [, a, b, c] = input.shape;
  return input.layout === 'NCHW' ? { channels: a, height: b, width: c } : { height: a, width: b, channels: c };
}

/** The name of the variant `file` points at ('default' when the manifest lists none). */
export function defaultVariantName(manifest: ModelManifest): string {
  return Object.entries(manifest.variants ?? {}).find(([, v]) => v.file === manifest.file && v.sha256 === manifest.sha256)?.[0] ?? 'default';
}

/**
 * The variant `requested` names (unset or empty: the default file), as its name, file and hash;
 * E_MODEL_VARIANT_UNKNOWN, naming the package as `where`, when the manifest lists no such variant.
 */
export function chooseVariant(manifest: ModelManifest, requested: string | undefined, where: string): { name: string; file: string; sha256: string } {
  const name = defaultVariantName(manifest);
  if (requested === undefined || requested === '' || requested === name) return { name, file: manifest.file, sha256: manifest.sha256 };
  const entry = manifest.variants?.[requested];
  if (!entry) {
    const known = Object.keys(manifest.variants ?? {});
    throw new ModelError(
      ErrorCode.MODEL_VARIANT_UNKNOWN,
      `${where} has no variant "${requested}" (model.variant / CSPINE_MODEL__VARIANT); it has ${known.length > 0 ? known.join(', ') : 'only its default file'}`,
    );
  }
  return { name: requested, file: entry.file, sha256: entry.sha256 };
}

export interface PackageFile {
  /** Relative to the package folder. */
  file: string;
  sha256: string;
}

/**
 * Every file the manifest names with its hash, once each: the variants (the default first), the
 * OOD statistics, the self-test's reference images. What a signature over the manifest vouches
 * for, and what a package carries when it is distributed (those of them that exist: unshipped
 * variants say how to rebuild).
 */
export function packageFiles(manifest: ModelManifest): PackageFile[] {
  const files: PackageFile[] = [{ file: manifest.file, sha256: manifest.sha256 }];
  for (const variant of Object.values(manifest.variants ?? {})) files.push({ file: variant.file, sha256: variant.sha256 });
  if (manifest.ood) files.push({ file: manifest.ood.statsFile, sha256: manifest.ood.statsSha256 });
  for (const reference of manifest.selfTest?.references ?? []) files.push({ file: reference.file, sha256: reference.sha256 });
  const seen = new Set<string>();
  return files.filter(({ file }) => !seen.has(file) && Boolean(seen.add(file)));
}
