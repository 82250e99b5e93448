import type { PayloadSchemas } from './payload-schemas.js';

export const MESSAGE_KINDS = ['result', 'status', 'health', 'event', 'update'] as const;
export type MessageKind = (typeof MESSAGE_KINDS)[number];

/** One MQTT message as it came off the wire. */
export interface IncomingMessage {
  topic: string;
  payload: Buffer;
  /** Delivered because it was retained at the broker (a status from before we subscribed). */
  retained: boolean;
  receivedAt: Date;
}

export interface AcceptedMessage {
  topic: string;
  kind: MessageKind;
  deviceId: string;
  body: Record<string, unknown>;
  retained: boolean;
  receivedAt: Date;
}

export interface DeadLetter {
  topic: string;
  deviceId: string | undefined;
  /** The payload's `id`, when it has one: the device gets a receipt, as resending would not help. */
  messageId?: string;
  payload: Buffer;
  reason: string;
}

export type SortedMessage = { accepted: AcceptedMessage } | { dead: DeadLetter };

/**
 * Decides what one message is: a valid payload of the kind its topic says, from the device its
 * topic names, or a dead letter with the reason. File names in clear (`image.source`, sent only
 * when a device opted in) are dropped here, so the dashboard never stores an identifier.
 */
export function sortMessage(message: IncomingMessage, topicPrefix: string, schemas: PayloadSchemas): SortedMessage {
  const { topic, payload } = message;
  const levels = topic.startsWith(`${topicPrefix}/`) ? topic.slice(topicPrefix.length + 1).split('/') : [];
  const [deviceId, kind] = levels;
  let messageId: string | undefined;
  const dead = (reason: string): SortedMessage => ({ dead: { topic, deviceId, messageId, payload, reason } });
  if (levels.length !== 2 || !deviceId || !isKind(kind)) return dead(`unexpected topic (expected ${topicPrefix}/<deviceId>/${MESSAGE_KINDS.join('|')})`);
  let body: unknown;
  try {
    body = JSON.parse(payload.toString('utf8'));
  } catch (error) {
    return dead(`not JSON: ${(error as Error).message}`);
  }
  const { id } = (typeof body === 'object' && body !== null ? body : {}) as { id?: unknown };
  if (typeof id === 'string') messageId = id;
  const verdict = schemas.check(body, kind);
  if (!verdict.ok) return dead(verdict.reason);
  const fields = body as Record<string, unknown>;
  if (fields.deviceId !== deviceId) return dead(`payload deviceId "${String(fields.deviceId)}" differs from the topic's "${deviceId}"`);
  return { accepted: { topic, kind, deviceId, body: withoutIdentifiers(fields), retained: message.retained, receivedAt: message.receivedAt } };
}

/**
 * The ids each device should get a receipt for once the batch is committed: every stored message
 * (a duplicate was stored before) and every dead letter that names its id, except statuses.
 */
export function receiptsFor(accepted: readonly AcceptedMessage[], dead: readonly DeadLetter[]): Map<string, string[]> {
  const byDevice = new Map<string, string[]>();
  const add = (deviceId: string | undefined, id: unknown) => {
    if (deviceId === undefined || typeof id !== 'string') return;
    const ids = byDevice.get(deviceId) ?? [];
    ids.push(id);
    byDevice.set(deviceId, ids);
  };
  for (const message of accepted) if (message.kind !== 'status') add(message.deviceId, message.body.id);
  for (const letter of dead) add(letter.deviceId, letter.messageId);
  return byDevice;
}

function isKind(value: string | undefined): value is MessageKind {
  return (MESSAGE_KINDS as readonly string[]).includes(value ?? '');
}

function withoutIdentifiers(body: Record<string, unknown>): Record<string, unknown> {
  const image = body.image;
  if (typeof image !== 'object' || image === null || !('source' in image)) return body;
  const { source: _clearName, ...rest } = image as Record<string, unknown>;
  return { ...body, image: rest };
}
