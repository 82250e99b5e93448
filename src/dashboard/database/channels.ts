/**
 * The PostgreSQL NOTIFY channels by which every dashboard process's live feed learns of new
 * rows, whichever process wrote them: ingest after each commit, the API after an acknowledgement or a
 * rollout action, the dispatcher after a command goes out.
 */
export const CHANNEL = {
  results: 'cspine_results',
  devices: 'cspine_devices',
  /** Its payload is the acknowledged result's id. */
  acknowledged: 'cspine_acks',
  /** A package added, a rollout created or changed, a device's update report stored. */
  rollouts: 'cspine_rollouts',
} as const;
