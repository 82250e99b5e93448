/**
 * Signed model packages for the dashboard's fleet-update tests: a real (tiny) ONNX model, a
 * second variant of random bytes to make downloads worth resuming, a self-test reference image
 * in the package's reference/ folder, and manifest.sig by a fresh Ed25519 key.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { sha256Hex } from '../../src/hash.js';
import { generateSigningKeys, signManifest } from '../../src/model/signature.js';
import { brightnessModel, writeModelPackage } from '../../src/tools/fixtures/onnx-models.js';

export interface KeyFiles {
  privateFile: string;
  publicFile: string;
  keyId: string;
}

/** NAME.key and NAME.pub in `dir`, as `model keygen` writes them. */
export function writeSigningKeys(dir: string, name: string): KeyFiles {
  const keys = generateSigningKeys();
  const privateFile = path.join(dir, `${name}.key`);
  const publicFile = path.join(dir, `${name}.pub`);
  fs.writeFileSync(privateFile, keys.privatePem, { mode: 0o600 });
  fs.writeFileSync(publicFile, keys.publicPem);
  return { privateFile, publicFile, keyId: keys.keyId };
}

export interface TestPackage {
  dir: string;
  manifestSha256: string;
  /** The fp32 variant's bytes (random), the package's large file. */
  variant: Buffer;
}

/** `<root>/<id>/`: model.onnx (default), model-fp32.onnx of `variantBytes` random bytes, reference/phantom-1.png; signed by `key` unless null. */
export function writeTestPackage(root: string, key: KeyFiles | null, options: { id?: string; variantBytes?: number } = {}): TestPackage {
  const onnx = brightnessModel();
  const variant = crypto.randomBytes(options.variantBytes ?? 256 * 1024);
  const reference = crypto.randomBytes(2048);
  const dir = writeModelPackage(root, {
    id: options.id ?? 'bright',
    onnx,
    size: 16,
    overrides: {
      variants: {
        int8: { file: 'model.onnx', sha256: sha256Hex(Buffer.from(onnx)), precision: 'int8' },
        fp32: { file: 'model-fp32.onnx', sha256: sha256Hex(variant), precision: 'fp32' },
      },
      selfTest: {
        tolerance: 0.02,
        references: [
          {
            file: 'reference/phantom-1.png',
            sha256: sha256Hex(reference),
            expected: { level: 'GREEN', label: 'normal', probabilities: { normal: 0.9, fracture: 0.05, dislocation: 0.05 } },
          },
        ],
      },
    },
  });
  fs.writeFileSync(path.join(dir, 'model-fp32.onnx'), variant);
  fs.mkdirSync(path.join(dir, 'reference'));
  fs.writeFileSync(path.join(dir, 'reference', 'phantom-1.png'), reference);
  if (key) signManifest(dir, key.privateFile);
  return { dir, manifestSha256: sha256Hex(fs.readFileSync(path.join(dir, 'manifest.json'))), variant };
}
