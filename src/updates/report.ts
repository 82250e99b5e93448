import type { ModelInfo, UpdateStep } from '../runtime/events.js';

/** Which command a report is about: its ids, and the package for an install. */
export type CommandRef = Pick<UpdateStep, 'commandId' | 'rolloutId' | 'packageSha256'>;

/** One step of `about`, carrying the model in service after it (none while the device is at FAULT). */
export function updateStep(about: CommandRef, state: UpdateStep['state'], model: ModelInfo | undefined, details: Pick<UpdateStep, 'code' | 'message' | 'bytesDone' | 'bytesTotal'> = {}): UpdateStep {
  return { ...about, state, ...details, ...(model ? { model: { id: model.id, sha256: model.sha256 } } : {}) };
}
