import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { writeFileAtomicSync } from '../atomic-file.js';
import type { Logger } from '../logger.js';

const packageRefSchema = z.object({
  dir: z.string().min(1),
  manifestSha256: z.string().regex(/^[0-9a-f]{64}$/),
  modelId: z.string().min(1),
  /** The install command that brought it; null for the configured model.dir/model.id. */
  commandId: z.string().nullable(),
  rolloutId: z.string().nullable(),
});
export type PackageRef = z.infer<typeof packageRefSchema>;

const pointerSchema = z.object({
  active: packageRefSchema,
  previous: packageRefSchema.nullable(),
  switchedAt: z.string(),
  /** The command whose switch this is (install or rollback), so one seen again after a restart is not redone. */
  switchedBy: z.string().nullable(),
  confirmed: z.boolean(),
  /** Starts of `active` since the switch without running updates.confirmAfterMs (a crash loop when it grows). */
  unconfirmedStarts: z.int().min(0),
});
export type Pointer = z.infer<typeof pointerSchema>;

const POINTER_FILE = 'active.json';

/**
 * `<updates.dir>/active.json`: which received package is in service and which one it replaced,
 * written whole through a rename (never half). No file: the configured model.dir/model.id.
 */
export class PackagePointer {
  readonly file: string;

  constructor(
    dir: string,
    private readonly logger: Logger,
  ) {
    this.file = path.join(dir, POINTER_FILE);
  }

  read(): Pointer | undefined {
    let text: string;
    try {
      text = fs.readFileSync(this.file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
    const parsed = pointerSchema.safeParse(parseJson(text));
    if (parsed.success) return parsed.data;
    // Only a hand edit gets here (writes are atomic): the configured model is the safe answer.
    this.logger.error({ file: this.file, problem: parsed.error.message }, 'the model update pointer is invalid; running the configured model.dir/model.id');
    return undefined;
  }

  /** `next` goes into service, replacing `previous`; unconfirmed until it has run updates.confirmAfterMs. */
  switchTo(next: PackageRef, previous: PackageRef | undefined, switchedBy: string): Pointer {
    return this.write({ active: next, previous: previous ?? null, switchedAt: new Date().toISOString(), switchedBy, confirmed: false, unconfirmedStarts: 0 });
  }

  /**
   * The previous package back into service (undefined when there is none). It ran before, so it
   * counts as confirmed; nothing is left to go back to, so the same rollback seen twice cannot
   * swap the two again.
   */
  rollBack(switchedBy: string | null): Pointer | undefined {
    const pointer = this.read();
    if (!pointer?.previous) return undefined;
    return this.write({ active: pointer.previous, previous: null, switchedAt: new Date().toISOString(), switchedBy, confirmed: true, unconfirmedStarts: 0 });
  }

  /** Marks the active package confirmed; the pointer when this changed it. */
  confirm(): Pointer | undefined {
    const pointer = this.read();
    if (!pointer || pointer.confirmed) return undefined;
    return this.write({ ...pointer, confirmed: true, unconfirmedStarts: 0 });
  }

  /** Counts this start against an unconfirmed package (written before it loads, so a crash while loading counts too). */
  countStart(): Pointer | undefined {
    const pointer = this.read();
    if (!pointer || pointer.confirmed) return pointer;
    return this.write({ ...pointer, unconfirmedStarts: pointer.unconfirmedStarts + 1 });
  }

  private write(pointer: Pointer): Pointer {
    writeFileAtomicSync(this.file, `${JSON.stringify(pointer, null, 2)}\n`);
    return pointer;
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
