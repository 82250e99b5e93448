import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { writeFileAtomicSync } from '../atomic-file.js';
import { CspineError, ErrorCode, ModelError } from '../errors.js';
import { MANIFEST_FILE } from './manifest.js';

/** Beside manifest.json: an Ed25519 signature over its exact bytes (which hold every file's SHA-256). */
export const SIGNATURE_FILE = 'manifest.sig';
const SIGNATURE_SCHEMA = 'cspine.model-signature.v1';

export interface ManifestSignature {
  schema: typeof SIGNATURE_SCHEMA;
  algorithm: 'ed25519';
  /** {@link keyIdOf} the signing key's public half. */
  keyId: string;
  /** Of manifest.json's bytes, for people and logs; the signature is what is checked. */
  manifestSha256: string;
  signedAt: string;
  /** Base64. */
  signature: string;
}

export interface TrustedKey {
  keyId: string;
  key: crypto.KeyObject;
  /** Where it was read from, for messages. */
  source: string;
}

/** The first 16 hex digits of the SHA-256 of the public key's DER (SPKI): short, stable, printable. */
export function keyIdOf(publicKey: crypto.KeyObject): string {
  return crypto.createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest('hex').slice(0, 16);
}

/** A new Ed25519 key pair as PEM text: the private half PKCS#8, the public half SPKI. */
export function generateSigningKeys(): { privatePem: string; publicPem: string; keyId: string } {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('ed25519');
  return {
    privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    keyId: keyIdOf(publicKey),
  };
}

function readKey(file: string, kind: 'public' | 'private'): crypto.KeyObject {
  let pem: string;
  try {
    pem = fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new CspineError(ErrorCode.MODEL_KEY_INVALID, `cannot read the ${kind} key ${file} (${(error as NodeJS.ErrnoException).code ?? 'error'})`, { cause: error });
  }
  let key: crypto.KeyObject;
  try {
    key = kind === 'public' ? crypto.createPublicKey(pem) : crypto.createPrivateKey(pem);
  } catch (error) {
    throw new CspineError(ErrorCode.MODEL_KEY_INVALID, `${file} is not a ${kind} key in PEM: ${(error as Error).message}`, { cause: error });
  }
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new CspineError(ErrorCode.MODEL_KEY_INVALID, `${file} is a ${key.asymmetricKeyType ?? 'unknown'} key; model packages are signed with Ed25519 (cspine-edge model keygen)`);
  }
  return key;
}

/** The public keys of `model.trustedKeys` (or the dashboard's list), each checked to be Ed25519. */
export function loadTrustedKeys(files: readonly string[]): TrustedKey[] {
  return files.map((file) => {
    const key = readKey(file, 'public');
    return { keyId: keyIdOf(key), key, source: file };
  });
}

/** Signs `<dir>/manifest.json` as it is on disk and writes `<dir>/manifest.sig`. */
export function signManifest(dir: string, privateKeyFile: string, at = new Date()): ManifestSignature {
  const privateKey = readKey(privateKeyFile, 'private');
  const manifestBytes = fs.readFileSync(path.join(dir, MANIFEST_FILE));
  const signature: ManifestSignature = {
    schema: SIGNATURE_SCHEMA,
    algorithm: 'ed25519',
    keyId: keyIdOf(crypto.createPublicKey(privateKey)),
    manifestSha256: crypto.createHash('sha256').update(manifestBytes).digest('hex'),
    signedAt: at.toISOString(),
    signature: crypto.sign(null, manifestBytes, privateKey).toString('base64'),
  };
  writeFileAtomicSync(path.join(dir, SIGNATURE_FILE), `${JSON.stringify(signature, null, 2)}\n`);
  return signature;
}

function readSignature(dir: string): ManifestSignature {
  const file = path.join(dir, SIGNATURE_FILE);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new ModelError(ErrorCode.MODEL_UNSIGNED, `${dir} has no ${SIGNATURE_FILE} but this device only runs signed packages (model.trustedKeys); sign it with: cspine-edge model sign ${dir} --key KEY`, {
      cause: error,
    });
  }
  let parsed: Partial<ManifestSignature>;
  try {
    parsed = JSON.parse(text) as Partial<ManifestSignature>;
  } catch (error) {
    throw new ModelError(ErrorCode.MODEL_SIGNATURE_INVALID, `${file} is not valid JSON: ${(error as Error).message}`);
  }
  if (parsed.schema !== SIGNATURE_SCHEMA || parsed.algorithm !== 'ed25519' || typeof parsed.keyId !== 'string' || typeof parsed.signature !== 'string') {
    throw new ModelError(ErrorCode.MODEL_SIGNATURE_INVALID, `${file} is not a ${SIGNATURE_SCHEMA} Ed25519 signature`);
  }
  return parsed as ManifestSignature;
}

/**
 * Checks `<dir>/manifest.sig` against the manifest's bytes and the trusted keys, and returns
 * those bytes: parse these, not the file again, so what is used is what was verified.
 */
export function verifyManifestSignature(dir: string, trusted: readonly TrustedKey[]): { manifestBytes: Buffer; keyId: string } {
  const signature = readSignature(dir);
  const key = trusted.find((candidate) => candidate.keyId === signature.keyId);
  if (!key) {
    const known = trusted.map((candidate) => candidate.keyId).join(', ') || 'none';
    throw new ModelError(ErrorCode.MODEL_KEY_UNTRUSTED, `${dir} is signed by key ${signature.keyId}, which is not among the trusted keys (${known}); refusing it`);
  }
  const manifestPath = path.join(dir, MANIFEST_FILE);
  let manifestBytes: Buffer;
  try {
    manifestBytes = fs.readFileSync(manifestPath);
  } catch (error) {
    throw new ModelError(ErrorCode.MODEL_NOT_FOUND, `cannot read ${manifestPath} (${(error as NodeJS.ErrnoException).code ?? 'error'})`, { cause: error });
  }
  if (!crypto.verify(null, manifestBytes, key.key, Buffer.from(signature.signature, 'base64'))) {
    throw new ModelError(
      ErrorCode.MODEL_SIGNATURE_INVALID,
      `${manifestPath} does not match its signature by key ${signature.keyId}: the manifest (or a file hash in it) changed after signing; refusing it`,
    );
  }
  return { manifestBytes, keyId: signature.keyId };
}
