import crypto from 'node:crypto';
import test from 'ava';
import { ImageRejectedError } from '../../src/errors.js';
import { decodeImage } from '../../src/imaging/decode.js';
import { readDicomFrame } from '../../src/imaging/dicom/decoder.js';
import { storedValues } from '../../src/imaging/dicom/pixels.js';
import type { DecodedImage } from '../../src/imaging/image.js';
import { dicomFile, SOP_CLASS, type DicomSpec } from '../../src/tools/fixtures/dicom.js';

const limits = { maxPixels: 64_000_000 };

async function decode(spec: DicomSpec | Buffer): Promise<DecodedImage> {
  return decodeImage(Buffer.isBuffer(spec) ? spec : dicomFile(spec), limits);
}

async function rejection(bytes: Buffer, maxPixels = limits.maxPixels): Promise<ImageRejectedError> {
  const error = await decodeImage(bytes, { maxPixels }).then(
    () => undefined,
    (caught: unknown) => caught,
  );
  if (!(error instanceof ImageRejectedError)) throw new Error(`expected a rejection, got ${String(error)}`);
  return error;
}

/** PS3.3 C.11.2.1.2.1, the LINEAR window, onto 0..65535. */
const linear = (x: number, c: number, w: number): number => {
  if (x <= c - 0.5 - (w - 1) / 2) return 0;
  if (x > c - 0.5 + (w - 1) / 2) return 65535;
  return Math.round(((x - (c - 0.5)) / (w - 1) + 0.5) * 65535);
};

const row = (...values: number[]): Pick<DicomSpec, 'rows' | 'columns' | 'pixels'> => ({ rows: 1, columns: values.length, pixels: values });

test('a DX file decodes to 16-bit gray at full size, with its non-identifying attributes apart from its UIDs', async (t) => {
  const image = await decode({
    ...row(0, 1000, 2000, 4095),
    bitsStored: 12,
    bodyPart: 'CSPINE',
    viewPosition: 'LL',
    acquisition: { date: '20240131', time: '142530.25' },
    patientName: 'DOE^JANE',
  });
  t.is(image.format, 'dicom');
  t.is(image.bitsPerSample, 16);
  t.true(image.pixels instanceof Uint16Array);
  t.deepEqual([image.width, image.height], [4, 1]);
  t.deepEqual(image.dicom!.attributes, {
    modality: 'DX',
    sopClassUid: SOP_CLASS.dx,
    bodyPartExamined: 'CSPINE',
    viewPosition: 'LL',
    acquisitionDateTime: '2024-01-31T14:25:30',
    transferSyntaxUid: '1.2.840.10008.1.2.1',
    photometric: 'MONOCHROME2',
    bitsStored: 12,
  });
  t.deepEqual(image.dicom!.identifiers, { studyInstanceUid: '1.2.826.0.1.3680043.10.1091.2.1', sopInstanceUid: '1.2.826.0.1.3680043.10.1091.1.1', patientId: 'TEST-0001' });
  t.false(JSON.stringify(image.dicom!.attributes).includes('DOE'));
  // The UIDs and the PatientID never serialise with the image (logs, JSON): only a deliberate read sees them.
  t.false(JSON.stringify(image.dicom).includes('1.2.826.0.1.3680043.10.1091'));
  t.false(JSON.stringify(image).includes('TEST-0001'));
});

test('no window: the data’s full range maps onto 0..65535, and detail below 1/256 survives', async (t) => {
  const image = await decode({ ...row(100, 101, 102, 1100), bitsStored: 12 });
  t.deepEqual([...image.pixels], [0, 66, 131, 65535]);
});

test('unused high bits (overlays, junk) are masked before anything else', async (t) => {
  const clean = [0, 1000, 2000, 4095];
  const junk = clean.map((v, i) => v | ((i + 1) << 12)); // bits 12–15 set differently per pixel
  const a = await decode({ ...row(...clean), bitsStored: 12, window: { center: 2048, width: 4096 } });
  const b = await decode({ ...row(...junk), bitsStored: 12, window: { center: 2048, width: 4096 } });
  t.deepEqual([...b.pixels], [...a.pixels]);
});

test('High Bit below the top of the word: the stored bits are shifted down', async (t) => {
  // BitsStored 12 at HighBit 13: the value sits in bits 2–13, junk in 0–1 and 14–15.
  const values = [0, 1, 2048, 4095];
  const words = values.map((v) => (v << 2) | 0b11 | 0xc000);
  const frame = await readDicomFrame(dicomFile({ ...row(...words), bitsStored: 12, highBit: 13 }), limits);
  t.deepEqual([...storedValues(frame.raw, frame.layout)], values);
});

