import fs from 'node:fs';
import path from 'node:path';
import { isIgnoredName } from '../capture/capture-folder.js';

/**
 * The files `classify` answers for, in order. A folder stands for the files below it, sorted
 * by name at each level, leaving out what the capture folder leaves out (hidden files, partial
 * uploads, editor droppings); symbolic links to files count, links to folders are not
 * followed. Anything else stands for itself, so a missing file still gets its REJECTED line.
 */
export async function expandInputs(paths: readonly string[]): Promise<string[]> {
  const files: string[] = [];
  for (const given of paths) {
    if ((await statOrUndefined(given))?.isDirectory()) files.push(...(await filesBelow(given)));
    else files.push(given);
  }
  return files;
}

async function filesBelow(dir: string): Promise<string[]> {
  const entries = (await fs.promises.readdir(dir, { withFileTypes: true }))
    .filter((entry) => !isIgnoredName(entry.name))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const files: string[] = [];
  for (const entry of entries) {
    const below = path.join(dir, entry.name);
    if (entry.isDirectory()) files.push(...(await filesBelow(below)));
    else if (entry.isFile() || (entry.isSymbolicLink() && (await statOrUndefined(below))?.isFile())) files.push(below);
  }
  return files;
}

async function statOrUndefined(file: string): Promise<fs.Stats | undefined> {
  try {
    return await fs.promises.stat(file);
  } catch {
    return undefined;
  }
}

/**
 * A `--files-from` list: one path per line (a trailing CR is dropped), or, when it holds a NUL
 * byte, NUL-separated as `find -print0` writes it, for names with line breaks. Empty entries
 * are skipped.
 */
export function parseFileList(text: string): string[] {
  return text.split(text.includes('\0') ? '\0' : /\r?\n/).filter((entry) => entry !== '');
}

/** The same list format, written for {@link parseFileList}: NUL-separated, so any name survives. */
export function formatFileList(files: readonly string[]): string {
  return files.map((file) => `${file}\0`).join('');
}

/** `--files-from FILE`, or `-` for standard input. */
export async function readFileList(source: string): Promise<string[]> {
  return parseFileList(source === '-' ? await readStdin() : await fs.promises.readFile(source, 'utf8'));
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
