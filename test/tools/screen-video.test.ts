import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import test, { type ExecutionContext } from 'ava';
import sharp from 'sharp';
import { screenPane, writeScreenVideo } from '../../src/tools/fixtures/screen-video.js';

const run = promisify(execFile);

function tempFile(t: ExecutionContext, name: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cspine-screen-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return path.join(dir, name);
}

/** A picture with structure: a bright band across a mid-grey field (or the reverse). */
function picture(bandLevel: number, fieldLevel: number): Promise<Buffer> {
  const width = 200;
  const height = 250;
  const pixels = Buffer.alloc(width * height, fieldLevel);
  pixels.fill(bandLevel, 100 * width, 150 * width);
  return sharp(pixels, { raw: { width, height, channels: 1 } }).png().toBuffer();
}

/** Frame `index` of the video as 8-bit gray. */
async function frameAt(file: string, index: number, width: number, height: number): Promise<Uint8Array> {
  const { stdout } = await run('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-i', file, '-vf', `select=eq(n\\,${index}),format=gray`, '-frames:v', '1', '-f', 'rawvideo', 'pipe:1'], {
    encoding: 'buffer',
    maxBuffer: 16 << 20,
  });
  if (stdout.length !== width * height) throw new Error(`frame ${index}: ${stdout.length} bytes`);
  return stdout;
}

function meanIn(pixels: Uint8Array, width: number, rect: { x: number; y: number; width: number; height: number }): number {
  let sum = 0;
  for (let y = rect.y; y < rect.y + rect.height; y++) for (let x = rect.x; x < rect.x + rect.width; x++) sum += pixels[y * width + x]!;
  return sum / (rect.width * rect.height);
}

test('the video decodes to the scenes’ total length, at the default size and rate, and says when each scene is on screen', async (t) => {
  const file = tempFile(t, 'screen.mkv');
  const ranges = await writeScreenVideo(file, [
    { image: await picture(230, 90), seconds: 2 },
    { image: await picture(40, 160), seconds: 1.5 },
  ]);
  t.deepEqual(ranges, [
    { start: 0, end: 2 },
    { start: 3, end: 4.5 },
  ]);
  const { stdout } = await run('ffprobe', ['-v', 'error', '-count_frames', '-select_streams', 'v:0', '-show_entries', 'stream=width,height,nb_read_frames,r_frame_rate:format=duration', '-of', 'json', file]);
  const probe = JSON.parse(stdout) as { streams: Array<{ width: number; height: number; nb_read_frames: string; r_frame_rate: string }>; format: { duration: string } };
  const [stream] = probe.streams;
  t.like(stream, { width: 640, height: 480, r_frame_rate: '10/1', nb_read_frames: '45' });
  t.true(Math.abs(Number(probe.format.duration) - 4.5) < 0.11, probe.format.duration);
});

test('each scene’s image is in the pane while it is on screen, the pane is dark between, and the cursor blinks and the clock ticks', async (t) => {
  const file = tempFile(t, 'screen.mkv');
  const width = 640;
  const height = 480;
  const fps = 4;
  const ranges = await writeScreenVideo(
    file,
    [
      { image: await picture(230, 90), seconds: 2 },
      { image: await picture(40, 160), seconds: 2 },
    ],
    { width, height, fps, noise: 0, flicker: 0, blankSeconds: 1 },
  );
  const pane = screenPane(width, height);
  // The band's rows in the pane: the 200×250 picture fills the pane's height.
  const scale = pane.height / 250;
  const band = { x: pane.x + pane.width / 2 - 10, y: pane.y + Math.round(110 * scale), width: 20, height: Math.round(30 * scale) };
  const field = { ...band, y: pane.y + Math.round(40 * scale) };
  const frameIndex = (seconds: number) => Math.round(seconds * fps);
  const first = await frameAt(file, frameIndex(ranges[0]!.start + 0.5), width, height);
  const blank = await frameAt(file, frameIndex(ranges[0]!.end + 0.5), width, height);
  const second = await frameAt(file, frameIndex(ranges[1]!.start + 0.5), width, height);
  t.true(Math.abs(meanIn(first, width, band) - 230) < 8 && Math.abs(meanIn(first, width, field) - 90) < 8, 'first scene');
  t.true(Math.abs(meanIn(second, width, band) - 40) < 8 && Math.abs(meanIn(second, width, field) - 160) < 8, 'second scene');
  t.true(meanIn(blank, width, band) < 15 && meanIn(blank, width, field) < 15, 'blank between');

  // Cursor: on for the first half of each second, in the pane's bottom-left corner.
  const cursorCorner = { x: pane.x, y: pane.y + pane.height - 30, width: 16, height: 30 };
  const on = await frameAt(file, frameIndex(ranges[0]!.start), width, height);
  const off = await frameAt(file, frameIndex(ranges[0]!.start + 0.5), width, height);
  t.true(meanIn(on, width, cursorCorner) > meanIn(off, width, cursorCorner) + 20, 'cursor blinks');
  // Clock: top-right corner of the pane, a different picture from one second to the next.
  const clockCorner = { x: pane.x + pane.width - 100, y: pane.y, width: 100, height: 30 };
  const later = await frameAt(file, frameIndex(ranges[0]!.start + 1.5), width, height);
  let differing = 0;
  for (let y = clockCorner.y; y < clockCorner.y + clockCorner.height; y++) for (let x = clockCorner.x; x < clockCorner.x + clockCorner.width; x++) if (Math.abs(off[y * width + x]! - later[y * width + x]!) > 60) differing++;
  t.true(differing > 10, `clock ticks (${differing} pixels changed)`);
});

test('impossible settings are refused before anything is written', async (t) => {
  const file = tempFile(t, 'screen.mkv');
  const image = await picture(200, 100);
  await t.throwsAsync(writeScreenVideo(file, []), { instanceOf: RangeError });
  await t.throwsAsync(writeScreenVideo(file, [{ image, seconds: 0 }]), { instanceOf: RangeError });
  await t.throwsAsync(writeScreenVideo(file, [{ image, seconds: 1 }], { width: 641 }), { instanceOf: RangeError });
  await t.throwsAsync(writeScreenVideo(file, [{ image, seconds: 1 }], { fps: 0 }), { instanceOf: RangeError });
  t.false(fs.existsSync(file));
});
