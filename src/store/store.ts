import path from 'node:path';
import { CspineError, ErrorCode } from '../errors.js';
import type { Capability, CapabilityHealth } from '../runtime/capability.js';
import { openDatabase, type Db } from './database.js';
import { History } from './history.js';
import { Outbox } from './outbox.js';

interface Opened {
  db: Db;
  history: History;
  outbox: Outbox | undefined;
}

/**
 * The history database as a capability: opened (and migrated) at start, closed at stop. The
 * outbox exists only while sync is on, so results are queued for MQTT only then.
 */
export class HistoryStore implements Capability {
  readonly name = 'history database';
  private opened: Opened | undefined;

  constructor(
    private readonly file: string,
    private readonly withOutbox: boolean,
  ) {}

  async start(): Promise<void> {
    const db = openDatabase(this.file);
    const outbox = this.withOutbox ? new Outbox(db) : undefined;
    this.opened = { db, history: new History(db, outbox), outbox };
  }

  async stop(): Promise<void> {
    this.opened?.db.close();
    this.opened = undefined;
  }

  health(): CapabilityHealth {
    return this.opened ? { status: 'ok', detail: `${path.resolve(this.file)} open` } : { status: 'off', detail: 'closed' };
  }

  get db(): Db {
    return this.require().db;
  }

  get history(): History {
    return this.require().history;
  }

  /** Undefined while sync is off. */
  get outbox(): Outbox | undefined {
    return this.require().outbox;
  }

  private require(): Opened {
    if (!this.opened) throw new CspineError(ErrorCode.INTERNAL, `the ${this.name} is used before it was started or after it stopped`);
    return this.opened;
  }
}
