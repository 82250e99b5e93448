import fs from 'node:fs';
import path from 'node:path';
import type pg from 'pg';
import type { Config } from '../../config/schema.js';
import { CspineError, ErrorCode } from '../../errors.js';
import { sha256File, sha256Hex } from '../../hash.js';
import { MANIFEST_FILE, type ModelManifest } from '../../model/manifest.js';
import { parseManifest } from '../../model/model-package.js';
import { checkPackageFiles, packageProblem, type CheckedFile } from '../../model/package-check.js';
import { loadTrustedKeys, SIGNATURE_FILE, verifyManifestSignature } from '../../model/signature.js';
import { CHANNEL } from '../database/channels.js';

export type UpdatesSettings = Config['dashboard']['updates'];

export interface PackageFileEntry {
  /** Relative to the package folder, "/"-separated. */
  name: string;
  sha256: string;
  bytes: number;
}

export interface PackageSummary {
  manifestSha256: string;
  modelId: string;
  keyId: string;
  /** The manifest's files the package carries; manifest.json and manifest.sig come with every package. */
  files: PackageFileEntry[];
  totalBytes: number;
  addedAt: string;
  addedBy: string;
}

/** A file the download route may serve, and the hash its ETag carries. */
export interface ServedFile {
  path: string;
  sha256: string;
}

const SHA256 = /^[0-9a-f]{64}$/;
const SHORTEST_PREFIX = 4;

/** Plain segments only: what a device may ask for can never climb out of the package folder. */
function isPackagePath(name: string): boolean {
  return /^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/.test(name) && name.split('/').every((segment) => segment !== '.' && segment !== '..');
}

function invalid(message: string, details?: Record<string, unknown>): CspineError {
  return new CspineError(ErrorCode.DASHBOARD_PACKAGE_INVALID, message, details ? { details } : undefined);
}

/** The model side's refusal (unsigned, untrusted key, bad signature, bad manifest, bad file) as the dashboard's. */
function refused(error: unknown): never {
  if (error instanceof CspineError && error.code !== ErrorCode.MODEL_KEY_INVALID) throw invalid(`${error.code}: ${error.message}`, { modelCode: error.code });
  throw error;
}

interface PackageRow {
  manifest_sha256: string;
  model_id: string;
  key_id: string;
  files: PackageFileEntry[];
  total_bytes: string;
  added_at: Date;
  added_by: string;
}

const PACKAGE_COLUMNS = 'manifest_sha256, model_id, key_id, files, total_bytes, added_at, added_by';

function toSummary(row: PackageRow): PackageSummary {
  return {
    manifestSha256: row.manifest_sha256,
    modelId: row.model_id,
    keyId: row.key_id,
    files: row.files,
    totalBytes: Number(row.total_bytes),
    addedAt: row.added_at.toISOString(),
    addedBy: row.added_by,
  };
}

/**
 * The dashboard's model packages: each verified against `dashboard.updates.trustedKeys` when
 * added, stored in `<updates.dir>/<manifest sha256>/` with a row in model_packages, and served
 * from there to the devices of a rollout.
 */
export class PackageStore {
  constructor(
    private readonly database: { readonly pool: pg.Pool },
    private readonly settings: UpdatesSettings,
  ) {}

  /**
   * Verifies `modelDir` as a device would (signature first, then the verified manifest, then
   * every file it names) and stores it. The copy is made in a temporary folder beside the store
   * and renamed into place, so a crash never leaves half a package where the route serves from.
   * Adding a package that is already stored changes nothing (`added: false`).
   */
  async add(modelDir: string, addedBy: string): Promise<{ summary: PackageSummary; added: boolean }> {
    if (this.settings.trustedKeys.length === 0) {
      throw invalid('dashboard.updates.trustedKeys lists no key, so no package can be trusted; add the public key that signs your packages (cspine-edge model keygen)');
    }
    const trusted = loadTrustedKeys(this.settings.trustedKeys);
    let manifestBytes: Buffer;
    let keyId: string;
    let manifest: ModelManifest;
    let checked: CheckedFile[];
    try {
      ({ manifestBytes, keyId } = verifyManifestSignature(modelDir, trusted));
      manifest = parseManifest(path.join(modelDir, MANIFEST_FILE), manifestBytes.toString('utf8'));
      checked = await checkPackageFiles(modelDir, manifest);
      const problem = packageProblem(modelDir, checked);
      if (problem) throw problem;
    } catch (error) {
      refused(error);
    }
    const manifestSha256 = sha256Hex(manifestBytes);
    const existing = await this.get(manifestSha256);
    if (existing) return { summary: existing, added: false };

    const files = await this.store(modelDir, manifestSha256, manifestBytes, checked);
    const totalBytes = files.reduce((sum, file) => sum + file.bytes, 0);
    await this.database.pool.query(
      `INSERT INTO model_packages (manifest_sha256, model_id, manifest, key_id, files, total_bytes, added_by)
       VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (manifest_sha256) DO NOTHING`,
      [manifestSha256, manifest.id, manifestBytes.toString('utf8'), keyId, JSON.stringify(files), totalBytes, addedBy],
    );
    await this.database.pool.query('SELECT pg_notify($1, $2)', [CHANNEL.rollouts, '']);
    return { summary: (await this.get(manifestSha256))!, added: true };
  }

