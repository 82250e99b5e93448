import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { ffmpegPath, inputArguments, videoFilter, type CameraSettings } from '../capture/camera/ffmpeg-frames.js';
import { CspineError, ErrorCode } from '../errors.js';
import { commandConfig, CONFIG_OPTION, defineCommand, UsageError } from './options.js';

const run = promisify(execFile);
const GRAB_TIMEOUT_MS = 15_000;

/** One frame from the configured camera as PNG: the whole picture, or (with `filter`) as the device sees it. */
async function grabFrame(settings: CameraSettings, filter?: string): Promise<Buffer> {
  const ffmpeg = ffmpegPath();
  if (!ffmpeg) throw new CspineError(ErrorCode.CAMERA_UNAVAILABLE, 'FFmpeg is not installed (apt-get install ffmpeg)');
  const args = ['-hide_banner', '-loglevel', 'error', '-nostdin', ...inputArguments(settings), '-an', ...(filter ? ['-vf', filter] : []), '-frames:v', '1', '-f', 'image2', '-c:v', 'png', 'pipe:1'];
  try {
    const { stdout } = await run(ffmpeg, args, { encoding: 'buffer', timeout: GRAB_TIMEOUT_MS, maxBuffer: 256 * 1024 * 1024 });
    if (stdout.length === 0) throw new Error('no frame came');
    return stdout;
  } catch (error) {
    const said = (error as { stderr?: Buffer }).stderr?.toString().trim();
    throw new CspineError(ErrorCode.CAMERA_UNAVAILABLE, `no frame from ${settings.input}: ${said || (error as Error).message}`, { cause: error });
  }
}

/** The region of interest drawn on the picture: a rectangle or the screen's four corners. */
function roiOverlay(settings: CameraSettings, width: number, height: number): Buffer {
  const { roi } = settings;
  const stroke = 'stroke="#ff2d2d" stroke-width="4" fill="none"';
  const shape = !roi
    ? `<rect x="2" y="2" width="${width - 4}" height="${height - 4}" ${stroke} stroke-dasharray="12 8"/>`
    : 'corners' in roi
      ? `<polygon points="${roi.corners.map(([x, y]) => `${x},${y}`).join(' ')}" ${stroke}/>${roi.corners.map(([x, y], i) => `<circle cx="${x}" cy="${y}" r="7" fill="#ff2d2d"/><text x="${x + 10}" y="${y - 10}" font-size="22" fill="#ff2d2d" font-family="sans-serif">${['TL', 'TR', 'BR', 'BL'][i]}</text>`).join('')}`
      : `<rect x="${roi.x}" y="${roi.y}" width="${roi.width}" height="${roi.height}" ${stroke}/>`;
  return Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${shape}</svg>`);
}

// cspine-edge camera snapshot: set-up help for the region of interest (docs/camera.md).
export const cameraSnapshot = defineCommand({
  synopsis: 'camera snapshot --out FILE.png [--config FILE]',
  about: `Saves one frame of capture.camera.input with the region of interest (capture.camera.roi) drawn on it
in red, and beside it FILE-roi.png: the region as the device classifies it (cut out, straightened,
scaled to capture.camera.width × height, gray). Exit 1 when no frame comes within 15 s.`,
  options: { ...CONFIG_OPTION, out: { type: 'string' } },
  optionHelp: '  --out FILE.png            where to write the frame (required)',
  run: async ({ values }) => {
    if (!values.out) throw new UsageError('--out FILE.png is required');
    const settings = commandConfig(values).capture.camera;
    const frame = await grabFrame(settings);
    const { width = 0, height = 0 } = await sharp(frame).metadata();
    await sharp(frame)
      .composite([{ input: roiOverlay(settings, width, height) }])
      .png()
      .toFile(values.out);
    const cutOut = `${values.out.replace(/\.png$/i, '')}-roi.png`;
    await sharp(await grabFrame(settings, videoFilter(settings))).toFile(cutOut);
    const roi = settings.roi ? JSON.stringify(settings.roi) : 'the whole picture';
    process.stdout.write(`${path.resolve(values.out)}: ${width}×${height} from ${settings.input}, region ${roi} drawn in red\n${path.resolve(cutOut)}: what is classified (${settings.width}×${settings.height})\n`);
    return 0;
  },
});
