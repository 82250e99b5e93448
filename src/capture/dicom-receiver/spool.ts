/**
 * Durable, atomic hand-over of received instances to the capture folder. An instance is
 * written to `<spool>/<name>.<random>.part`, fsync'ed, linked into the capture folder under its
 * final name (never replacing a file already there), the spool name removed, and the capture
 * folder fsync'ed — only then does the sender get its success status. A crash at any point
 * leaves either nothing in the capture folder or the whole file; spool leftovers are removed
 * at the next start.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { CspineError, ErrorCode } from '../../errors.js';
import type { InstanceWriter } from './storage-scp.js';

export class Spool {
  constructor(
    readonly spoolDir: string,
    readonly captureDir: string,
  ) {}

  /**
   * Makes both folders, checks they share a filesystem (a rename across filesystems is not
   * atomic) and removes what a crash left in the spool. Returns how many leftovers went.
   */
  async prepare(): Promise<number> {
    try {
      await fs.promises.mkdir(this.captureDir, { recursive: true });
      await fs.promises.mkdir(this.spoolDir, { recursive: true });
      const [spool, capture] = await Promise.all([fs.promises.stat(this.spoolDir), fs.promises.stat(this.captureDir)]);
      if (spool.dev !== capture.dev) {
        throw new CspineError(
          ErrorCode.DICOM_RECEIVER_SPOOL_FAILED,
          `spool folder ${this.spoolDir} is on another filesystem than the capture folder ${this.captureDir}; instances could not be moved in atomically (dicom.receiver.spoolDir)`,
        );
      }
      await fs.promises.access(this.spoolDir, fs.constants.W_OK);
      let removed = 0;
      for (const name of await fs.promises.readdir(this.spoolDir)) {
        if (!name.endsWith('.part')) continue;
        await fs.promises.rm(path.join(this.spoolDir, name), { force: true });
        removed++;
      }
      return removed;
    } catch (error) {
      if (error instanceof CspineError) throw error;
      throw new CspineError(ErrorCode.DICOM_RECEIVER_SPOOL_FAILED, `spool folder ${this.spoolDir} cannot be used: ${(error as Error).message}`, { cause: error });
    }
  }

  /** Starts one instance: `header` (the Part 10 file meta) is written first. */
  async open(name: string, header: Buffer): Promise<InstanceWriter> {
    const temporary = path.join(this.spoolDir, `${name}.${crypto.randomBytes(6).toString('hex')}.part`);
    let handle: fs.promises.FileHandle;
    try {
      handle = await fs.promises.open(temporary, 'wx', 0o640);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      // The capture folder was removed and made again (capture-folder.ts does that): so is the spool.
      await fs.promises.mkdir(this.spoolDir, { recursive: true });
      handle = await fs.promises.open(temporary, 'wx', 0o640);
    }
    const file = new SpoolFile(handle, temporary, this.captureDir, name);
    try {
      await file.write(header);
    } catch (error) {
      await file.discard();
      throw error;
    }
    return file;
  }
}

class SpoolFile implements InstanceWriter {
  private open = true;

  constructor(
    private readonly handle: fs.promises.FileHandle,
    private readonly temporary: string,
    private readonly captureDir: string,
    private readonly name: string,
  ) {}

  async write(chunk: Buffer): Promise<void> {
    let offset = 0;
    while (offset < chunk.length) {
      const { bytesWritten } = await this.handle.write(chunk, offset, chunk.length - offset);
      offset += bytesWritten;
    }
  }

  async commit(): Promise<string> {
    try {
      await this.handle.sync();
      this.open = false;
      await this.handle.close();
      const final = await linkNoClobber(this.temporary, this.captureDir, this.name);
      await fs.promises.rm(this.temporary, { force: true });
      await syncDirectory(this.captureDir);
      return final;
    } catch (error) {
      await this.discard();
      throw error;
    }
  }

  async discard(): Promise<void> {
    if (this.open) {
      this.open = false;
      await this.handle.close().catch(() => undefined);
    }
    await fs.promises.rm(this.temporary, { force: true }).catch(() => undefined);
  }
}

/**
 * Gives the spool file its name in the capture folder. A hard link fails when the name is
 * taken (a second copy of an instance still waiting), where rename would silently replace it;
 * then a random suffix is tried. Filesystems without hard links fall back to rename.
 */
async function linkNoClobber(temporary: string, dir: string, name: string): Promise<string> {
  const ext = path.extname(name);
  const stem = path.basename(name, ext);
  for (let attempt = 0; ; attempt++) {
    const candidate = attempt === 0 ? name : `${stem}-${crypto.randomBytes(4).toString('hex')}${ext}`;
    const destination = path.join(dir, candidate);
    try {
      await fs.promises.link(temporary, destination);
      return candidate;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EEXIST' && attempt < 8) continue;
      if (code === 'EPERM' || code === 'ENOTSUP' || code === 'EOPNOTSUPP') {
        if (await exists(destination)) continue;
        await fs.promises.rename(temporary, destination);
        return candidate;
      }
      throw error;
    }
  }
}

async function exists(file: string): Promise<boolean> {
  return fs.promises.lstat(file).then(
    () => true,
    () => false,
  );
}

/** Makes a new directory entry durable (the rename/link itself). */
export async function syncDirectory(dir: string): Promise<void> {
  const handle = await fs.promises.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
