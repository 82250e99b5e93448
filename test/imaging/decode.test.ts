import test from 'ava';
import sharp from 'sharp';
import { ImageRejectedError } from '../../src/errors.js';
import { decodeImage } from '../../src/imaging/decode.js';
import type { ImageDecoder } from '../../src/imaging/image.js';
import { gray16Tiff, grayImage, hugePng } from '../../src/tools/fixtures/images.js';

const limits = { maxPixels: 64_000_000 };

async function rejectionCode(bytes: Buffer, maxPixels = limits.maxPixels): Promise<string> {
  const error = await decodeImage(bytes, { maxPixels }).then(
    () => undefined,
    (caught: unknown) => caught,
  );
  if (!(error instanceof ImageRejectedError)) throw new Error(`expected a rejection, got ${String(error)}`);
  return error.code;
}

for (const format of ['png', 'jpeg', 'tiff', 'webp'] as const) {
  test(`${format} decodes to one 8-bit gray channel at full size`, async (t) => {
    const image = await decodeImage(await grayImage(200, { width: 64, height: 48, format }), limits);
    t.is(image.format, format);
    t.is(image.width, 64);
    t.is(image.height, 48);
    t.is(image.bitsPerSample, 8);
    t.is(image.pixels.length, 64 * 48);
    const median = [...image.pixels].sort((a, b) => a - b)[image.pixels.length >> 1]!;
    t.true(Math.abs(median - 200) <= 2, `median ${median}`);
  });
}

test('16-bit PNG keeps all 16 bits', async (t) => {
  const samples = new Uint16Array(32 * 8);
  for (let i = 0; i < samples.length; i++) samples[i] = 40000 + i; // differences a 8-bit path would erase
  const png = await sharp(samples, { raw: { width: 32, height: 8, channels: 1 } }).toColourspace('grey16').png().toBuffer();
  for (const bytes of [png, gray16Tiff(32, 8, samples)]) {
    const image = await decodeImage(bytes, limits);
    t.is(image.bitsPerSample, 16);
    t.true(image.pixels instanceof Uint16Array);
    t.deepEqual([...image.pixels.slice(0, 4)], [40000, 40001, 40002, 40003]);
  }
});

test('16-bit RGB PNG becomes 16-bit gray', async (t) => {
  const samples = new Uint16Array(16 * 16 * 3).fill(30000);
  const png = await sharp(samples, { raw: { width: 16, height: 16, channels: 3 } }).toColourspace('rgb16').png().toBuffer();
  const image = await decodeImage(png, limits);
  t.is(image.bitsPerSample, 16);
  t.true(Math.abs(image.pixels[0]! - 30000) < 100, `got ${image.pixels[0]}`);
});

test('EXIF orientation is honoured', async (t) => {
  // 40×20, left half black, right half white, tagged "rotate 90° clockwise to display".
  const pixels = Buffer.alloc(40 * 20);
  for (let y = 0; y < 20; y++) for (let x = 20; x < 40; x++) pixels[y * 40 + x] = 255;
  const jpeg = await sharp(pixels, { raw: { width: 40, height: 20, channels: 1 } }).jpeg().withMetadata({ orientation: 6 }).toBuffer();
  const image = await decodeImage(jpeg, limits);
  t.is(image.width, 20);
  t.is(image.height, 40);
  t.true(image.pixels[5 * 20 + 10]! < 40, 'top is the former left (black)');
  t.true(image.pixels[35 * 20 + 10]! > 215, 'bottom is the former right (white)');
});

test('RGB, RGBA and CMYK become gray', async (t) => {
  const rgb = await sharp({ create: { width: 8, height: 8, channels: 3, background: { r: 200, g: 200, b: 200 } } }).png().toBuffer();
  const rgba = await sharp({ create: { width: 8, height: 8, channels: 4, background: { r: 200, g: 200, b: 200, alpha: 1 } } }).png().toBuffer();
  const cmyk = await sharp(rgb).toColourspace('cmyk').jpeg().toBuffer();
  t.is((await sharp(cmyk).metadata()).space, 'cmyk');
  // CMYK goes through colour profiles both ways, so it comes back near, not at, 200.
  for (const [bytes, tolerance] of [[rgb, 2], [rgba, 2], [cmyk, 20]] as const) {
    const image = await decodeImage(bytes, limits);
    t.is(image.pixels.length, 64);
    t.true(Math.abs(image.pixels[0]! - 200) <= tolerance, `got ${image.pixels[0]}`);
  }
});

test('the pixel limit refuses a decompression bomb from its header', async (t) => {
  t.is(await rejectionCode(hugePng(40000, 40000)), 'E_IMAGE_TOO_LARGE');
  t.is(await rejectionCode(await grayImage(100, { width: 100, height: 100 }), 5000), 'E_IMAGE_TOO_LARGE');
});

test('refused and broken inputs get distinct codes', async (t) => {
  const jpeg = await grayImage(120, { width: 256, height: 256, format: 'jpeg', seed: 3 });
  const gif = await sharp({ create: { width: 4, height: 4, channels: 3, background: '#888' } }).gif().toBuffer();
  t.is(await rejectionCode(jpeg.subarray(0, Math.floor(jpeg.length * 0.6))), 'E_IMAGE_CORRUPT');
  t.is(await rejectionCode(Buffer.from('patient list\nnot an image\n')), 'E_NOT_AN_IMAGE');
  t.is(await rejectionCode(Buffer.from('<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="9" height="9"/>')), 'E_FORMAT_UNSUPPORTED');
  t.is(await rejectionCode(gif), 'E_FORMAT_UNSUPPORTED');
  t.is(await rejectionCode(Buffer.from('%PDF-1.7\n%âãÏÓ\n1 0 obj\n')), 'E_FORMAT_UNSUPPORTED');
  t.is(await rejectionCode(Buffer.alloc(0)), 'E_FILE_EMPTY');
  const dicom = Buffer.concat([Buffer.alloc(128), Buffer.from('DICM'), Buffer.alloc(64)]);
  t.is(await rejectionCode(dicom), 'E_DICOM_MALFORMED');
});

test('a decoder that recognises the content slots in before the built-ins', async (t) => {
  const fake: ImageDecoder = {
    name: 'dicom-for-test',
    accepts: (bytes) => bytes.subarray(128, 132).toString('latin1') === 'DICM',
    decode: async () => ({ format: 'dicom', width: 2, height: 1, bitsPerSample: 16, pixels: Uint16Array.from([1, 2]) }),
  };
  const dicom = Buffer.concat([Buffer.alloc(128), Buffer.from('DICM')]);
  const image = await decodeImage(dicom, limits, [fake]);
  t.is(image.format, 'dicom');
});
