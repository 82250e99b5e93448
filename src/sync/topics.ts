export type TopicName = 'status' | 'result' | 'health' | 'event';

/** `<prefix>/<deviceId>/<name>`; the prefix carries the payload generation (cspine/v1). */
export function topic(prefix: string, deviceId: string, name: TopicName): string {
  return `${prefix.replace(/\/+$/, '')}/${deviceId}/${name}`;
}
