import fs from 'node:fs';
import path from 'node:path';
import { CspineError, ErrorCode } from '../errors.js';
import { sha256Hex } from '../hash.js';
import { MANIFEST_FILE } from '../model/manifest.js';
import { parseManifest, readManifest } from '../model/model-package.js';
import { checkPackageFiles, packageProblem, type CheckedFile } from '../model/package-check.js';
import { generateSigningKeys, loadTrustedKeys, signManifest, SIGNATURE_FILE, verifyManifestSignature } from '../model/signature.js';
import { commandConfig, CONFIG_OPTION, defineCommand, UsageError } from './options.js';

const out = (lines: string[]) => process.stdout.write(`${lines.join('\n')}\n`);

/** `verify` exits with this when it refuses the package, as the device would. */
export const EXIT_REFUSED = 2;

/** `cspine-edge model keygen --out DIR/NAME`: NAME.key (private, 0600) and NAME.pub; never overwrites. */
export function modelKeygenCommand(options: { out: string }): number {
  const privateFile = `${options.out}.key`;
  const publicFile = `${options.out}.pub`;
  for (const file of [privateFile, publicFile]) {
    if (fs.existsSync(file)) throw new UsageError(`${file} already exists; keygen never overwrites a key: choose another --out DIR/NAME`);
  }
  fs.mkdirSync(path.dirname(path.resolve(options.out)), { recursive: true, mode: 0o700 });
  const keys = generateSigningKeys();
  // 'wx': should another keygen win the race between the check above and here, fail rather than overwrite.
  fs.writeFileSync(privateFile, keys.privatePem, { mode: 0o600, flag: 'wx' });
  fs.writeFileSync(publicFile, keys.publicPem, { mode: 0o644, flag: 'wx' });
  out([
    `key id ${keys.keyId}`,
    `private key ${privateFile} (mode 0600): keep it offline, never on a device or the dashboard`,
    `public key  ${publicFile}: list it in model.trustedKeys on every device and in dashboard.updates.trustedKeys`,
  ]);
  return 0;
}

const STATE_MARK: Record<CheckedFile['state'], string> = { ok: 'ok', missing: 'missing', mismatch: 'MISMATCH' };

function fileLines(checked: readonly CheckedFile[]): string[] {
  return checked.map((file) => `  ${STATE_MARK[file.state].padEnd(9)}${file.file}${file.state === 'missing' && !file.required ? ' (a variant left out; may be rebuilt)' : ''}`);
}

/**
 * `cspine-edge model sign MODEL_DIR --key NAME.key`: refuses a package whose files do not match
 * its manifest (or that lacks one it needs), so a signature never vouches for a broken package.
 */
export async function modelSignCommand(options: { modelDir: string; key: string }): Promise<number> {
  const manifest = await readManifest(options.modelDir);
  const checked = await checkPackageFiles(options.modelDir, manifest);
  out(fileLines(checked));
  const problem = packageProblem(options.modelDir, checked);
  if (problem) throw problem;
  const signature = signManifest(options.modelDir, options.key);
  out([
    `signed ${path.join(options.modelDir, MANIFEST_FILE)} with key ${signature.keyId}`,
    `manifest sha256 ${signature.manifestSha256}`,
    `wrote ${path.join(options.modelDir, SIGNATURE_FILE)}`,
  ]);
  return 0;
}

/**
 * `cspine-edge model verify MODEL_DIR [--trusted KEY.pub ...]`: what a device checks before it
 * uses a package (the signature against the trusted keys, then every file against the verified
 * manifest). Exit 0 when it would accept it, {@link EXIT_REFUSED} with the code when not.
 */
export async function modelVerifyCommand(options: { modelDir: string; trusted: readonly string[] }): Promise<number> {
  const trusted = loadTrustedKeys(options.trusted);
  try {
    const { manifestBytes, keyId } = verifyManifestSignature(options.modelDir, trusted);
    const manifest = parseManifest(path.join(options.modelDir, MANIFEST_FILE), manifestBytes.toString('utf8'));
    const source = trusted.find((key) => key.keyId === keyId)!.source;
    out([`signature ok: key ${keyId} (${source}), manifest sha256 ${sha256Hex(manifestBytes)}`]);
    const checked = await checkPackageFiles(options.modelDir, manifest);
    out(fileLines(checked));
    const problem = packageProblem(options.modelDir, checked);
    if (problem) throw problem;
    out([`ok: ${manifest.id} is signed by a trusted key and its files match`]);
    return 0;
  } catch (error) {
    if (!(error instanceof CspineError) || error.code === ErrorCode.MODEL_KEY_INVALID) throw error;
    process.stderr.write(`refused: ${error.code}: ${error.message}\n`);
    return EXIT_REFUSED;
  }
}

const KEYGEN_SYNOPSIS = 'model keygen --out DIR/NAME';

export const modelKeygen = defineCommand({
  synopsis: KEYGEN_SYNOPSIS,
  about: `A new Ed25519 signing key: DIR/NAME.key (private, PKCS#8 PEM, mode 0600) and DIR/NAME.pub;
prints its key id. Refuses to overwrite either file (docs/model-updates.md#keys).`,
  options: { out: { type: 'string' } },
  optionHelp: '  --out DIR/NAME            where the two files go, without extension',
  run: ({ values }) => {
    if (values.out === undefined) throw new UsageError(`usage: ${KEYGEN_SYNOPSIS}`);
    if (/\.(key|pub)$/.test(values.out)) throw new UsageError(`--out is the name without extension (keygen adds .key and .pub), not "${values.out}"`);
    return modelKeygenCommand({ out: values.out });
  },
});

const SIGN_SYNOPSIS = 'model sign MODEL_DIR --key NAME.key';

export const modelSign = defineCommand({
  synopsis: SIGN_SYNOPSIS,
  about: `Checks every file the manifest names against its SHA-256, then signs manifest.json and
writes manifest.sig; prints the key id and the manifest's SHA-256.`,
  operands: true,
  options: { key: { type: 'string' } },
  optionHelp: '  --key NAME.key            the private key (cspine-edge model keygen)',
  run: ({ values, positionals }) => {
    const [modelDir] = positionals;
    if (modelDir === undefined || positionals.length > 1 || values.key === undefined) throw new UsageError(`usage: ${SIGN_SYNOPSIS}`);
    return modelSignCommand({ modelDir, key: values.key });
  },
});

const VERIFY_SYNOPSIS = 'model verify MODEL_DIR [--trusted KEY.pub ...]';

export const modelVerify = defineCommand({
  synopsis: VERIFY_SYNOPSIS,
  about: `Verifies manifest.sig against the trusted keys and every file against the manifest, as a
device does before using a package; lists each file as ok, missing or MISMATCH.
Exit 0: accepted; 2: refused (the reason and its code on stderr).`,
  operands: true,
  options: { trusted: { type: 'string', multiple: true }, ...CONFIG_OPTION },
  optionHelp: '  --trusted KEY.pub         a trusted public key; repeatable (default: model.trustedKeys)',
  run: ({ values, positionals }) => {
    const [modelDir] = positionals;
    if (modelDir === undefined || positionals.length > 1) throw new UsageError(`usage: ${VERIFY_SYNOPSIS}`);
    const trusted = values.trusted ?? commandConfig(values).model.trustedKeys;
    if (trusted.length === 0) throw new UsageError('no key to verify against: give --trusted KEY.pub or set model.trustedKeys');
    return modelVerifyCommand({ modelDir, trusted });
  },
});
