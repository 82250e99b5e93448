import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { ErrorCode, StoreError } from '../errors.js';
import { MIGRATIONS } from './migrations.js';

export type Db = Database.Database;

/**
 * Opens (creating if needed) the history database. WAL lets `history` read while the service
 * writes; synchronous=FULL makes a commit survive a power cut, which matters because the
 * image is moved out of capture/ right after its commit.
 */
export function openDatabase(file: string, options: { readonly?: boolean } = {}): Db {
  let db: Db;
  try {
    if (!options.readonly) fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    db = new Database(file, { readonly: options.readonly ?? false, fileMustExist: options.readonly ?? false });
  } catch (error) {
    throw new StoreError(ErrorCode.STORE_FAILED, `cannot open history database ${file}: ${(error as Error).message}`, { cause: error });
  }
  try {
    db.pragma('busy_timeout = 5000');
    db.pragma('foreign_keys = ON');
    if (!options.readonly) {
      // Only takes effect on a new, empty database: every commit rewrites whole pages into the
      // WAL, so small pages mean fewer bytes written to the SD card per result.
      db.pragma('page_size = 1024');
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
      migrate(db, file);
    } else {
      checkSchemaVersion(db, file);
    }
  } catch (error) {
    db.close();
    if (error instanceof StoreError) throw error;
    throw new StoreError(ErrorCode.STORE_FAILED, `history database ${file} is unusable: ${(error as Error).message}`, { cause: error });
  }
  return db;
}

function checkSchemaVersion(db: Db, file: string): number {
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version > MIGRATIONS.length) {
    throw new StoreError(
      ErrorCode.STORE_NEWER_SCHEMA,
      `history database ${file} has schema version ${version}, newer than this cspine-edge knows (${MIGRATIONS.length}); upgrade cspine-edge instead of downgrading`,
    );
  }
  return version;
}

function migrate(db: Db, file: string): void {
  const version = checkSchemaVersion(db, file);
  for (let next = version; next < MIGRATIONS.length; next++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[next]!);
      db.pragma(`user_version = ${next + 1}`);
    })();
  }
}
