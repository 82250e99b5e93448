import fs from 'node:fs';

/** Makes a rename in `dir` survive a power cut (the folder's entry is on disk, not only the file). */
export function syncFolder(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
