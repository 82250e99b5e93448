import fs from 'node:fs';
import path from 'node:path';

/**
 * Writes `file` through a temporary file in the same folder and a rename, making the folder if
 * needed: a reader (or a restart after a power cut) sees the old content or the new, never half.
 */
export function writeFileAtomicSync(file: string, data: string | Uint8Array, options: { mode?: number } = {}): void {
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  const temporary = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(temporary, data, options.mode === undefined ? {} : { mode: options.mode });
  fs.renameSync(temporary, file);
}
