/** Stills are named by when they were taken: camera-2026-12-02T10-15-02-123Z.png. */
const PREFIX = 'camera-';
const PATTERN = /^camera-\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}-\d{3}Z(-[0-9a-f]+)?\.png$/;

export function cameraStillName(takenAt: Date): string {
  return `${PREFIX}${takenAt.toISOString().replace(/[:.]/g, '-')}.png`;
}

/** Whether a file in the capture folder is a camera still (recorded with source kind "camera"). */
export function isCameraStill(name: string): boolean {
  return PATTERN.test(name);
}
