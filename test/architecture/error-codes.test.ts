import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { ErrorCode } from '../../src/errors.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const documented = new Set(
  [...fs.readFileSync(path.join(ROOT, 'docs', 'errors.md'), 'utf8').matchAll(/^\| `([EW]_[A-Z0-9_]+)` \|/gm)].map((match) => match[1]!),
);

// Scripts and dashboards branch on these codes: each one has its row, and no row names a code the runtime cannot raise.
test('every error code has its row in docs/errors.md', (t) => {
  t.deepEqual(
    Object.values(ErrorCode).filter((code) => !documented.has(code)),
    [],
  );
});

test('every E_ code in docs/errors.md is one the runtime has', (t) => {
  const codes = new Set<string>(Object.values(ErrorCode));
  t.true(documented.size > 50);
  t.deepEqual(
    [...documented].filter((code) => code.startsWith('E_') && !codes.has(code)),
    [],
  );
});
