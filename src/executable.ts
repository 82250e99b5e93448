import fs from 'node:fs';
import path from 'node:path';

/**
 * Where an external program is: the first `name` in PATH's folders, then in `alsoIn` (system
 * folders such as /usr/sbin that a service's or a user's PATH may leave out).
 */
export function findExecutable(name: string, alsoIn: readonly string[] = []): string | undefined {
  const folders = [...(process.env.PATH ?? '').split(path.delimiter), ...alsoIn].filter(Boolean);
  return folders.map((folder) => path.join(folder, name)).find((file) => fs.existsSync(file));
}
