import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import test, { type ExecutionContext } from 'ava';
import sharp from 'sharp';
import { perceptualHash, StillDetector, type GrayFrame, type StillDetectorOptions } from '../../src/capture/camera/still-detector.js';
import { drawClock, fillRect } from '../../src/tools/fixtures/screen-drawing.js';
import { screenPane, writeScreenVideo } from '../../src/tools/fixtures/screen-video.js';
import { PHANTOM_LABELS, phantomParams, renderPhantom } from '../../src/tools/synth/generate.js';
import { caseSeed, Rng } from '../../src/tools/synth/prng.js';
import { quantise } from '../../src/tools/synth/quantise.js';

const WIDTH = 256;
const HEIGHT = 320;
/** The config's defaults. */
const DEFAULTS: StillDetectorOptions = { stableMs: 1500, minChangedShare: 0.2, cellThreshold: 0.08, sameImageDistance: 6, memory: 20 };
/** The camera's default rate. */
const FRAME_MS = 500;

/** Phantom case i of seed 16: cases in a row are different patients of different classes. */
function phantom(i: number): Uint8Array {
  const params = phantomParams(caseSeed(16, i), PHANTOM_LABELS[i % PHANTOM_LABELS.length]!, WIDTH, HEIGHT);
  return quantise(renderPhantom(params).pixels, 8) as Uint8Array;
}

const BLANK = new Uint8Array(WIDTH * HEIGHT).fill(8);

/** What the camera adds to the screen's picture in one frame. */
interface Disturbance {
  /** Standard deviation of the sensor noise, grey levels. */
  noise?: number;
  /** Brightness multiplier and offset (flicker, auto-exposure). */
  gain?: number;
  offset?: number;
  cursorOn?: boolean;
  /** A clock overlay showing this time of day, in seconds. */
  clock?: number;
}

function frameOf(image: Uint8Array, at: number, disturbance: Disturbance, rng: Rng): GrayFrame {
  const canvas = { pixels: image.slice(), width: WIDTH, height: HEIGHT };
  if (disturbance.clock !== undefined) drawClock(canvas, { x: 180, y: 6, width: 70, height: 14 }, disturbance.clock, 215);
  if (disturbance.cursorOn) fillRect(canvas, { x: 6, y: 298, width: 4, height: 14 }, 215);
  const { noise = 0, gain = 1, offset = 0 } = disturbance;
  const data = canvas.pixels;
  for (let i = 0; i < data.length; i++) data[i] = Math.min(255, Math.max(0, Math.round(data[i]! * gain + offset + noise * rng.normal())));
  return { data, width: WIDTH, height: HEIGHT, at };
}

/** Everything at once, as a camera pointed at a viewer's screen would see it. */
const realistic = (at: number, rng: Rng): Disturbance => ({
  noise: 6,
  gain: rng.uniform(0.85, 1.15),
  offset: rng.uniform(-8, 8),
  cursorOn: Math.floor(at / 500) % 2 === 0,
  clock: 38_000 + Math.floor(at / 1000),
});

interface Scene {
  image: Uint8Array;
  ms: number;
}

/**
 * Shows the scenes one after another to a fresh detector, one frame every frameMs; returns
 * each still taken: which scene was on screen and how long it had been.
 */
function play(scenes: Scene[], options: { detector?: Partial<StillDetectorOptions>; disturb?: (at: number, rng: Rng) => Disturbance; frameMs?: number } = {}) {
  const { disturb = realistic, frameMs = FRAME_MS } = options;
  const detector = new StillDetector({ ...DEFAULTS, ...options.detector });
  const rng = new Rng(7);
  const taken: Array<{ scene: number; after: number }> = [];
  let start = 0;
  for (const [index, scene] of scenes.entries()) {
    const end = start + scene.ms;
    // Frames keep their own timeline across scenes, like a camera's.
    for (let at = Math.ceil(start / frameMs) * frameMs; at < end; at += frameMs) {
      const frame = frameOf(scene.image, at, disturb(at, rng), rng);
      const still = detector.push(frame);
      if (still) {
        if (still !== frame) throw new Error('push must hand back the frame it was given');
        taken.push({ scene: index, after: at - start });
      }
    }
    start = end;
  }
  return taken;
}