  /** Newest first. */
  async list(): Promise<PackageSummary[]> {
    const { rows } = await this.database.pool.query<PackageRow>(`SELECT ${PACKAGE_COLUMNS} FROM model_packages ORDER BY added_at DESC, manifest_sha256`);
    return rows.map(toSummary);
  }

  async get(manifestSha256: string): Promise<PackageSummary | undefined> {
    if (!SHA256.test(manifestSha256)) return undefined;
    const { rows } = await this.database.pool.query<PackageRow>(`SELECT ${PACKAGE_COLUMNS} FROM model_packages WHERE manifest_sha256 = $1`, [manifestSha256]);
    return rows[0] && toSummary(rows[0]);
  }

  /** The package a full manifest SHA-256, or an unambiguous start of one, names. */
  async resolve(shaOrPrefix: string): Promise<PackageSummary> {
    const prefix = shaOrPrefix.toLowerCase();
    if (!/^[0-9a-f]+$/.test(prefix) || prefix.length < SHORTEST_PREFIX || prefix.length > 64) {
      throw new CspineError(ErrorCode.DASHBOARD_ROLLOUT_INVALID, `"${shaOrPrefix}" is not a package: give its manifest SHA-256 or at least its first ${SHORTEST_PREFIX} hex digits (dashboard package list)`);
    }
    const { rows } = await this.database.pool.query<PackageRow>(`SELECT ${PACKAGE_COLUMNS} FROM model_packages WHERE manifest_sha256 LIKE $1 || '%' ORDER BY manifest_sha256 LIMIT 2`, [prefix]);
    if (rows.length === 0) throw new CspineError(ErrorCode.DASHBOARD_ROLLOUT_INVALID, `no package ${prefix}… has been added (dashboard package list)`);
    if (rows.length > 1) throw new CspineError(ErrorCode.DASHBOARD_ROLLOUT_INVALID, `${prefix} is the start of more than one package; give more digits`);
    return toSummary(rows[0]!);
  }

  /** Where a file of a stored package lies, when it is one the package serves (its files, manifest.json, manifest.sig). */
  async servedFile(manifestSha256: string, name: string): Promise<ServedFile | undefined> {
    const found = await this.get(manifestSha256);
    if (!found || !isPackagePath(name)) return undefined;
    const folder = this.folder(manifestSha256);
    const file = path.join(folder, ...name.split('/'));
    if (name === MANIFEST_FILE) return { path: file, sha256: manifestSha256 };
    if (name === SIGNATURE_FILE) return { path: file, sha256: await sha256File(file) };
    const entry = found.files.find((candidate) => candidate.name === name);
    return entry && { path: file, sha256: entry.sha256 };
  }

  private folder(manifestSha256: string): string {
    return path.join(path.resolve(this.settings.dir), manifestSha256);
  }

  /**
   * Copies the verified manifest bytes, the signature and every file `checked` found whole into
   * a temporary folder, checks each copy's hash (the source may change under us), fsyncs, and
   * renames the folder into place.
   */
  private async store(modelDir: string, manifestSha256: string, manifestBytes: Buffer, checked: readonly CheckedFile[]): Promise<PackageFileEntry[]> {
    const root = path.resolve(this.settings.dir);
    fs.mkdirSync(root, { recursive: true });
    const staging = fs.mkdtempSync(path.join(root, '.incoming-'));
    try {
      await writeDurably(path.join(staging, MANIFEST_FILE), manifestBytes);
      await writeDurably(path.join(staging, SIGNATURE_FILE), fs.readFileSync(path.join(modelDir, SIGNATURE_FILE)));
      const files: PackageFileEntry[] = [];
      for (const entry of checked) {
        if (entry.state !== 'ok') continue; // a variant left out (packageProblem let it pass)
        if (!isPackagePath(entry.file)) throw invalid(`${modelDir}: the manifest names "${entry.file}", which is not a plain path inside the package`);
        const target = path.join(staging, ...entry.file.split('/'));
        fs.mkdirSync(path.dirname(target), { recursive: true });
        await fs.promises.copyFile(path.join(modelDir, entry.file), target, fs.constants.COPYFILE_EXCL);
        await syncFile(target);
        const copied = await sha256File(target);
        if (copied !== entry.sha256) throw invalid(`${path.join(modelDir, entry.file)} changed while it was being added (SHA-256 ${copied}, the manifest says ${entry.sha256})`);
        files.push({ name: entry.file, sha256: entry.sha256, bytes: (await fs.promises.stat(target)).size });
      }
      const final = this.folder(manifestSha256);
      // A folder without its row: left by a crash between the rename and the insert. Replaced.
      fs.rmSync(final, { recursive: true, force: true });
      fs.renameSync(staging, final);
      await syncFile(root);
      return files;
    } catch (error) {
      fs.rmSync(staging, { recursive: true, force: true });
      throw error;
    }
  }
}

async function writeDurably(file: string, bytes: Buffer): Promise<void> {
  await fs.promises.writeFile(file, bytes, { flag: 'wx' });
  await syncFile(file);
}

/** fsync a file or a folder (its entries), so a rename that follows survives a power cut with the data. */
async function syncFile(file: string): Promise<void> {
  const handle = await fs.promises.open(file, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
