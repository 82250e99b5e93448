/** `command/model` and `receipt` are the ones the device subscribes to; the others it publishes. */
export type TopicName = 'status' | 'result' | 'health' | 'event' | 'update' | 'command/model' | 'receipt';

/** `<prefix>/<deviceId>/<name>`; the prefix carries the payload generation (cspine/v1). */
export function topic(prefix: string, deviceId: string, name: TopicName): string {
  return `${prefix.replace(/\/+$/, '')}/${deviceId}/${name}`;
}
