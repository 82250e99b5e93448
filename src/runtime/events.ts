import type { ReceiverState } from '../capture/dicom-receiver/receiver.js';
import type { ErrorCodeValue } from '../errors.js';
import type { Triage } from '../triage/policy.js';

/** What the device's capabilities tell each other over the event bus, and the device state. */

export interface CommitEvent {
  file: string;
  sha256: string;
  /** `already-recorded`: the content had an outcome before (a copy, or a restart after a crash). */
  kind: 'classified' | 'rejected' | 'already-recorded';
  triage: Triage;
  /** The predicted class, for classified images. */
  label?: string;
  readyAt: Date;
  committedAt: Date;
}

export interface ModelInfo {
  id: string;
  sha256: string;
  /** It has a class-activation output, so results get heatmap overlays. */
  cam: boolean;
}

/** Everything the device's capabilities tell each other. */
export interface RuntimeEvents {
  /** A result (or rejection) and its outbox row are in SQLite. */
  resultCommitted: CommitEvent;
  /** Processing of one image began; `waiting`: how many more are queued behind it. */
  imageStarted: { file: string; waiting: number };
  /** After its result: the overlay drawn and the file moved out of the capture folder. */
  imageFinished: { file: string; sha256: string };
  faultRaised: Fault;
  faultCleared: FaultKind;
  /** A model passed its self-test and takes images (`undefined`: none does any more). */
  modelChanged: ModelInfo | undefined;
  receiverStateChanged: ReceiverState;
  /** The device state the lamps, button, doctor and MQTT status follow. */
  deviceStateChanged: DeviceState;
}

/** What has gone wrong, by the part that went wrong; each kind is cleared by its own recovery. */
export type FaultKind = 'model' | 'capture' | 'camera' | 'image-pipeline';

export interface Fault {
  kind: FaultKind;
  code: ErrorCodeValue;
  message: string;
}

/** The device's one state. Lamps, the button, `doctor` and the MQTT status are read from it. */
export type DeviceState =
  | { state: 'starting' }
  | { state: 'ready'; model: ModelInfo }
  | { state: 'processing'; file: string; waiting: number }
  | { state: 'result'; sha256: string; triage: Triage; label?: string }
  | { state: 'acknowledged' }
  | { state: 'fault'; fault: Fault }
  | { state: 'stopping' };
