/**
 * Every supported transfer syntax, made at test time by the reference tools from one source
 * image: dcmtk (dcmconv, dcmcjpeg, dcmcjpls, dcmcrle) and OpenJPEG (opj_compress). Lossless
 * syntaxes must give back the source's stored values bit for bit; lossy ones must match the
 * reference decoder's output (dcmdjpeg, dcmdjpls, opj_decompress).
 */
import test, { type ExecutionContext } from 'ava';
import { decodeImage } from '../../src/imaging/decode.js';
import { readDicomFrame } from '../../src/imaging/dicom/decoder.js';
import { storedValues } from '../../src/imaging/dicom/pixels.js';
import { ImageRejectedError } from '../../src/errors.js';
import { dcmtkDecompress, dicomFile, openJpegCodestream, pattern, transcode, TS } from '../../src/tools/fixtures/dicom.js';
import { haveTools } from '../helpers/dicom.js';

const limits = { maxPixels: 64_000_000 };
const ROWS = 96;
const COLUMNS = 80;
const source12 = pattern(ROWS, COLUMNS, 12, 3);
const source8 = pattern(ROWS, COLUMNS, 8, 5);
// The full 0..255 range: dcmtk's lossy JPEG encoder shifts values so that the minimum is 0.
source8[0] = 0;
source8[source8.length - 1] = 255;
const twelveBit = dicomFile({ rows: ROWS, columns: COLUMNS, bitsStored: 12, pixels: source12, window: { center: 2048, width: 4096 } });
const eightBit = dicomFile({ rows: ROWS, columns: COLUMNS, bitsAllocated: 8, pixels: source8, modality: 'CR', sopClassUid: '1.2.840.10008.5.1.4.1.1.1' });

async function stored(bytes: Buffer): Promise<{ values: Int32Array; syntax: string }> {
  const frame = await readDicomFrame(bytes, limits);
  return { values: storedValues(frame.raw, frame.layout), syntax: frame.file.syntaxUid };
}

function maxDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

async function sameRendering(t: ExecutionContext, twin: Buffer, original: Buffer): Promise<void> {
  const [a, b] = await Promise.all([decodeImage(twin, limits), decodeImage(original, limits)]);
  t.deepEqual(Buffer.from(a.pixels.buffer), Buffer.from(b.pixels.buffer), 'same 16-bit rendering as the uncompressed original');
}

const lossless: Array<[string, string, string[], string]> = [
  ['implicit VR little endian', 'dcmconv', ['+ti'], TS.implicitLE],
  ['explicit VR big endian', 'dcmconv', ['+tb'], TS.explicitBE],
  ['deflated explicit VR little endian', 'dcmconv', ['+td'], TS.deflated],
  ['JPEG Lossless process 14 SV1', 'dcmcjpeg', ['+e1'], TS.jpegLosslessSv1],
  ['JPEG Lossless process 14, selection value 6', 'dcmcjpeg', ['+el', '+sv', '6'], TS.jpegLossless],
  ['JPEG-LS lossless', 'dcmcjpls', ['+el'], TS.jpegLsLossless],
  ['RLE lossless', 'dcmcrle', [], TS.rle],
];

test('the source itself (explicit VR little endian) reads back exactly', async (t) => {
  const { values, syntax } = await stored(twelveBit);
  t.is(syntax, TS.explicitLE);
  t.deepEqual([...values], [...source12]);
});

for (const [name, tool, args, uid] of lossless) {
  for (const [depth, original, source] of [
    ['12-bit', twelveBit, source12],
    ['8-bit', eightBit, source8],
  ] as const) {
    test(`${name}, ${depth}: bit-exact against the uncompressed twin`, async (t) => {
      if (!haveTools(t, tool)) return;
      const twin = transcode(original, tool, args);
      const { values, syntax } = await stored(twin);
      t.is(syntax, uid);
      t.deepEqual([...values], [...source]);
      await sameRendering(t, twin, original);
    });
  }
}

test('JPEG Lossless, every predictor (SV1–7), 2 to 16 bits, a point transform, white noise: bit-exact against dcmdjpeg', async (t) => {
  if (!haveTools(t, 'dcmcjpeg', 'dcmdjpeg')) return;
  const rows = 67;
  const columns = 53;
  // White noise over the full 16 bits: difference categories up to 16 and codes past the look-up table.
  let state = 7;
  const noise = Uint16Array.from({ length: rows * columns }, () => (state = (state * 1103515245 + 12345) >>> 0) >>> 16);
  const sources: Array<[string, Buffer]> = [
    ['12-bit', dicomFile({ rows, columns, bitsStored: 12, pixels: pattern(rows, columns, 12, 9) })],
    ['16-bit noise', dicomFile({ rows, columns, bitsStored: 16, pixels: noise })],
    ['2-bit', dicomFile({ rows, columns, bitsAllocated: 8, bitsStored: 2, pixels: pattern(rows, columns, 2, 4), modality: 'CR', sopClassUid: '1.2.840.10008.5.1.4.1.1.1' })],
  ];
  for (const [what, original] of sources) {
    for (const args of [...[1, 2, 3, 4, 5, 6, 7].map((sv) => ['+el', '+sv', String(sv)]), ['+el', '+sv', '4', '+pt', '1']]) {
      const twin = transcode(original, 'dcmcjpeg', args);
      const ours = await stored(twin);
      const theirs = await stored(dcmtkDecompress(twin, 'dcmdjpeg'));
      t.deepEqual(Buffer.from(ours.values.buffer), Buffer.from(theirs.values.buffer), `${what} ${args.join(' ')}`);
    }
  }
});

