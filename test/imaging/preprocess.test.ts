import test from 'ava';
import { preprocessImage, type PreprocessSpec } from '../../src/imaging/preprocess.js';
import type { DecodedImage } from '../../src/imaging/image.js';

function spec(overrides: Partial<PreprocessSpec['preprocess']> = {}, input: Partial<PreprocessSpec['input']> = {}): PreprocessSpec {
  return {
    input: { name: 'input', layout: 'NCHW', shape: [1, 3, 4, 4], ...input },
    preprocess: { resize: 'stretch', mean: [0], std: [1], ...overrides },
  };
}

const flat = (value: number, width = 8, height = 8, bits: 8 | 16 = 8): DecodedImage => ({
  format: 'png',
  width,
  height,
  bitsPerSample: bits,
  pixels: bits === 16 ? new Uint16Array(width * height).fill(value) : new Uint8Array(width * height).fill(value),
});

test('scales by the source bit depth, then applies per-channel mean and std', async (t) => {
  const tensor = await preprocessImage(flat(51), spec({ mean: [0.1, 0.2, 0.3], std: [0.5, 0.5, 0.25] }));
  t.is(tensor.length, 3 * 16);
  t.true(Math.abs(tensor[0]! - (0.2 - 0.1) / 0.5) < 1e-6);
  t.true(Math.abs(tensor[16]! - (0.2 - 0.2) / 0.5) < 1e-6);
  t.true(Math.abs(tensor[32]! - (0.2 - 0.3) / 0.25) < 1e-6);
  const sixteen = await preprocessImage(flat(13107, 8, 8, 16), spec());
  t.true(Math.abs(sixteen[0]! - 0.2) < 1e-6, '13107 / 65535 = 0.2');
});

test('16-bit detail survives until the final resize', async (t) => {
  // Two 16-bit levels that collapse to the same 8-bit value.
  const low = await preprocessImage(flat(30000, 8, 8, 16), spec());
  const high = await preprocessImage(flat(30100, 8, 8, 16), spec());
  t.is(Math.round((30000 / 65535) * 255), Math.round((30100 / 65535) * 255));
  t.true(high[0]! - low[0]! > 0.001);
});

test('NHWC interleaves channels, NCHW keeps planes', async (t) => {
  const image = flat(255, 4, 4);
  const nhwc = await preprocessImage(image, spec({ mean: [0, 0.5, 1], std: [1] }, { layout: 'NHWC', shape: [1, 4, 4, 3] }));
  t.deepEqual([...nhwc.slice(0, 6)].map((v) => Math.round(v * 100) / 100), [1, 0.5, 0, 1, 0.5, 0]);
  const nchw = await preprocessImage(image, spec({ mean: [0, 0.5, 1], std: [1] }));
  t.deepEqual([...nchw.slice(0, 2)], [1, 1]);
  t.is(Math.round(nchw[16]! * 100) / 100, 0.5);
});

test('letterbox keeps aspect and pads black; stretch and center-crop fill', async (t) => {
  // 8 wide × 2 high, white: letterboxed into 4×4 it fills a 4×1 band in the middle.
  const wide = flat(255, 8, 2);
  const letterbox = await preprocessImage(wide, spec({ resize: 'letterbox' }));
  const rows = [0, 1, 2, 3].map((y) => letterbox[y * 4 + 1]!);
  t.is(rows.filter((v) => v > 0.9).length, 1, `rows ${rows.join(',')}`);
  t.is(rows.filter((v) => v < 0.1).length, 3);
  for (const resize of ['stretch', 'center-crop'] as const) {
    const tensor = await preprocessImage(wide, spec({ resize }));
    t.true(tensor.slice(0, 16).every((v) => v > 0.9), resize);
  }
});