const scenesTaken = (taken: Array<{ scene: number }>) => taken.map((still) => still.scene);

test('a new image is taken once, after it has stayed steady for stableMs and not before', (t) => {
  const calm = () => ({ noise: 2 });
  t.deepEqual(play([{ image: phantom(0), ms: 10_000 }], { disturb: calm }), [{ scene: 0, after: 1500 }]);
  t.deepEqual(play([{ image: phantom(0), ms: 10_000 }], { disturb: calm, detector: { stableMs: 4000 } }), [{ scene: 0, after: 4000 }]);
  // Frames that do not fall on stableMs: the first one at or past it.
  t.deepEqual(play([{ image: phantom(0), ms: 10_000 }], { disturb: calm, frameMs: 400 }), [{ scene: 0, after: 1600 }]);
  // Shorter than stableMs on screen: never steady long enough.
  t.deepEqual(play([{ image: phantom(0), ms: 1400 }, { image: phantom(1), ms: 1000 }, { image: phantom(2), ms: 1400 }], { disturb: calm }), []);
});

test('an image that changes while it settles is taken stableMs after its last change', (t) => {
  // Two images in quick succession, as a viewer draws a preview and then the full image.
  const taken = play([{ image: phantom(0), ms: 1000 }, { image: phantom(1), ms: 6000 }]);
  t.deepEqual(taken, [{ scene: 1, after: 1500 }]);
});

/**
 * A disturbance on a steady image must give one still, both with the defaults and with the
 * hash unable to match: the picture comparison alone must hold it, not only the memory of
 * stills already taken.
 */
function takenOnce(t: ExecutionContext, disturb: (at: number, rng: Rng) => Disturbance): void {
  for (const detector of [{}, { sameImageDistance: -1 }]) t.deepEqual(scenesTaken(play([{ image: phantom(0), ms: 30_000 }], { disturb, detector })), [0], JSON.stringify(detector));
}

test('sensor noise does not trigger a still', (t) => {
  takenOnce(t, () => ({ noise: 12 }));
});

test('a flickering screen does not trigger a still', (t) => {
  // ±25 % brightness and ±20 levels from frame to frame: far more than cellThreshold in plain levels.
  takenOnce(t, (_, rng) => ({ noise: 4, gain: rng.uniform(0.75, 1.25), offset: rng.uniform(-20, 20) }));
});

test('a blinking cursor and a ticking clock in a corner do not trigger a still', (t) => {
  takenOnce(t, (at) => ({ noise: 4, cursorOn: Math.floor(at / 500) % 2 === 0, clock: 38_000 + Math.floor(at / 1000) }));
  // They do change the picture: when a few cells are enough, the clock alone triggers.
  const sensitive = play([{ image: phantom(0), ms: 30_000 }], { detector: { stableMs: 0, minChangedShare: 0.001, sameImageDistance: -1 }, disturb: (at) => ({ clock: 38_000 + Math.floor(at / 1000) }) });
  t.true(sensitive.length > 1);
});

test('each genuinely new image is taken once, even when it differs only moderately from the last', (t) => {
  // Six patients, alternating normal, fracture and dislocation, back to back with no blank between.
  const scenes = [0, 1, 2, 3, 4, 5].map((i) => ({ image: phantom(i), ms: 4000 }));
  t.deepEqual(play(scenes), [0, 1, 2, 3, 4, 5].map((scene) => ({ scene, after: 1500 })));
});

