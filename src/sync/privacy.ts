import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

const SECRET_BYTES = 32;

/**
 * The per-site key for pseudonyms: made on first start, kept in its own file (mode 0600),
 * never in the database, so a copied database alone cannot be linked back to file names or
 * study identifiers.
 */
export function loadSiteSecret(file: string): Buffer {
  try {
    const secret = fs.readFileSync(file);
    if (secret.length >= SECRET_BYTES) return secret;
    throw new Error(`${file} holds ${secret.length} bytes, fewer than ${SECRET_BYTES}`);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  const secret = crypto.randomBytes(SECRET_BYTES);
  const temporary = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(temporary, secret, { mode: 0o600 });
  fs.renameSync(temporary, file);
  return secret;
}

/** Stable pseudonyms: the same value gives the same reference on this site, and no way back. */
export class Pseudonymizer {
  constructor(private readonly secret: Buffer) {}

  ref(kind: string, value: string): string {
    return `${kind}-${crypto.createHmac('sha256', this.secret).update(`${kind}\0${value}`).digest('hex').slice(0, 32)}`;
  }
}
