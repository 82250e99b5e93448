import type { HistoryEntry } from '../store/history.js';
import type { OutboxBacklog } from '../store/outbox.js';
import { VERSION } from '../version.js';
import type { Pseudonyms } from '../privacy/pseudonymizer.js';
import type { Condition } from '../runtime/device-state.js';
import type { UpdateStep } from '../runtime/events.js';

/**
 * MQTT payloads, version 1. JSON Schemas for each live in schemas/ and docs/mqtt.md shows
 * examples. No payload carries a patient name, ID or birth date; file names (which operators
 * sometimes name after patients) go out only as pseudonyms unless `sync.sendIdentifiers`.
 */
/** The history record as sent: its outcome fields as they are, the file name pseudonymised. */
export interface ResultPayload
  extends Pick<HistoryEntry, 'receivedAt' | 'processedAt' | 'outcome' | 'triage' | 'label' | 'probabilities' | 'model' | 'timingsMs' | 'error'>,
    Partial<Pick<HistoryEntry, 'quality' | 'ood' | 'orientation'>> {
  schema: 'cspine.result.v1';
  id: string;
  deviceId: string;
  image: {
    sha256: string;
    sourceRef: string;
    source?: string;
    format: string | null;
    bytes: number;
    /** DICOM input only: pseudonymised study/instance, modality, body part, view, acquisition time. */
    dicom?: NonNullable<HistoryEntry['dicom']>;
  };
}

export interface StatusPayload {
  schema: 'cspine.status.v1';
  deviceId: string;
  state: 'online' | 'offline';
  /** For `offline` sent as last will: the time the connection that died was opened. */
  at: string;
  version: string;
  /** While online: what the device is doing, from its device state (absent in the last will). */
  device?: DeviceCondition;
}

/** The device state as the dashboard needs it: starting, ready, or at FAULT with its code (docs/errors.md). */
export type DeviceCondition = Exclude<Condition, { state: 'stopping' }> & { since: string };

export interface HealthSnapshot {
  uptimeSec: number;
  lamp: { backend: string; level: string | null };
  queueDepth: number;
  outbox: OutboxBacklog & { warnAt: number; overLimit: boolean };
  lastResultAt: string | null;
  model: { id: string; sha256: string } | null;
  diskFreeBytes: number | null;
  cpuTempC: number | null;
}

export interface HealthPayload extends HealthSnapshot {
  schema: 'cspine.health.v1';
  id: string;
  deviceId: string;
  at: string;
  version: string;
}

export interface EventPayload {
  schema: 'cspine.event.v1';
  id: string;
  deviceId: string;
  at: string;
  severity: 'warning' | 'error';
  code: string;
  message: string;
}

export interface UpdatePayload extends UpdateStep {
  schema: 'cspine.update.v1';
  id: string;
  deviceId: string;
  at: string;
}

export interface PayloadContext {
  deviceId: string;
  pseudonymizer: Pseudonyms;
  sendIdentifiers: boolean;
}

export function resultPayload(entry: HistoryEntry, messageId: string, context: PayloadContext): ResultPayload {
  return {
    schema: 'cspine.result.v1',
    id: messageId,
    deviceId: context.deviceId,
    image: {
      sha256: entry.sha256,
      sourceRef: context.pseudonymizer.ref('file', entry.source),
      ...(context.sendIdentifiers ? { source: entry.source } : {}),
      format: entry.format,
      bytes: entry.bytes,
      // Pseudonyms only, also with sendIdentifiers: the UIDs themselves are never stored.
      ...(entry.dicom ? { dicom: entry.dicom } : {}),
    },
    receivedAt: entry.receivedAt,
    processedAt: entry.processedAt,
    outcome: entry.outcome,
    triage: entry.triage,
    label: entry.label,
    probabilities: entry.probabilities,
    model: entry.model,
    timingsMs: entry.timingsMs,
    error: entry.error,
    // Added compatibly within v1: present only when the device had something to say.
    ...(entry.quality ? { quality: entry.quality } : {}),
    ...(entry.ood ? { ood: entry.ood } : {}),
    ...(entry.orientation ? { orientation: entry.orientation } : {}),
  };
}

export function statusPayload(deviceId: string, state: StatusPayload['state'], device?: DeviceCondition, at = new Date()): StatusPayload {
  return { schema: 'cspine.status.v1', deviceId, state, at: at.toISOString(), version: VERSION, ...(device ? { device } : {}) };
}

export function healthPayload(deviceId: string, id: string, snapshot: HealthSnapshot, at = new Date()): HealthPayload {
  return { schema: 'cspine.health.v1', id, deviceId, at: at.toISOString(), version: VERSION, ...snapshot };
}

export function eventPayload(deviceId: string, severity: EventPayload['severity'], code: string, message: string, at = new Date()): Omit<EventPayload, 'id'> {
  return { schema: 'cspine.event.v1', deviceId, at: at.toISOString(), severity, code, message };
}

export function updatePayload(deviceId: string, step: UpdateStep, at = new Date()): Omit<UpdatePayload, 'id'> {
  return { schema: 'cspine.update.v1', deviceId, at: at.toISOString(), ...step };
}
