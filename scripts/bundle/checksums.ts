import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { BundleError, listFiles } from './process.js';

export const SUMS_FILE = 'SHA256SUMS';

export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/**
 * Writes SHA256SUMS in `sha256sum -c` format (paths relative to `top`), for every file below
 * `top` but itself; resolves to how many it lists.
 */
export async function writeChecksums(top: string): Promise<number> {
  const files = (await listFiles(top)).filter((file) => file !== SUMS_FILE);
  const lines: string[] = [];
  for (const file of files) {
    // sha256sum escapes such names with a leading backslash; none of ours needs that, and writing it would be a second format to get right.
    if (/[\\\n\r]/.test(file)) throw new BundleError(`cannot list ${JSON.stringify(file)} in ${SUMS_FILE}: backslash or line break in its name`);
    lines.push(`${await sha256File(path.join(top, file))}  ${file}\n`);
  }
  await fs.writeFile(path.join(top, SUMS_FILE), lines.join(''));
  return files.length;
}