test('Pixel Representation 1: 12-bit two’s complement is sign-extended, junk above it ignored', async (t) => {
  const values = [-2048, -1, 0, 2047];
  const words = values.map((v) => (v & 0xfff) | 0xa000);
  const frame = await readDicomFrame(dicomFile({ ...row(...words), bitsStored: 12, pixelRepresentation: 1 }), limits);
  t.deepEqual([...storedValues(frame.raw, frame.layout)], values);
  // Full range: -2048 is black, 2047 white.
  const image = await decode({ ...row(...words), bitsStored: 12, pixelRepresentation: 1 });
  t.deepEqual([...image.pixels], [0, Math.round((2047 / 4095) * 65535), Math.round((2048 / 4095) * 65535), 65535]);
});

test('Modality LUT (slope/intercept) comes before the window, which is applied to its output', async (t) => {
  const stored = [0, 500, 1000, 1500, 2000, 4095];
  const image = await decode({ ...row(...stored), bitsStored: 12, rescale: { slope: 2, intercept: -1000 }, window: { center: 1000, width: 2001 } });
  t.deepEqual(
    [...image.pixels],
    stored.map((v) => linear(v * 2 - 1000, 1000, 2001)),
  );
});

test('the first of several windows is used; LINEAR_EXACT and SIGMOID as PS3.3 defines them', async (t) => {
  const stored = [0, 900, 1000, 1100, 4095];
  const first = await decode({ ...row(...stored), bitsStored: 12, window: { center: '1000\\3000', width: '200\\50' } });
  t.deepEqual([...first.pixels], stored.map((v) => linear(v, 1000, 200)));
  const exact = await decode({ ...row(...stored), bitsStored: 12, window: { center: 1000, width: 200, fn: 'LINEAR_EXACT' } });
  t.deepEqual([...exact.pixels], [0, 0, 32768, 65535, 65535]);
  const sigmoid = await decode({ ...row(...stored), bitsStored: 12, window: { center: 1000, width: 200, fn: 'SIGMOID' } });
  t.deepEqual([...sigmoid.pixels], stored.map((v) => Math.round(65535 / (1 + Math.exp((-4 * (v - 1000)) / 200)))));
});

test('MONOCHROME1 is inverted after VOI: the window’s low end becomes white', async (t) => {
  const stored = [0, 900, 1000, 1100, 4095];
  const mono2 = await decode({ ...row(...stored), bitsStored: 12, window: { center: 1000, width: 200 } });
  const mono1 = await decode({ ...row(...stored), bitsStored: 12, window: { center: 1000, width: 200 }, photometric: 'MONOCHROME1' });
  t.deepEqual([...mono1.pixels], [...mono2.pixels].map((v) => 65535 - v));
  t.is(mono1.pixels[0], 65535);
});

test('a Modality LUT Sequence replaces slope/intercept, clamping outside its range', async (t) => {
  // 4 entries from stored value 10: 10→0, 11→100, 12→400, 13→900; the window then spans 0..900.
  const image = await decode({
    ...row(5, 10, 11, 12, 13, 20),
    bitsStored: 8,
    bitsAllocated: 16,
    modalityLut: { firstMapped: 10, bits: 16, data: [0, 100, 400, 900] },
    rescale: { slope: 50, intercept: 7 }, // must be ignored
  });
  const expected = [0, 0, 100, 400, 900, 900].map((m) => Math.round((m / 900) * 65535));
  t.deepEqual([...image.pixels], expected);
});

test('a VOI LUT Sequence is used when there is no window, scaled by its bit depth', async (t) => {
  const image = await decode({ ...row(0, 1, 2, 3, 9), bitsStored: 8, voiLut: { firstMapped: 0, bits: 12, data: [0, 1000, 2000, 4095] } });
  t.deepEqual([...image.pixels], [0, 1000, 2000, 4095, 4095].map((v) => Math.round((v / 4095) * 65535)));
});

