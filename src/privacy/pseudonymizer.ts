import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { writeFileAtomicSync } from '../atomic-file.js';
import { ConfigError, CspineError, ErrorCode } from '../errors.js';
import type { Capability, CapabilityHealth } from '../runtime/capability.js';

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
    const problem = `${file} holds ${secret.length} bytes, fewer than ${SECRET_BYTES}: a weak key would make pseudonyms guessable; restore the site's secret or delete the file to have a new one made (earlier pseudonyms then no longer match)`;
    throw new ConfigError(ErrorCode.SITE_SECRET_INVALID, `site secret ${problem}`, [`privacy.siteSecretFile: ${problem}`]);
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new ConfigError(ErrorCode.SITE_SECRET_INVALID, `cannot read the site secret ${file}: ${(error as Error).message}`, [`privacy.siteSecretFile: unreadable`], { cause: error });
    }
  }
  const secret = crypto.randomBytes(SECRET_BYTES);
  writeFileAtomicSync(file, secret, { mode: 0o600 });
  return secret;
}

/** Whatever makes pseudonyms: `ref('study', uid)` → `study-<32 hex>`. */
export interface Pseudonyms {
  ref(kind: string, value: string): string;
}

/** Stable pseudonyms: the same value gives the same reference on this site, and no way back. */
export class Pseudonymizer implements Pseudonyms {
  constructor(private readonly secret: Buffer) {}

  ref(kind: string, value: string): string {
    return `${kind}-${crypto.createHmac('sha256', this.secret).update(`${kind}\0${value}`).digest('hex').slice(0, 32)}`;
  }
}

/**
 * The device's one pseudonymizer, as a capability keyed on `privacy.siteSecretFile` at start
 * (a missing file is made; a short or unreadable one stops start-up with E_SITE_SECRET_INVALID).
 * Shared by the DICOM receiver's file names, history's DICOM references and MQTT payloads, so
 * all three name a study alike, whether or not sync is on.
 */
export class SitePseudonyms implements Capability, Pseudonyms {
  readonly name = 'site secret';
  private keyed: Pseudonymizer | undefined;

  constructor(private readonly secretFile: string) {}

  async start(): Promise<void> {
    this.keyed = new Pseudonymizer(loadSiteSecret(this.secretFile));
  }

  async stop(): Promise<void> {
    this.keyed = undefined;
  }

  health(): CapabilityHealth {
    return this.keyed ? { status: 'ok', detail: `${path.resolve(this.secretFile)} loaded` } : { status: 'off', detail: 'not loaded' };
  }

  ref(kind: string, value: string): string {
    if (!this.keyed) throw new CspineError(ErrorCode.INTERNAL, 'a pseudonym was asked for before the site secret was loaded');
    return this.keyed.ref(kind, value);
  }
}
