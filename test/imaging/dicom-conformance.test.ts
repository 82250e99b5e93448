/**
 * pydicom's public conformance files (Debian's python3-pydicom, fetched and unpacked at test
 * time; none of their bytes are in this repository). Reference values come from dcmtk
 * (dcmdump +W writes the raw Pixel Data and each fragment to files), OpenJPEG's
 * opj_decompress, and pydicom's own uncompressed twins (MR_small*.dcm).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { ImageRejectedError } from '../../src/errors.js';
import { decodeImage } from '../../src/imaging/decode.js';
import { readDicomFrame } from '../../src/imaging/dicom/decoder.js';
import { looksLikeDicom } from '../../src/imaging/dicom/dataset.js';
import { storedValues } from '../../src/imaging/dicom/pixels.js';
import { transcode } from '../../src/tools/fixtures/dicom.js';
import { haveTools, pydicomTestFiles } from '../helpers/dicom.js';

const limits = { maxPixels: 64_000_000 };
let files: string | undefined;

test.before((t) => {
  files = pydicomTestFiles(t as unknown as ExecutionContext);
  if (!files && process.env.CI) throw new Error('pydicom conformance files are required in CI');
});

/** Resolves a conformance file, or ends the test (skip outside CI, failure in CI) when they are missing. */
function file(t: ExecutionContext, name: string): Buffer | undefined {
  if (!files) {
    if (process.env.CI) t.fail('pydicom conformance files unavailable');
    else t.pass();
    return undefined;
  }
  return fs.readFileSync(path.join(files, name));
}

async function stored(bytes: Buffer): Promise<number[]> {
  const frame = await readDicomFrame(bytes, limits, { acceptance: false });
  return [...storedValues(frame.raw, frame.layout)];
}