test('malformed vendor VOI LUTs are guarded: wrong bit depth, too few entries, one value only', async (t) => {
  // Declares 16 bits for data that never passes 255: taken as 8-bit.
  const eightBit = await decode({ ...row(0, 1, 2), bitsStored: 8, voiLut: { firstMapped: 0, bits: 16, data: [0, 128, 255] } });
  t.deepEqual([...eightBit.pixels], [0, Math.round((128 / 255) * 65535), 65535]);
  // Declares 8 bits for 12-bit data: the data's depth wins instead of overflowing.
  const deeper = await decode({ ...row(0, 1, 2), bitsStored: 8, voiLut: { firstMapped: 0, bits: 8, data: [0, 2048, 4095] } });
  t.deepEqual([...deeper.pixels], [0, Math.round((2048 / 4095) * 65535), 65535]);
  // Declares 4096 entries but holds 3: the data's length is used.
  const short = await decode({ ...row(0, 1, 2, 200), bitsStored: 8, voiLut: { firstMapped: 0, bits: 8, data: [0, 100, 255], entries: 4096 } });
  t.deepEqual([...short.pixels], [0, Math.round((100 / 255) * 65535), 65535, 65535]);
  // Maps everything to one value: ignored, so the full range applies.
  const flat = await decode({ ...row(10, 20), bitsStored: 8, voiLut: { firstMapped: 0, bits: 8, data: [7, 7, 7] } });
  t.deepEqual([...flat.pixels], [0, 65535]);
  // An unusable window (width 0) falls through to the next option, not to a black image.
  const badWindow = await decode({ ...row(10, 20), bitsStored: 8, window: { center: 15, width: 0 } });
  t.deepEqual([...badWindow.pixels], [0, 65535]);
});

test('8-bit secondary capture of a CR, and CR itself, are taken', async (t) => {
  const sc = await decode({ ...row(0, 128, 255), bitsAllocated: 8, sopClassUid: SOP_CLASS.sc, modality: 'CR' });
  t.deepEqual([...sc.pixels], [0, Math.round((128 / 255) * 65535), 65535]);
  const scOt = await decode({ ...row(0, 255), bitsAllocated: 8, sopClassUid: SOP_CLASS.sc, modality: 'OT' });
  t.is(scOt.width, 2);
  const cr = await decode({ ...row(0, 4095), bitsStored: 12, sopClassUid: SOP_CLASS.cr, modality: 'CR' });
  t.deepEqual([...cr.pixels], [0, 65535]);
});

test('recognised by content: a bare dataset without preamble or file meta', async (t) => {
  const bare = await decode(dicomFile({ ...row(0, 4095), bitsStored: 12, bare: true }));
  t.is(bare.format, 'dicom');
  t.deepEqual([...bare.pixels], [0, 65535]);
});

const kinds: Array<[string, DicomSpec, string]> = [
  ['DX For Processing (SOP class)', { ...row(1, 2), sopClassUid: SOP_CLASS.dxProcessing }, 'E_DICOM_FOR_PROCESSING'],
  ['DX For Processing (Presentation Intent Type)', { ...row(1, 2), presentationIntent: 'FOR PROCESSING' }, 'E_DICOM_FOR_PROCESSING'],
  ['a structured report', { rows: 0, columns: 0, sopClassUid: SOP_CLASS.sr, modality: 'SR' }, 'E_DICOM_STRUCTURED_REPORT'],
  ['a DX without Pixel Data', { rows: 2, columns: 2 }, 'E_DICOM_NO_PIXEL_DATA'],
  ['multi-frame', { rows: 1, columns: 2, pixels: [1, 2, 3, 4], frames: 2 }, 'E_DICOM_MULTI_FRAME'],
  ['RGB', { rows: 1, columns: 1, bitsAllocated: 8, pixels: [1, 2, 3, 0], samplesPerPixel: 3, photometric: 'RGB' }, 'E_DICOM_COLOUR'],
  ['YBR_FULL_422', { rows: 1, columns: 2, bitsAllocated: 8, pixels: [1, 2, 3, 4], samplesPerPixel: 3, photometric: 'YBR_FULL_422' }, 'E_DICOM_COLOUR'],
  ['PALETTE COLOR', { ...row(1, 2), photometric: 'PALETTE COLOR' }, 'E_DICOM_COLOUR'],
  ['CT', { ...row(1, 2), sopClassUid: SOP_CLASS.ct, modality: 'CT' }, 'E_DICOM_MODALITY_UNSUPPORTED'],
  ['MR', { ...row(1, 2), sopClassUid: SOP_CLASS.mr, modality: 'MR' }, 'E_DICOM_MODALITY_UNSUPPORTED'],
  ['a DX SOP class that says MG', { ...row(1, 2), modality: 'MG' }, 'E_DICOM_MODALITY_UNSUPPORTED'],
  ['a secondary capture of a CT', { ...row(1, 2), sopClassUid: SOP_CLASS.sc, modality: 'CT' }, 'E_DICOM_MODALITY_UNSUPPORTED'],
  ['32-bit words', { ...row(1, 2), bitsAllocated: 32 as 16, bitsStored: 32 }, 'E_PIXEL_FORMAT_UNSUPPORTED'],
  ['Bits Stored over Bits Allocated', { ...row(1, 2), bitsStored: 17 }, 'E_DICOM_MALFORMED'],
];
for (const [name, spec, code] of kinds) {
  test(`refused with its own code: ${name} → ${code}`, async (t) => {
    const error = await rejection(dicomFile(spec));
    t.is<string, string>(error.code, code, error.message);
    t.notRegex(error.message, /ANON|TEST-0001|19000101/, 'no patient data in the message');
  });
}

