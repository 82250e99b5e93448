import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import type { Config } from '../../config/schema.js';
import { findExecutable } from '../../executable.js';
import type { GrayFrame } from './still-detector.js';

export type CameraSettings = Config['capture']['camera'];
export type RegionOfInterest = NonNullable<CameraSettings['roi']>;

/** FFmpeg from PATH (Debian's /usr/bin/ffmpeg), or undefined. */
export function ffmpegPath(tool: 'ffmpeg' | 'ffprobe' = 'ffmpeg'): string | undefined {
  return findExecutable(tool, ['/usr/bin']);
}

/** A video file is read at its own frame rate (-re), like a camera; devices and streams are live anyway. */
export function isRecording(input: string): boolean {
  try {
    return fs.statSync(input).isFile();
  } catch {
    return false;
  }
}

/**
 * The video filter that turns the camera's picture into the frames we look at: the rate
 * first (less to crop and scale), then the region of interest (a crop, or a perspective
 * correction of a screen seen at an angle), then the size, in 8-bit gray.
 */
export function videoFilter(settings: Pick<CameraSettings, 'fps' | 'width' | 'height' | 'roi'>): string {
  const steps = [`fps=${settings.fps}`];
  const roi = settings.roi;
  if (roi && 'corners' in roi) {
    // Ours go round the screen (TL, TR, BR, BL); FFmpeg's perspective takes TL, TR, BL, BR.
    const [topLeft, topRight, bottomRight, bottomLeft] = roi.corners;
    steps.push(`perspective=${[topLeft, topRight, bottomLeft, bottomRight].map(([x, y]) => `${x}:${y}`).join(':')}:interpolation=linear`);
  } else if (roi) {
    steps.push(`crop=${roi.width}:${roi.height}:${roi.x}:${roi.y}`);
  }
  steps.push(`scale=${settings.width}:${settings.height}:flags=area`, 'format=gray');
  return steps.join(',');
}

/** The input half of an FFmpeg command line for the configured camera. */
export function inputArguments(settings: Pick<CameraSettings, 'input' | 'format' | 'inputOptions'>): string[] {
  return [...(isRecording(settings.input) ? ['-re'] : []), ...(settings.format ? ['-f', settings.format] : []), ...settings.inputOptions, '-i', settings.input];
}

export interface FrameStreamEvents {
  frame(frame: GrayFrame): void;
  /** FFmpeg ended: `said` is the end of what it wrote on stderr, to say why. */
  ended(result: { code: number | null; signal: NodeJS.Signals | null; said: string }): void;
}

/**
 * One FFmpeg child process writing raw gray frames of a fixed size on its stdout; each whole
 * frame is handed on as it completes.
 */
export class FfmpegFrameStream {
  private child: ChildProcess | undefined;

  constructor(
    private readonly ffmpeg: string,
    private readonly settings: CameraSettings,
  ) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  start(events: FrameStreamEvents): void {
    const { width, height } = this.settings;
    const frameBytes = width * height;
    const args = ['-hide_banner', '-loglevel', 'error', '-nostdin', ...inputArguments(this.settings), '-an', '-vf', videoFilter(this.settings), '-f', 'rawvideo', '-pix_fmt', 'gray', 'pipe:1'];
    const child = spawn(this.ffmpeg, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    child.stdout!.on('data', (chunk: Buffer) => {
      pending.push(chunk);
      pendingBytes += chunk.length;
      if (pendingBytes < frameBytes) return;
      let joined = Buffer.concat(pending, pendingBytes);
      while (joined.length >= frameBytes) {
        // A copy: the frame outlives the chunk it came in.
        events.frame({ data: new Uint8Array(joined.subarray(0, frameBytes)), width, height, at: Date.now() });
        joined = joined.subarray(frameBytes);
      }
      pending = joined.length > 0 ? [joined] : [];
      pendingBytes = joined.length;
    });
    let said = '';
    child.stderr!.on('data', (chunk: Buffer) => (said = (said + chunk.toString()).slice(-2000)));
    child.on('error', (error) => (said += error.message));
    child.on('close', (code, signal) => {
      if (this.child === child) this.child = undefined;
      events.ended({ code, signal, said: said.trim() });
    });
  }

  /** Ends FFmpeg; resolves once it has exited. */
  async stop(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('close', resolve));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
    await exited;
    clearTimeout(timer);
  }
}