test('flat images, whose last code sits right before EOI, and padded codestreams decode exactly with every lossless codec', async (t) => {
  if (!haveTools(t, 'dcmcjpeg', 'dcmcjpls', 'dcmcrle')) return;
  let padded = 0;
  for (const [rows, columns, value] of [
    [80, 64, 221],
    [81, 63, 17],
    [64, 64, 200],
    [33, 47, 255],
  ] as const) {
    const source = new Array<number>(rows * columns).fill(value); // flat: the case that tripped the decoder
    const original = dicomFile({ rows, columns, bitsAllocated: 8, pixels: source, modality: 'CR', sopClassUid: '1.2.840.10008.5.1.4.1.1.1' });
    for (const [tool, args] of [
      ['dcmcjpeg', ['+e1']],
      ['dcmcjpeg', ['+el', '+sv', '6']],
      ['dcmcjpls', ['+el']],
      ['dcmcrle', []],
    ] as const) {
      const twin = transcode(original, tool, [...args]);
      if (twin.includes(Buffer.from([0xff, 0xff, 0xd9]))) padded++;
      t.deepEqual([...(await stored(twin)).values], source, `${rows}×${columns} ${tool} ${args.join(' ')}`);
    }
  }
  t.true(padded > 0, 'at least one codestream was padded with a fill byte');
});

test('JPEG-LS near-lossless (NEAR 3): identical to dcmtk’s decoding, within 3 of the source', async (t) => {
  if (!haveTools(t, 'dcmcjpls', 'dcmdjpls')) return;
  const twin = transcode(twelveBit, 'dcmcjpls', ['+en', '+md', '3']);
  const reference = transcode(twin, 'dcmdjpls', []);
  const ours = await stored(twin);
  t.is(ours.syntax, TS.jpegLsNear);
  const theirs = await stored(reference);
  t.deepEqual([...ours.values], [...theirs.values]);
  const difference = maxDifference(ours.values, source12);
  t.true(difference <= 3 && difference > 0, `max difference ${difference}`);
});

for (const [name, args, uid] of [
  ['JPEG baseline', ['+eb'], TS.jpegBaseline],
  ['JPEG extended, 8-bit', ['+ee'], TS.jpegExtended],
] as const) {
  test(`${name}: within ±2 of dcmtk’s decoding (IDCT rounding), close to the source`, async (t) => {
    if (!haveTools(t, 'dcmcjpeg', 'dcmdjpeg')) return;
    const twin = transcode(eightBit, 'dcmcjpeg', [...args, '+q', '95']);
    const reference = transcode(twin, 'dcmdjpeg', []);
    const ours = await stored(twin);
    t.is(ours.syntax, uid);
    const theirs = await stored(reference);
    const vsReference = maxDifference(ours.values, theirs.values);
    t.true(vsReference <= 2, `max difference to dcmdjpeg ${vsReference}`);
    let sum = 0;
    for (let i = 0; i < source8.length; i++) sum += Math.abs(ours.values[i]! - source8[i]!);
    t.true(sum / source8.length < 3, `mean error to the source ${(sum / source8.length).toFixed(2)}`);
  });
}

test('JPEG extended with 12-bit samples is refused with E_DICOM_SYNTAX_UNSUPPORTED (no decoder ships for it)', async (t) => {
  if (!haveTools(t, 'dcmcjpeg')) return;
  const twin = transcode(twelveBit, 'dcmcjpeg', ['+ee']);
  const error = await decodeImage(twin, limits).catch((caught: unknown) => caught);
  t.true(error instanceof ImageRejectedError);
  t.is((error as ImageRejectedError).code, 'E_DICOM_SYNTAX_UNSUPPORTED');
  t.regex((error as ImageRejectedError).message, /12-bit/);
});

test('JPEG 2000 lossless: bit-exact against the source', async (t) => {
  if (!haveTools(t, 'opj_compress', 'opj_decompress')) return;
  const { codestream } = openJpegCodestream(source12, ROWS, COLUMNS, 12);
  const twin = dicomFile({ rows: ROWS, columns: COLUMNS, bitsStored: 12, fragments: [codestream], transferSyntax: TS.j2kLossless, window: { center: 2048, width: 4096 } });
  const ours = await stored(twin);
  t.deepEqual([...ours.values], [...source12]);
  await sameRendering(t, twin, twelveBit);
});

test('JPEG 2000 lossy (20:1): identical to opj_decompress, near the source', async (t) => {
  if (!haveTools(t, 'opj_compress', 'opj_decompress')) return;
  const { codestream, decoded } = openJpegCodestream(source12, ROWS, COLUMNS, 12, { ratio: 20 });
  const twin = dicomFile({ rows: ROWS, columns: COLUMNS, bitsStored: 12, fragments: [codestream], transferSyntax: TS.j2k });
  const ours = await stored(twin);
  t.deepEqual([...ours.values], [...decoded]);
  const difference = maxDifference(ours.values, source12);
  t.true(difference > 0 && difference < 400, `max difference to the source ${difference}`);
});

test('JPEG 2000 split over several fragments decodes the same', async (t) => {
  if (!haveTools(t, 'opj_compress')) return;
  const { codestream } = openJpegCodestream(source12, ROWS, COLUMNS, 12);
  const third = Math.floor(codestream.length / 3) & ~1;
  const fragments = [codestream.subarray(0, third), codestream.subarray(third, 2 * third), codestream.subarray(2 * third)];
  const twin = dicomFile({ rows: ROWS, columns: COLUMNS, bitsStored: 12, fragments, transferSyntax: TS.j2kLossless });
  t.deepEqual([...(await stored(twin)).values], [...source12]);
});