test('malformed files get distinct codes, each fast and without allocating what the header claims', async (t) => {
  const valid = dicomFile({ rows: 64, columns: 64, pixels: new Uint16Array(64 * 64).fill(100), bitsStored: 12 });
  const random = crypto.randomBytes(4096);
  random.write('DICX', 128); // not the marker, by chance or otherwise
  const huge = dicomFile({ rows: 60000, columns: 60000, pixels: [1, 2, 3, 4] });
  const cases: Array<[string, Buffer, string, number?]> = [
    ['empty', Buffer.alloc(0), 'E_FILE_EMPTY'],
    ['random bytes', random, 'E_NOT_AN_IMAGE'],
    ['truncated in the header', valid.subarray(0, 300), 'E_DICOM_TRUNCATED'],
    ['truncated in the pixel data', valid.subarray(0, valid.length - 1000), 'E_DICOM_TRUNCATED'],
    ['60000×60000 declared, 8 bytes of pixels', huge, 'E_IMAGE_TOO_LARGE'],
    ['60000×60000 under a limit that allows it', huge, 'E_DICOM_PIXEL_DATA_SHORT', 4_000_000_000],
    ['no pixel data', dicomFile({ rows: 64, columns: 64 }), 'E_DICOM_NO_PIXEL_DATA'],
    ['DICM but nothing else', Buffer.concat([Buffer.alloc(128), Buffer.from('DICM'), Buffer.alloc(64)]), 'E_DICOM_MALFORMED'],
  ];
  const codes = new Map<string, string>();
  for (const [name, bytes, code, maxPixels] of cases) {
    const before = process.memoryUsage().arrayBuffers;
    const started = performance.now();
    const error = await rejection(bytes, maxPixels);
    const ms = performance.now() - started;
    const grew = process.memoryUsage().arrayBuffers - before;
    t.is<string, string>(error.code, code, `${name}: ${error.message}`);
    t.true(ms < 2000, `${name} took ${ms.toFixed(0)} ms`);
    t.true(grew < 32 * 1024 * 1024, `${name} allocated ${(grew / 1e6).toFixed(0)} MB`);
    codes.set(name, error.code);
  }
  t.is(new Set(codes.values()).size, codes.size - 1, 'distinct codes (both truncations share one)');
});

test('a damaged codestream is E_DICOM_PIXEL_DATA_CORRUPT, a header that lies about its size too', async (t) => {
  const rle = (fragment: Buffer): Buffer => dicomFile({ rows: 2, columns: 2, bitsAllocated: 8, fragments: [fragment], transferSyntax: '1.2.840.10008.1.2.5' });
  const header = Buffer.alloc(64);
  header.writeUInt32LE(1, 0);
  header.writeUInt32LE(64, 4);
  t.is((await rejection(rle(Buffer.concat([header, Buffer.from([0x01, 5, 6])])))).code, 'E_DICOM_PIXEL_DATA_CORRUPT');
  const good = await decode(rle(Buffer.concat([header, Buffer.from([0x03, 0, 85, 170, 255])])));
  t.deepEqual([...good.pixels], [0, 21845, 43690, 65535]);
  // A JPEG-LS frame header claiming 30000×30000 inside a 2×2 DICOM: refused before the codec runs.
  const sof = Buffer.from([0xff, 0xd8, 0xff, 0xf7, 0x00, 0x0b, 0x08, 0x75, 0x30, 0x75, 0x30, 0x01, 0x01, 0x11, 0x00]);
  const lie = dicomFile({ rows: 2, columns: 2, bitsAllocated: 8, fragments: [sof], transferSyntax: '1.2.840.10008.1.2.4.80' });
  const error = await rejection(lie);
  t.is(error.code, 'E_DICOM_PIXEL_DATA_CORRUPT');
  t.regex(error.message, /30000×30000/);
});

test('an unknown transfer syntax is E_DICOM_SYNTAX_UNSUPPORTED', async (t) => {
  const mpeg = dicomFile({ rows: 2, columns: 2, fragments: [Buffer.from([0, 0, 1, 0xb3])], transferSyntax: '1.2.840.10008.1.2.4.100' });
  t.is((await rejection(mpeg)).code, 'E_DICOM_SYNTAX_UNSUPPORTED');
});
