import fs from 'node:fs';
import path from 'node:path';
import type { Config } from '../config/schema.js';
import { CspineError, ErrorCode, ModelError } from '../errors.js';
import { diskFreeBytes } from '../jobs/health.js';
import type { Logger } from '../logger.js';
import { chooseVariant, MANIFEST_FILE, packageFiles, type ModelManifest, type PackageFile } from '../model/manifest.js';
import { loadModelPackage, parseManifest } from '../model/model-package.js';
import { loadTrustedKeys, SIGNATURE_FILE, verifyManifestSignature } from '../model/signature.js';
import type { ModelCommand } from './command.js';
import { downloadFile, type DownloadRequest } from './download.js';
import type { PackageStore } from './package-store.js';

/** manifest.json and manifest.sig are small; a server offering more is not a dashboard. */
const SMALL_FILE_BYTES = 4 * 1024 * 1024;

export interface PackageFetch {
  /** The install command's `package`: which package, and the sizes it announces. */
  wanted: NonNullable<ModelCommand['package']>;
  /** updates.url: packages come from there only. */
  baseUrl: string;
  token: string;
  config: Config;
  store: PackageStore;
  signal: AbortSignal;
  logger: Logger;
  /** Bytes of the package's files on disk, of `total` (known sizes only). */
  onProgress: (done: number, total: number) => void;
}

/**
 * Fetches a package into `incoming/<sha>/` and moves it to `packages/<sha>/` once all of it is
 * verified: manifest.json and manifest.sig first, the signature checked against
 * model.trustedKeys before anything else is read; the files named by the verified manifest
 * (never by the command), sized against updates.maxPackageBytes and the free disk before any is
 * fetched; finally the whole package loaded as the model slot will load it. Returns its folder
 * and model id. A stop (`signal`) leaves the download to resume; any failure removes it.
 */
export async function fetchPackage(fetch: PackageFetch): Promise<{ dir: string; modelId: string }> {
  const { wanted, store, config } = fetch;
  const sha = wanted.manifestSha256;
  const kept = await verifiedPackage(store.installed(sha), config);
  if (kept) return { dir: store.installed(sha), modelId: kept.id };
  store.dropIncoming(sha);
  const dir = store.incoming(sha);
  try {
    const manifest = await fetchVerifiedManifest(fetch, dir);
    const files = filesToFetch(manifest, wanted.files, config.model.variant);
    const sizes = announcedSizes(manifest, wanted.files);
    checkRoom(fetch, dir, files, sizes);
    await fetchFiles(fetch, dir, files, sizes);
    await loadModelPackage(dir, config.model.variant, { trustedKeys: loadTrustedKeys(config.model.trustedKeys) });
    return { dir: store.promote(sha), modelId: manifest.id };
  } catch (error) {
    if (!fetch.signal.aborted) store.remove(dir);
    throw error;
  }
}

/** A package received before (a return to an earlier one) that still verifies; removed when it does not. */
async function verifiedPackage(dir: string, config: Config): Promise<ModelManifest | undefined> {
  if (!fs.existsSync(dir)) return undefined;
  try {
    return (await loadModelPackage(dir, config.model.variant, { trustedKeys: loadTrustedKeys(config.model.trustedKeys) })).manifest;
  } catch {
    fs.rmSync(dir, { recursive: true, force: true });
    return undefined;
  }
}

async function fetchVerifiedManifest(fetch: PackageFetch, dir: string): Promise<ModelManifest> {
  await download(fetch, dir, MANIFEST_FILE, { sha256: fetch.wanted.manifestSha256, maxBytes: SMALL_FILE_BYTES });
  try {
    await download(fetch, dir, SIGNATURE_FILE, { maxBytes: SMALL_FILE_BYTES });
  } catch (error) {
    if (error instanceof CspineError && error.details?.status === 404) {
      throw new ModelError(ErrorCode.MODEL_UNSIGNED, `package ${fetch.wanted.manifestSha256} has no ${SIGNATURE_FILE} on the dashboard; this device runs only packages signed by a key in model.trustedKeys`);
    }
    throw error;
  }
  const { manifestBytes } = verifyManifestSignature(dir, loadTrustedKeys(fetch.config.model.trustedKeys));
  return parseManifest(path.join(dir, MANIFEST_FILE), manifestBytes.toString('utf8'));
}