test('the same image shown again is not taken again, while it is remembered', (t) => {
  const a = phantom(0);
  const b = phantom(1);
  const c = phantom(2);
  const scenes = [a, b, a, c, b, a].map((image) => ({ image, ms: 4000 }));
  t.deepEqual(scenesTaken(play(scenes)), [0, 1, 3]);
  // Remembering only the last still: shown again after another image, it counts as new.
  t.deepEqual(scenesTaken(play(scenes, { detector: { memory: 1 } })), [0, 1, 2, 3, 4, 5]);
});

test('a blank screen is never taken, at the start or between images', (t) => {
  const scenes = [BLANK, phantom(0), BLANK, phantom(1), BLANK, phantom(0), BLANK].map((image) => ({ image, ms: 5000 }));
  t.deepEqual(scenesTaken(play(scenes)), [1, 3]);
  t.deepEqual(play([{ image: BLANK, ms: 30_000 }], { disturb: (_, rng) => ({ noise: 12, gain: rng.uniform(0.75, 1.25) }) }), []);
});

test('the perceptual hash matches the same image through noise and flicker, and tells different phantoms apart', (t) => {
  const rng = new Rng(3);
  const distance = (a: bigint, b: bigint) => [...(a ^ b).toString(2)].filter((bit) => bit === '1').length;
  const images = [0, 1, 2, 3, 4, 5].map(phantom);
  const clean = images.map((image) => perceptualHash(frameOf(image, 0, {}, rng)));
  for (const [i, image] of images.entries()) {
    const disturbed = perceptualHash(frameOf(image, 0, { noise: 8, gain: 0.8, offset: 15, cursorOn: true, clock: 40_000 }, rng));
    t.true(distance(clean[i]!, disturbed) <= DEFAULTS.sameImageDistance, `phantom ${i} through noise and flicker`);
    for (let j = i + 1; j < images.length; j++) t.true(distance(clean[i]!, clean[j]!) > DEFAULTS.sameImageDistance, `phantoms ${i} and ${j}`);
  }
});

const run = promisify(execFile);

async function phantomPng(i: number): Promise<Buffer> {
  return sharp(phantom(i), { raw: { width: WIDTH, height: HEIGHT, channels: 1 } }).toColourspace('b-w').png().toBuffer();
}

function tempFile(t: ExecutionContext, name: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cspine-still-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return path.join(dir, name);
}

test('from a recorded screen, each image shown is taken exactly once, while it is on screen, and nothing else is', async (t) => {
  const file = tempFile(t, 'screen.mkv');
  const images = await Promise.all([0, 1, 2].map(phantomPng));
  const order = [0, 1, 0, 2];
  const width = 640;
  const height = 480;
  const ranges = await writeScreenVideo(
    file,
    order.map((i) => ({ image: images[i]!, seconds: 3 })),
    { width, height, noise: 6, flicker: 0.1, blankSeconds: 2, seed: 5 },
  );
  // As the camera source reads it: the image pane as the region of interest, at 2 fps, in gray.
  const pane = screenPane(width, height);
  const filter = `fps=2,crop=${pane.width}:${pane.height}:${pane.x}:${pane.y},format=gray`;
  const { stdout } = await run('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-i', file, '-vf', filter, '-f', 'rawvideo', 'pipe:1'], { encoding: 'buffer', maxBuffer: 256 << 20 });
  const frameBytes = pane.width * pane.height;
  t.is(stdout.length % frameBytes, 0);
  const detector = new StillDetector(DEFAULTS);
  const taken: number[] = [];
  for (let n = 0; n * frameBytes < stdout.length; n++) {
    const at = n * 500;
    if (detector.push({ data: stdout.subarray(n * frameBytes, (n + 1) * frameBytes), width: pane.width, height: pane.height, at })) taken.push(at / 1000);
  }
  const sceneAt = (seconds: number) => ranges.findIndex((range) => seconds >= range.start && seconds < range.end);
  // Scene 2 shows the first image again.
  t.deepEqual(taken.map(sceneAt), [0, 1, 3]);
  for (const seconds of taken) t.true(seconds - ranges[sceneAt(seconds)]!.start >= DEFAULTS.stableMs / 1000, `taken at ${seconds} s`);
});
