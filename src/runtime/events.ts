import type { ReceiverState } from '../capture/dicom-receiver/receiver.js';
import type { ErrorCodeValue } from '../errors.js';
import type { Triage } from '../triage/policy.js';
import type { ReceivedModelCommand } from '../updates/command.js';

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
  /** After its result: the file moved out of the capture folder (or quarantined, or deleted). */
  imageFinished: { file: string; sha256: string };
  /** A heatmap overlay written, once no image had arrived for a while (data/heatmaps/<sha256>.*). */
  overlayDrawn: { sha256: string };
  faultRaised: Fault;
  faultCleared: FaultKind;
  /** A model passed its self-test and takes images (`undefined`: none does any more). */
  modelChanged: ModelInfo | undefined;
  receiverStateChanged: ReceiverState;
  /** A model command arrived on `<prefix>/<deviceId>/command/model` (again at every connect: it is retained). */
  modelCommand: ReceivedModelCommand;
  /** A model command moved on a step; sync queues it for the dashboard (cspine.update.v1). */
  updateProgress: UpdateStep;
  /** The device state the lamps, button, doctor and MQTT status follow. */
  deviceStateChanged: DeviceState;
}

/** One step of a model command, as `schemas/update.v1.json` reports it (less what sync adds: schema, id, deviceId, at). */
export interface UpdateStep {
  commandId: string;
  rolloutId: string;
  /** The manifest SHA-256 of the package an install command is about. */
  packageSha256?: string;
  state: 'downloading' | 'testing' | 'active' | 'confirmed' | 'failed' | 'rolled-back';
  bytesDone?: number;
  bytesTotal?: number;
  code?: string;
  message?: string;
  /** The model in service after this step. */
  model?: { id: string; sha256: string };
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
