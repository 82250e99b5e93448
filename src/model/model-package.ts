import { writeFileAtomicSync } from '../atomic-file.js';
import fs from 'node:fs';
import path from 'node:path';
import { ErrorCode, ModelError } from '../errors.js';
import { sha256File } from '../hash.js';
import { loadOodStatistics, type OodStatistics } from './ood.js';
import { chooseVariant, MANIFEST_FILE, manifestSchema, type ModelManifest } from './manifest.js';
import { verifyManifestSignature, type TrustedKey } from './signature.js';

export interface ModelPackage {
  dir: string;
  /** With `file` and `sha256` those of the chosen variant. */
  manifest: ModelManifest;
  onnxPath: string;
  /** The variant loaded ('default' for a manifest without variants). */
  variant: string;
  /** The OOD detector's statistics, checked against the manifest; absent for an unguarded package. */
  oodStatistics?: OodStatistics;
  /** The key that signed the manifest, when the package was loaded with trusted keys. */
  signedBy?: string;
}

export interface LoadOptions {
  /** Non-empty: the manifest must carry a valid signature by one of these (model.trustedKeys). */
  trustedKeys?: readonly TrustedKey[];
}

const HOW_TO_GET_ONE =
  'A model package is a folder models/<id>/ holding manifest.json and the ONNX file it names; ' +
  'docs/model-package.md says how to build or install one. Point model.dir / model.id ' +
  '(CSPINE_MODEL__DIR / CSPINE_MODEL__ID) at an installed package.';

/** Reads and validates `<dir>/manifest.json`. */
export async function readManifest(dir: string): Promise<ModelManifest> {
  const manifestPath = path.join(dir, MANIFEST_FILE);
  let text: string;
  try {
    text = await fs.promises.readFile(manifestPath, 'utf8');
  } catch (error) {
    throw new ModelError(ErrorCode.MODEL_NOT_FOUND, `no model package at ${dir}: cannot read ${manifestPath} (${(error as NodeJS.ErrnoException).code ?? 'error'}). ${HOW_TO_GET_ONE}`, {
      cause: error,
    });
  }
  return parseManifest(manifestPath, text);
}

/** Validates manifest text (as read, or as verified against its signature). */
export function parseManifest(manifestPath: string, text: string): ModelManifest {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ModelError(ErrorCode.MODEL_MANIFEST_INVALID, `${manifestPath} is not valid JSON: ${(error as Error).message}`);
  }
  const parsed = manifestSchema.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.') || '(top level)'}: ${issue.message}`);
    throw new ModelError(ErrorCode.MODEL_MANIFEST_INVALID, `${manifestPath} is invalid:\n  ${problems.join('\n  ')}`, { details: { problems } });
  }
  return parsed.data;
}

/**
 * Validates `manifest` and writes it as `<dir>/manifest.json`, through a temporary file and a
 * rename, so that a crash never leaves half a manifest. Returns it as parsed (defaults filled).
 */
export function writeManifest(dir: string, manifest: unknown): ModelManifest {
  const checked = manifestSchema.parse(manifest);
  const manifestPath = path.join(dir, MANIFEST_FILE);
  writeFileAtomicSync(manifestPath, `${JSON.stringify(checked, null, 2)}\n`);
  return checked;
}

/**
 * Verifies the signature first when `options.trustedKeys` is non-empty (nothing unverified is
 * parsed), reads and validates `<dir>/manifest.json`, picks the variant (`variant`, else the manifest's
 * default `file`), then checks that ONNX file's SHA-256 against the manifest.
 */
export async function loadModelPackage(dir: string, variant?: string, options: LoadOptions = {}): Promise<ModelPackage> {
  const manifestPath = path.join(dir, MANIFEST_FILE);
  const trusted = options.trustedKeys ?? [];
  const signature = trusted.length > 0 ? verifyManifestSignature(dir, trusted) : undefined;
  let manifest = signature ? parseManifest(manifestPath, signature.manifestBytes.toString('utf8')) : await readManifest(dir);
  const chosen = chooseVariant(manifest, variant, manifestPath);
  manifest = { ...manifest, file: chosen.file, sha256: chosen.sha256 };
  const rebuild = manifest.variants?.[chosen.name]?.rebuild;
  const onnxPath = path.join(dir, manifest.file);
  let actual: string;
  try {
    actual = await sha256File(onnxPath);
  } catch (error) {
    const hint = rebuild ? `; the ${chosen.name} variant is not shipped, make it with: ${rebuild}` : '';
    throw new ModelError(ErrorCode.MODEL_FILE_MISSING, `model file ${onnxPath} named by ${manifestPath} cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})${hint}`, {
      cause: error,
    });
  }
  if (actual !== manifest.sha256) {
    throw new ModelError(
      ErrorCode.MODEL_HASH_MISMATCH,
      `model file ${onnxPath} has SHA-256 ${actual} but its manifest says ${manifest.sha256}: the file is corrupt or was replaced; refusing to run it`,
    );
  }
  const oodStatistics = manifest.ood ? await loadOodStatistics(dir, manifest.ood) : undefined;
  return { dir, manifest, onnxPath, variant: chosen.name, ...(oodStatistics ? { oodStatistics } : {}), ...(signature ? { signedBy: signature.keyId } : {}) };
}
