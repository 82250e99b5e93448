import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { writeFileAtomicSync } from '../../atomic-file.js';
import { ErrorCode } from '../../errors.js';
import type { Logger } from '../../logger.js';
import type { Capability, CapabilityHealth } from '../../runtime/capability.js';
import type { EventBus } from '../../runtime/event-bus.js';
import { ffmpegPath, FfmpegFrameStream, isRecording, type CameraSettings } from './ffmpeg-frames.js';
import { cameraStillName } from './still-name.js';
import { StillDetector, type GrayFrame } from './still-detector.js';

/** Older than any capture-folder stability window (at most 60 s) and its second look at young files. */
const SETTLED_AGE_MS = 120_000;

export interface CameraOptions {
  settings: CameraSettings;
  /** Stills are written here, as a file would be dropped: the same pipeline takes them. */
  captureDir: string;
  bus: EventBus;
  logger: Logger;
}

/**
 * The camera source: FFmpeg's frames go through the still detector, and each new image that
 * stays steady is saved as a PNG in the capture folder (atomically: written beside it under a
 * name the folder ignores, then renamed). While FFmpeg cannot open the camera or dies, the
 * device is at FAULT (E_CAMERA_LOST) and FFmpeg is started again with back-off; the first frame
 * clears the fault. A video file that ends is a recording played through: that is not a fault.
 */
export class Camera implements Capability {
  readonly name = 'camera';
  private stream: FfmpegFrameStream | undefined;
  private readonly detector: StillDetector;
  private retryMs: number;
  private retryTimer: NodeJS.Timeout | undefined;
  private stopped = true;
  private lost: string | undefined;
  private frames = 0;
  private stills = 0;
  private lastFrameAt: Date | undefined;
  private recordingEnded = false;
  private writing: Promise<void> = Promise.resolve();

  constructor(private readonly options: CameraOptions) {
    const { settings } = options;
    this.detector = new StillDetector(settings);
    this.retryMs = settings.retryMinMs;
  }

  async start(): Promise<void> {
    this.stopped = false;
    this.open();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    await this.stream?.stop();
    this.stream = undefined;
    await this.writing;
  }

  health(): CapabilityHealth {
    const { input } = this.options.settings;
    const seen = `${this.frames} frames, ${this.stills} stills taken${this.lastFrameAt ? `, last frame ${this.lastFrameAt.toISOString()}` : ''}`;
    if (this.lost !== undefined) return { status: 'failed', detail: `${input}: ${this.lost}; retrying (${seen})` };
    if (this.recordingEnded) return { status: 'ok', detail: `${input}: the recording has ended (${seen})` };
    return { status: 'ok', detail: `${input}: ${seen}` };
  }

  private open(): void {
    if (this.stopped) return;
    const ffmpeg = ffmpegPath();
    if (!ffmpeg) {
      this.fail('FFmpeg is not installed (apt-get install ffmpeg)');
      return;
    }
    const stream = new FfmpegFrameStream(ffmpeg, this.options.settings);
    this.stream = stream;
    stream.start({
      frame: (frame) => this.onFrame(frame),
      ended: ({ code, signal, said }) => {
        if (this.stopped || this.stream !== stream) return;
        this.stream = undefined;
        if (code === 0 && isRecording(this.options.settings.input)) {
          this.recordingEnded = true;
          this.options.logger.info({ input: this.options.settings.input, stills: this.stills }, 'camera: the recording has ended');
          return;
        }
        this.fail(`FFmpeg ended (${signal ?? `exit ${code}`})${said ? `: ${said.split('\n').at(-1)}` : ''}`);
      },
    });
  }

  private onFrame(frame: GrayFrame): void {
    this.frames += 1;
    this.lastFrameAt = new Date(frame.at);
    if (this.lost !== undefined) {
      this.options.logger.info({ input: this.options.settings.input }, 'camera: frames again');
      this.lost = undefined;
      this.retryMs = this.options.settings.retryMinMs;
      this.options.bus.emit('faultCleared', 'camera');
    }
    const still = this.detector.push(frame);
    if (still) this.writing = this.writing.then(() => this.save(still));
  }

  private async save(still: GrayFrame): Promise<void> {
    const name = cameraStillName(new Date(still.at));
    try {
      const png = await sharp(Buffer.from(still.data.buffer, still.data.byteOffset, still.data.byteLength), { raw: { width: still.width, height: still.height, channels: 1 } })
        .png({ compressionLevel: 1 })
        .toBuffer();
      const file = path.join(this.options.captureDir, name);
      writeFileAtomicSync(file, png);
      // Complete the moment it appears (renamed in whole): dated back so that the folder does not
      // wait for it to settle as it would for a file still being copied in.
      const settled = new Date(still.at - SETTLED_AGE_MS);
      fs.utimesSync(file, settled, settled);
      this.stills += 1;
      this.options.logger.info({ file: name }, 'camera: a new image on the screen, taken');
    } catch (error) {
      this.options.logger.error({ file: name, err: (error as Error).message }, 'camera: cannot save the still');
    }
  }

  private fail(reason: string): void {
    if (this.lost === undefined) {
      this.options.bus.emit('faultRaised', { kind: 'camera', code: ErrorCode.CAMERA_LOST, message: `camera ${this.options.settings.input} lost: ${reason}` });
    }
    this.lost = reason;
    this.options.logger.warn({ input: this.options.settings.input, retryInMs: this.retryMs }, `camera: ${reason}; trying again`);
    this.retryTimer = setTimeout(() => this.open(), this.retryMs);
    this.retryMs = Math.min(this.options.settings.retryMaxMs, this.retryMs * 2);
  }
}