/**
 * The manifest's files this device needs (the ONNX file of the variant it runs, the OOD
 * statistics, the self-test references), and the other variants only where the command offers
 * them.
 */
function filesToFetch(manifest: ModelManifest, offered: ReadonlyArray<{ name: string }>, variant: string | undefined): PackageFile[] {
  const running = chooseVariant(manifest, variant, `package ${manifest.id}`).file;
  const variantFiles = new Set([manifest.file, ...Object.values(manifest.variants ?? {}).map((entry) => entry.file)]);
  const offeredNames = new Set(offered.map(({ name }) => name));
  return packageFiles(manifest).filter(({ file }) => file === running || !variantFiles.has(file) || offeredNames.has(file));
}

/** Sizes from the command, else from the manifest's variants; a file with neither is sized by its server. */
function announcedSizes(manifest: ModelManifest, offered: ReadonlyArray<{ name: string; bytes: number }>): Map<string, number> {
  const sizes = new Map<string, number>();
  for (const entry of Object.values(manifest.variants ?? {})) if (entry.bytes !== undefined) sizes.set(entry.file, entry.bytes);
  for (const { name, bytes } of offered) sizes.set(name, bytes);
  return sizes;
}

function checkRoom(fetch: PackageFetch, dir: string, files: readonly PackageFile[], sizes: ReadonlyMap<string, number>): void {
  const { maxPackageBytes, minFreeBytes } = fetch.config.updates;
  const total = sumOf(files, (file) => sizes.get(file) ?? 0);
  if (total > maxPackageBytes) {
    throw new CspineError(ErrorCode.UPDATE_TOO_LARGE, `package ${fetch.wanted.manifestSha256} needs ${total} bytes, more than updates.maxPackageBytes (${maxPackageBytes}); nothing was fetched`);
  }
  const missing = total - sumOf(files, (file) => bytesOnDisk(path.join(dir, file)));
  const free = diskFreeBytes(dir);
  if (free !== null && free - missing < minFreeBytes) {
    throw new CspineError(ErrorCode.UPDATE_NO_SPACE, `package ${fetch.wanted.manifestSha256} needs ${missing} more bytes; ${free} are free and updates.minFreeBytes (${minFreeBytes}) must stay free; nothing more was fetched`);
  }
}

async function fetchFiles(fetch: PackageFetch, dir: string, files: readonly PackageFile[], sizes: ReadonlyMap<string, number>): Promise<void> {
  const total = sumOf(files, (file) => sizes.get(file) ?? 0);
  const done = new Map(files.map(({ file }) => [file, bytesOnDisk(path.join(dir, file))]));
  const progress = () => fetch.onProgress(sumOf(files, (file) => done.get(file) ?? 0), total);
  progress();
  for (const { file, sha256 } of files) {
    const maxBytes = sizes.get(file) ?? fetch.config.updates.maxPackageBytes - total;
    const onBytes = (bytes: number) => {
      done.set(file, bytes);
      progress();
    };
    await download(fetch, dir, file, { sha256, maxBytes, onBytes });
  }
}

function download(fetch: PackageFetch, dir: string, name: string, options: Pick<DownloadRequest, 'sha256' | 'maxBytes' | 'onBytes'>): Promise<void> {
  const base = fetch.baseUrl.endsWith('/') ? fetch.baseUrl : `${fetch.baseUrl}/`;
  return downloadFile({
    url: new URL(`updates/${fetch.wanted.manifestSha256}/${name.split('/').map(encodeURIComponent).join('/')}`, base),
    token: fetch.token,
    file: fetch.store.fileIn(dir, name),
    settings: fetch.config.updates,
    signal: fetch.signal,
    logger: fetch.logger,
    ...options,
  });
}

/** The file, or what of it has arrived (`.part`). */
function bytesOnDisk(file: string): number {
  return fs.statSync(file, { throwIfNoEntry: false })?.size ?? fs.statSync(`${file}.part`, { throwIfNoEntry: false })?.size ?? 0;
}

function sumOf(files: readonly PackageFile[], size: (file: string) => number): number {
  return files.reduce((sum, { file }) => sum + size(file), 0);
}