/** dcmdump +W: the Pixel Data value (or each fragment) as dcmtk reads it, written to files. */
function dcmtkPixelFiles(bytes: Buffer): Buffer[] {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cspine-dcmdump-'));
  try {
    fs.writeFileSync(path.join(dir, 'in.dcm'), bytes);
    execFileSync('dcmdump', ['+W', dir, path.join(dir, 'in.dcm')], { stdio: ['ignore', 'pipe', 'pipe'] });
    return fs
      .readdirSync(dir)
      .filter((name) => name.endsWith('.raw'))
      .sort((a, b) => Number(a.split('.').at(-2)) - Number(b.split('.').at(-2)))
      .map((name) => fs.readFileSync(path.join(dir, name)));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const signed16 = (raw: Buffer, count: number): number[] => Array.from({ length: count }, (_, i) => raw.readInt16LE(i * 2));

const MR_TWINS: Array<[string, string]> = [
  ['MR_small_implicit.dcm', 'implicit VR little endian'],
  ['MR_small_bigendian.dcm', 'explicit VR big endian'],
  ['MR_small_expb.dcm', 'explicit VR big endian (pydicom)'],
  ['MR_small_RLE.dcm', 'RLE lossless'],
  ['MR_small_jpeg_ls_lossless.dcm', 'JPEG-LS lossless'],
  ['MR_small_jp2klossless.dcm', 'JPEG 2000 lossless'],
  ['MR_small_padded.dcm', 'explicit VR little endian, trailing padding'],
];

test('MR_small.dcm (explicit VR LE, signed 16-bit) reads as dcmtk reads it', async (t) => {
  const bytes = file(t, 'MR_small.dcm');
  if (!bytes || !haveTools(t, 'dcmdump')) return;
  const [raw] = dcmtkPixelFiles(bytes);
  t.deepEqual(await stored(bytes), signed16(raw!, 64 * 64));
});

for (const [name, syntax] of MR_TWINS) {
  test(`${name} (${syntax}) is bit-exact against MR_small.dcm`, async (t) => {
    const twin = file(t, name);
    const original = file(t, 'MR_small.dcm');
    if (!twin || !original) return;
    t.deepEqual(await stored(twin), await stored(original));
  });
}

test('CT_small.dcm made into every lossless syntax by dcmtk comes back bit-exact', async (t) => {
  const original = file(t, 'CT_small.dcm');
  if (!original || !haveTools(t, 'dcmconv', 'dcmcjpeg', 'dcmcjpls', 'dcmcrle', 'dcmdump')) return;
  const [raw] = dcmtkPixelFiles(original);
  const reference = signed16(raw!, 128 * 128);
  t.deepEqual(await stored(original), reference);
  for (const [tool, args] of [
    ['dcmconv', ['+ti']],
    ['dcmconv', ['+tb']],
    ['dcmconv', ['+td']],
    ['dcmcjpeg', ['+e1']],
    ['dcmcjpeg', ['+el', '+sv', '3']],
    ['dcmcjpls', ['+el']],
    ['dcmcrle', []],
  ] as const) {
    t.deepEqual(await stored(transcode(original, tool, [...args])), reference, `${tool} ${args.join(' ')}`);
  }
});

for (const name of ['JPEG2000.dcm', '693_J2KI.dcm']) {
  test(`${name} (lossy JPEG 2000, signed) equals opj_decompress of its codestream`, async (t) => {
    const bytes = file(t, name);
    if (!bytes || !haveTools(t, 'dcmdump', 'opj_decompress')) return;
    const fragments = dcmtkPixelFiles(bytes).slice(1); // [0] is the basic offset table
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cspine-opj-'));
    try {
      fs.writeFileSync(path.join(dir, 'frame.j2k'), Buffer.concat(fragments));
      execFileSync('opj_decompress', ['-i', path.join(dir, 'frame.j2k'), '-o', path.join(dir, 'frame.rawl')], { stdio: ['ignore', 'pipe', 'pipe'] });
      const raw = fs.readFileSync(path.join(dir, 'frame.rawl'));
      const frame = await readDicomFrame(bytes, limits, { acceptance: false });
      const count = frame.layout.rows * frame.layout.columns;
      t.is(raw.length, count * 2);
      // Compared as stored values: both sign-extended from Bits Stored.
      const shift = 32 - frame.layout.bitsStored;
      const reference = Array.from({ length: count }, (_, i) => (raw.readUInt16LE(i * 2) << shift) >> shift);
      t.deepEqual([...storedValues(frame.raw, frame.layout)], reference);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
}

test('image_dfl.dcm (deflated secondary capture) is accepted and equals dcmtk’s inflated twin', async (t) => {
  const bytes = file(t, 'image_dfl.dcm');
  if (!bytes || !haveTools(t, 'dcmconv')) return;
  t.deepEqual(await stored(bytes), await stored(transcode(bytes, 'dcmconv', ['+te'])));
  const image = await decodeImage(bytes, limits);
  t.like(image, { format: 'dicom', width: 512, height: 512, bitsPerSample: 16 });
});

const REFUSED: Array<[string, string]> = [
  ['CT_small.dcm', 'E_DICOM_MODALITY_UNSUPPORTED'],
  ['MR_small.dcm', 'E_DICOM_MODALITY_UNSUPPORTED'],
  ['JPEG2000.dcm', 'E_DICOM_MODALITY_UNSUPPORTED'],
  ['SC_rgb_rle.dcm', 'E_DICOM_COLOUR'],
  ['SC_rgb_jpeg_dcmtk.dcm', 'E_DICOM_COLOUR'],
  ['SC_rgb_jpeg_gdcm.dcm', 'E_DICOM_COLOUR'],
  ['SC_ybr_full_422_uncompressed.dcm', 'E_DICOM_COLOUR'],
  ['GDCMJ2K_TextGBR.dcm', 'E_DICOM_COLOUR'],
  ['SC_rgb_rle_2frame.dcm', 'E_DICOM_MULTI_FRAME'],
  ['test-SR.dcm', 'E_DICOM_STRUCTURED_REPORT'],
  ['reportsi.dcm', 'E_DICOM_STRUCTURED_REPORT'],
  ['rtplan.dcm', 'E_DICOM_NO_PIXEL_DATA'],
  ['ExplVR_BigEndNoMeta.dcm', 'E_DICOM_NO_PIXEL_DATA'],
  ['ExplVR_LitEndNoMeta.dcm', 'E_DICOM_NO_PIXEL_DATA'],
  ['waveform_ecg.dcm', 'E_DICOM_NO_PIXEL_DATA'],
  ['MR_truncated.dcm', 'E_DICOM_MODALITY_UNSUPPORTED'],
  ['rtplan_truncated.dcm', 'E_DICOM_TRUNCATED'],
];

for (const [name, code] of REFUSED) {
  test(`${name} is refused with ${code}`, async (t) => {
    const bytes = file(t, name);
    if (!bytes) return;
    t.true(looksLikeDicom(bytes), 'recognised as DICOM by its content');
    const error = await decodeImage(bytes, limits).catch((caught: unknown) => caught);
    t.true(error instanceof ImageRejectedError, String(error));
    t.is<string, string>((error as ImageRejectedError).code, code, (error as Error).message);
  });
}

test('pixels of the refused kinds still decode structurally where they can (truncation, 12-bit JPEG)', async (t) => {
  const truncated = file(t, 'MR_truncated.dcm');
  const jpeg12 = file(t, 'JPGExtended.dcm');
  if (!truncated || !jpeg12) return;
  const code = (error: unknown) => (error as ImageRejectedError).code;
  t.is(code(await readDicomFrame(truncated, limits, { acceptance: false }).catch((e: unknown) => e)), 'E_DICOM_TRUNCATED');
  t.is(code(await readDicomFrame(jpeg12, limits, { acceptance: false }).catch((e: unknown) => e)), 'E_DICOM_SYNTAX_UNSUPPORTED');
});
