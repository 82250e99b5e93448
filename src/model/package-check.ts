import fs from 'node:fs';
import path from 'node:path';
import { ErrorCode, ModelError } from '../errors.js';
import { sha256File } from '../hash.js';
import { packageFiles, type ModelManifest, type PackageFile } from './manifest.js';

export type FileState = 'ok' | 'missing' | 'mismatch';

export interface CheckedFile extends PackageFile {
  state: FileState;
  /** False only for a variant other than the default: it may be left out and rebuilt (`rebuild`). */
  required: boolean;
  /** Of the file on disk, when there is one. */
  actualSha256?: string;
}

/** Every file the manifest names, hashed where it exists (in the order of {@link packageFiles}). */
export async function checkPackageFiles(dir: string, manifest: ModelManifest): Promise<CheckedFile[]> {
  const leaveOutable = new Set(Object.values(manifest.variants ?? {}).map((variant) => variant.file));
  leaveOutable.delete(manifest.file);
  const checked: CheckedFile[] = [];
  for (const entry of packageFiles(manifest)) {
    const file = path.join(dir, entry.file);
    const required = !leaveOutable.has(entry.file);
    if (!fs.existsSync(file)) {
      checked.push({ ...entry, state: 'missing', required });
      continue;
    }
    const actualSha256 = await sha256File(file);
    checked.push({ ...entry, state: actualSha256 === entry.sha256 ? 'ok' : 'mismatch', required, actualSha256 });
  }
  return checked;
}

/**
 * Why the package cannot be used (or signed) as it is: a file whose hash differs from the
 * manifest (E_MODEL_HASH_MISMATCH), else a missing file it cannot do without
 * (E_MODEL_FILE_MISSING); undefined when it is whole.
 */
export function packageProblem(dir: string, checked: readonly CheckedFile[]): ModelError | undefined {
  const mismatched = checked.filter((file) => file.state === 'mismatch');
  if (mismatched.length > 0) {
    const list = mismatched.map((file) => `${file.file} has SHA-256 ${file.actualSha256} but the manifest says ${file.sha256}`);
    return new ModelError(ErrorCode.MODEL_HASH_MISMATCH, `${dir}: ${list.join('; ')}: changed or corrupt after the manifest was written`, { details: { files: mismatched.map((file) => file.file) } });
  }
  const missing = checked.filter((file) => file.state === 'missing' && file.required);
  if (missing.length > 0) {
    return new ModelError(ErrorCode.MODEL_FILE_MISSING, `${dir} lacks ${missing.map((file) => file.file).join(', ')}, named by its manifest`, { details: { files: missing.map((file) => file.file) } });
  }
  return undefined;
}
