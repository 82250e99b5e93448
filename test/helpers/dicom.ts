/**
 * DICOM files for tests: written here from attributes and raw pixel words, then transcoded by
 * dcmtk (the reference implementation, Debian package dcmtk) or wrapped around codestreams from
 * OpenJPEG's tools (libopenjp2-tools). Missing tools fail the test in CI and skip it elsewhere.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ExecutionContext } from 'ava';

export const TS = {
  implicitLE: '1.2.840.10008.1.2',
  explicitLE: '1.2.840.10008.1.2.1',
  deflated: '1.2.840.10008.1.2.1.99',
  explicitBE: '1.2.840.10008.1.2.2',
  jpegBaseline: '1.2.840.10008.1.2.4.50',
  jpegExtended: '1.2.840.10008.1.2.4.51',
  jpegLossless: '1.2.840.10008.1.2.4.57',
  jpegLosslessSv1: '1.2.840.10008.1.2.4.70',
  jpegLsLossless: '1.2.840.10008.1.2.4.80',
  jpegLsNear: '1.2.840.10008.1.2.4.81',
  j2kLossless: '1.2.840.10008.1.2.4.90',
  j2k: '1.2.840.10008.1.2.4.91',
  rle: '1.2.840.10008.1.2.5',
} as const;

export const SOP_CLASS = {
  cr: '1.2.840.10008.5.1.4.1.1.1',
  dx: '1.2.840.10008.5.1.4.1.1.1.1',
  dxProcessing: '1.2.840.10008.5.1.4.1.1.1.1.1',
  sc: '1.2.840.10008.5.1.4.1.1.7',
  ct: '1.2.840.10008.5.1.4.1.1.2',
  mr: '1.2.840.10008.5.1.4.1.1.4',
  sr: '1.2.840.10008.5.1.4.1.1.88.11',
} as const;

export interface Lut {
  firstMapped: number;
  bits: number;
  data: number[];
  /** Declared entry count when it should differ from data.length (a faulty LUT). */
  entries?: number;
}

export interface DicomSpec {
  rows: number;
  columns: number;
  bitsAllocated?: 8 | 16;
  bitsStored?: number;
  highBit?: number;
  pixelRepresentation?: 0 | 1;
  photometric?: string;
  samplesPerPixel?: number;
  /** Raw sample words as stored (junk above HighBit included). Omit for no Pixel Data at all. */
  pixels?: ArrayLike<number>;
  /** Encapsulated fragments instead of native pixels (with a compressed transferSyntax). */
  fragments?: Uint8Array[];
  transferSyntax?: string;
  modality?: string | null;
  sopClassUid?: string;
  bodyPart?: string;
  viewPosition?: string;
  presentationIntent?: string;
  frames?: number;
  window?: { center: number | string; width: number | string; fn?: string };
  rescale?: { slope: number; intercept: number };
  modalityLut?: Lut;
  voiLut?: Lut;
  patientName?: string;
  patientId?: string;
  birthDate?: string;
  studyUid?: string;
  sopInstanceUid?: string;
  acquisition?: { date: string; time: string };
  /** Leave out the 128-byte preamble, "DICM" and the file meta group. */
  bare?: boolean;
}

type Value = Buffer | Buffer[] /* SQ items */;
interface El {
  tag: number;
  vr: string;
  value: Value;
}

const text = (value: string, pad = ' '): Buffer => Buffer.from(value.length % 2 ? value + pad : value, 'latin1');
const uid = (value: string): Buffer => text(value, '\0');
const us = (...values: number[]): Buffer => {
  const b = Buffer.alloc(values.length * 2);
  values.forEach((v, i) => b.writeUInt16LE(v & 0xffff, i * 2));
  return b;
};
const el = (group: number, element: number, vr: string, value: Value): El => ({ tag: ((group << 16) | element) >>> 0, vr, value });
const LONG = new Set(['OB', 'OW', 'SQ', 'UN', 'UT', 'UC', 'UR', 'OD', 'OF', 'OL', 'OV']);

function encode(elements: El[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of [...elements].sort((a, b) => a.tag - b.tag)) {
    const value = Array.isArray(e.value)
      ? Buffer.concat(
          e.value.map((item) => {
            const header = Buffer.alloc(8);
            header.writeUInt16LE(0xfffe, 0);
            header.writeUInt16LE(0xe000, 2);
            header.writeUInt32LE(item.length, 4);
            return Buffer.concat([header, item]);
          }),
        )
      : e.value;
    const long = LONG.has(e.vr);
    const header = Buffer.alloc(long ? 12 : 8);
    header.writeUInt16LE(e.tag >>> 16, 0);
    header.writeUInt16LE(e.tag & 0xffff, 2);
    header.write(e.vr, 4, 'latin1');
    if (long) header.writeUInt32LE(value.length, 8);
    else header.writeUInt16LE(value.length, 6);
    parts.push(header, value);
  }
  return Buffer.concat(parts);
}

function lutItem(lut: Lut): Buffer {
  const descriptor = us(lut.entries ?? lut.data.length, lut.firstMapped, lut.bits);
  return encode([el(0x0028, 0x3002, 'US', descriptor), el(0x0028, 0x3006, 'OW', us(...lut.data))]);
}

function encapsulated(fragments: Uint8Array[]): Buffer {
  const item = (bytes: Uint8Array): Buffer => {
    const header = Buffer.alloc(8);
    header.writeUInt16LE(0xfffe, 0);
    header.writeUInt16LE(0xe000, 2);
    header.writeUInt32LE(bytes.length + (bytes.length % 2), 4);
    return Buffer.concat([header, bytes, Buffer.alloc(bytes.length % 2)]);
  };
  const header = Buffer.alloc(12);
  header.writeUInt16LE(0x7fe0, 0);
  header.writeUInt16LE(0x0010, 2);
  header.write('OB', 4, 'latin1');
  header.writeUInt32LE(0xffffffff, 8);
  const end = Buffer.from([0xfe, 0xff, 0xdd, 0xe0, 0, 0, 0, 0]);
  return Buffer.concat([header, item(new Uint8Array(0)), ...fragments.map(item), end]);
}

/** A DICOM Part 10 file in explicit VR little endian (or wrapping `fragments` in `transferSyntax`). */
export function dicomFile(spec: DicomSpec): Buffer {
  const bitsAllocated = spec.bitsAllocated ?? 16;
  const bitsStored = spec.bitsStored ?? bitsAllocated;
  const sopClass = spec.sopClassUid ?? SOP_CLASS.dx;
  const sopInstance = spec.sopInstanceUid ?? '1.2.826.0.1.3680043.10.1091.1.1';
  const elements: El[] = [
    el(0x0008, 0x0016, 'UI', uid(sopClass)),
    el(0x0008, 0x0018, 'UI', uid(sopInstance)),
    el(0x0010, 0x0010, 'PN', text(spec.patientName ?? 'ANON^TEST')),
    el(0x0010, 0x0020, 'LO', text(spec.patientId ?? 'TEST-0001')),
    el(0x0010, 0x0030, 'DA', text(spec.birthDate ?? '19000101')),
    el(0x0020, 0x000d, 'UI', uid(spec.studyUid ?? '1.2.826.0.1.3680043.10.1091.2.1')),
    el(0x0028, 0x0002, 'US', us(spec.samplesPerPixel ?? 1)),
    el(0x0028, 0x0004, 'CS', text(spec.photometric ?? 'MONOCHROME2')),
    el(0x0028, 0x0010, 'US', us(spec.rows)),
    el(0x0028, 0x0011, 'US', us(spec.columns)),
    el(0x0028, 0x0100, 'US', us(bitsAllocated)),
    el(0x0028, 0x0101, 'US', us(bitsStored)),
    el(0x0028, 0x0102, 'US', us(spec.highBit ?? bitsStored - 1)),
    el(0x0028, 0x0103, 'US', us(spec.pixelRepresentation ?? 0)),
  ];
  if (spec.modality !== null) elements.push(el(0x0008, 0x0060, 'CS', text(spec.modality ?? 'DX')));
  if (spec.bodyPart !== undefined) elements.push(el(0x0018, 0x0015, 'CS', text(spec.bodyPart)));
  if (spec.viewPosition !== undefined) elements.push(el(0x0018, 0x5101, 'CS', text(spec.viewPosition)));
  if (spec.presentationIntent !== undefined) elements.push(el(0x0008, 0x0068, 'CS', text(spec.presentationIntent)));
  if (spec.frames !== undefined) elements.push(el(0x0028, 0x0008, 'IS', text(String(spec.frames))));
  if (spec.acquisition) elements.push(el(0x0008, 0x0022, 'DA', text(spec.acquisition.date)), el(0x0008, 0x0032, 'TM', text(spec.acquisition.time)));
  if (spec.window) {
    elements.push(el(0x0028, 0x1050, 'DS', text(String(spec.window.center))), el(0x0028, 0x1051, 'DS', text(String(spec.window.width))));
    if (spec.window.fn) elements.push(el(0x0028, 0x1056, 'CS', text(spec.window.fn)));
  }
  if (spec.rescale) {
    elements.push(el(0x0028, 0x1052, 'DS', text(String(spec.rescale.intercept))), el(0x0028, 0x1053, 'DS', text(String(spec.rescale.slope))));
    elements.push(el(0x0028, 0x1054, 'LO', text('US')));
  }
  if (spec.modalityLut) elements.push(el(0x0028, 0x3000, 'SQ', [lutItem(spec.modalityLut)]));
  if (spec.voiLut) elements.push(el(0x0028, 0x3010, 'SQ', [lutItem(spec.voiLut)]));
  let pixelData: Buffer = Buffer.alloc(0);
  if (spec.fragments) {
    pixelData = encapsulated(spec.fragments);
  } else if (spec.pixels) {
    const words = spec.pixels;
    let raw: Buffer;
    if (bitsAllocated === 8) {
      raw = Buffer.from(Uint8Array.from(words));
    } else {
      raw = Buffer.alloc(words.length * 2);
      for (let i = 0; i < words.length; i++) raw.writeUInt16LE(words[i]! & 0xffff, i * 2);
    }
    elements.push(el(0x7fe0, 0x0010, bitsAllocated === 8 ? 'OB' : 'OW', raw.length % 2 ? Buffer.concat([raw, Buffer.alloc(1)]) : raw));
  }
  const dataset = Buffer.concat([encode(elements), pixelData]);
  if (spec.bare) return dataset;

  const ts = spec.transferSyntax ?? TS.explicitLE;
  const metaBody = encode([
    el(0x0002, 0x0001, 'OB', Buffer.from([0, 1])),
    el(0x0002, 0x0002, 'UI', uid(sopClass)),
    el(0x0002, 0x0003, 'UI', uid(sopInstance)),
    el(0x0002, 0x0010, 'UI', uid(ts)),
    el(0x0002, 0x0012, 'UI', uid('1.2.826.0.1.3680043.10.1091')),
  ]);
  const groupLength = encode([el(0x0002, 0x0000, 'UL', Buffer.from(new Uint32Array([metaBody.length]).buffer))]);
  return Buffer.concat([Buffer.alloc(128), Buffer.from('DICM'), groupLength, metaBody, dataset]);
}

/** A smooth, deterministic test pattern of `bits`-bit values with every corner different. */
export function pattern(rows: number, columns: number, bits: number, seed = 1): Uint16Array {
  const out = new Uint16Array(rows * columns);
  const max = 2 ** bits - 1;
  let state = seed * 2654435761;
  for (let y = 0; y < rows; y++) {
    for (let x = 0; x < columns; x++) {
      state = (state * 1103515245 + 12345) >>> 0;
      const smooth = (Math.sin(x / 7 + seed) + Math.cos(y / 5) + 2) / 4; // 0..1
      const ramp = (x + 2 * y) / (columns + 2 * rows);
      const noise = (state >>> 16) / 65536 - 0.5;
      out[y * columns + x] = Math.max(0, Math.min(max, Math.round((0.55 * smooth + 0.4 * ramp + 0.05 * noise) * max)));
    }
  }
  return out;
}

export function toolPath(name: string): string | undefined {
  for (const dir of [...(process.env.PATH ?? '').split(path.delimiter), '/usr/bin', '/usr/local/bin']) {
    const candidate = path.join(dir, name);
    if (dir && fs.existsSync(candidate)) return candidate;
  }
  return undefined;
}

/** True when every tool is there; else fails the test in CI or skips it elsewhere. */
export function haveTools(t: ExecutionContext, ...names: string[]): boolean {
  const missing = names.filter((name) => !toolPath(name));
  if (missing.length === 0) return true;
  const message = `${missing.join(', ')} not installed (apt-get install dcmtk libopenjp2-tools; .ci/run does)`;
  if (process.env.CI) {
    t.fail(message);
  } else {
    t.log(`skipped: ${message}`);
    t.pass();
  }
  return false;
}

/** Runs a dcmtk-style tool `input → output` on temporary files. */
export function transcode(input: Buffer, tool: string, args: string[]): Buffer {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cspine-dcmtk-'));
  try {
    const source = path.join(dir, 'in.dcm');
    const target = path.join(dir, 'out.dcm');
    fs.writeFileSync(source, input);
    execFileSync(tool, [...args, source, target], { stdio: ['ignore', 'pipe', 'pipe'] });
    return fs.readFileSync(target);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** A JPEG 2000 codestream (and OpenJPEG's own decoding of it) for 16-bit gray samples. */
export function openJpegCodestream(samples: Uint16Array, rows: number, columns: number, bits: number, options: { ratio?: number } = {}): { codestream: Buffer; decoded: Uint16Array } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cspine-opj-'));
  try {
    const pgm = path.join(dir, 'in.pgm');
    const maxval = 2 ** bits - 1;
    const header = Buffer.from(`P5\n${columns} ${rows}\n${maxval}\n`, 'latin1');
    const body = Buffer.alloc(samples.length * 2);
    samples.forEach((v, i) => body.writeUInt16BE(v, i * 2));
    fs.writeFileSync(pgm, Buffer.concat([header, body]));
    const j2k = path.join(dir, 'out.j2k');
    const args = ['-i', pgm, '-o', j2k];
    if (options.ratio) args.push('-r', String(options.ratio), '-I');
    execFileSync('opj_compress', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const back = path.join(dir, 'back.pgm');
    execFileSync('opj_decompress', ['-i', j2k, '-o', back], { stdio: ['ignore', 'pipe', 'pipe'] });
    return { codestream: fs.readFileSync(j2k), decoded: readPgm16(fs.readFileSync(back)) };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function readPgm16(bytes: Buffer): Uint16Array {
  // OpenJPEG writes a "#OpenJPEG-…" comment line into the header.
  const match = /^P5\s+(?:#[^\n]*\n\s*)*(\d+)\s+(\d+)\s+(\d+)\s/.exec(bytes.subarray(0, 128).toString('latin1'))!;
  const [width, height, maxval] = [Number(match[1]), Number(match[2]), Number(match[3])];
  const data = bytes.subarray(match[0].length);
  const out = new Uint16Array(width * height);
  for (let i = 0; i < out.length; i++) out[i] = maxval > 255 ? data.readUInt16BE(i * 2) : data[i]!;
  return out;
}

/** Stored values of a DICOM file as dcmtk reads them: dcmdump's raw Pixel Data of its decompressed twin. */
export function dcmtkDecompress(input: Buffer, tool: 'dcmdjpeg' | 'dcmdjpls' | 'dcmdrle' | 'dcmconv'): Buffer {
  return transcode(input, tool, tool === 'dcmconv' ? ['+te'] : []);
}

const PYDICOM_DIR_ENV = 'PYDICOM_TEST_FILES_CACHE';

/**
 * pydicom's public conformance files (Debian package python3-pydicom), downloaded and unpacked
 * at test time, never copied into the repository. Returns the test_files folder, or
 * undefined (the test is then skipped; in CI it fails instead).
 */
export function pydicomTestFiles(t: ExecutionContext): string | undefined {
  const fromEnv = process.env[PYDICOM_DIR_ENV];
  const cache = fromEnv ?? path.join(os.tmpdir(), 'cspine-pydicom');
  const found = findTestFiles(cache);
  if (found) return found;
  let problem: string | undefined;
  if (!toolPath('apt-get') || !toolPath('dpkg-deb')) {
    problem = 'apt-get/dpkg-deb not available';
  } else {
    fs.mkdirSync(cache, { recursive: true });
    let download = spawnSync('apt-get', ['download', 'python3-pydicom'], { cwd: cache, encoding: 'utf8' });
    if (download.status !== 0 && process.getuid?.() === 0) {
      spawnSync('apt-get', ['update', '-qq'], { encoding: 'utf8' });
      download = spawnSync('apt-get', ['download', 'python3-pydicom'], { cwd: cache, encoding: 'utf8' });
    }
    const deb = fs.readdirSync(cache).find((name) => /^python3-pydicom_.*\.deb$/.test(name));
    if (!deb) {
      problem = `apt-get download python3-pydicom failed: ${(download.stderr || download.stdout).trim().split('\n').pop()}`;
    } else {
      const unpacked = spawnSync('dpkg-deb', ['-x', path.join(cache, deb), path.join(cache, 'root')], { encoding: 'utf8' });
      if (unpacked.status !== 0) problem = `dpkg-deb -x failed: ${unpacked.stderr.trim()}`;
    }
  }
  const afterDownload = problem ? undefined : findTestFiles(cache);
  if (afterDownload) return afterDownload;
  const message = `pydicom conformance files unavailable (${problem ?? 'no test_files folder in the package'})`;
  if (process.env.CI) t.fail(message);
  else {
    t.log(`skipped: ${message}`);
    t.pass();
  }
  return undefined;
}

function findTestFiles(cache: string): string | undefined {
  const root = path.join(cache, 'root', 'usr', 'lib', 'python3', 'dist-packages', 'pydicom', 'data', 'test_files');
  return fs.existsSync(path.join(root, 'MR_small.dcm')) ? root : undefined;
}

export interface SyntaxSample {
  name: string;
  uid: string;
  bytes: Buffer;
}

/** The tools `everySyntax` needs: dcmtk and OpenJPEG's command-line tools. */
export const SYNTAX_TOOLS = ['dcmconv', 'dcmcjpeg', 'dcmcjpls', 'dcmcrle', 'opj_compress', 'opj_decompress'];

/**
 * One file per supported transfer syntax: `wide` (≤16-bit stored, for everything but lossy JPEG)
 * and `narrow` (8-bit, for JPEG baseline/extended) made into each by dcmtk or OpenJPEG.
 */
export function everySyntax(wide: DicomSpec & { pixels: ArrayLike<number> }, narrow: DicomSpec): SyntaxSample[] {
  const wideFile = dicomFile(wide);
  const narrowFile = dicomFile(narrow);
  const bits = wide.bitsStored ?? wide.bitsAllocated ?? 16;
  const j2k = (ratio?: number) => {
    const { codestream } = openJpegCodestream(Uint16Array.from(wide.pixels), wide.rows, wide.columns, bits, ratio ? { ratio } : {});
    return dicomFile({ ...wide, pixels: undefined, fragments: [codestream], transferSyntax: ratio ? TS.j2k : TS.j2kLossless });
  };
  return [
    { name: 'Explicit VR Little Endian', uid: TS.explicitLE, bytes: wideFile },
    { name: 'Implicit VR Little Endian', uid: TS.implicitLE, bytes: transcode(wideFile, 'dcmconv', ['+ti']) },
    { name: 'Explicit VR Big Endian', uid: TS.explicitBE, bytes: transcode(wideFile, 'dcmconv', ['+tb']) },
    { name: 'Deflated Explicit VR Little Endian', uid: TS.deflated, bytes: transcode(wideFile, 'dcmconv', ['+td']) },
    { name: 'JPEG Baseline (8-bit)', uid: TS.jpegBaseline, bytes: transcode(narrowFile, 'dcmcjpeg', ['+eb', '+q', '95']) },
    { name: 'JPEG Extended (8-bit)', uid: TS.jpegExtended, bytes: transcode(narrowFile, 'dcmcjpeg', ['+ee', '+q', '95']) },
    { name: 'JPEG Lossless SV1', uid: TS.jpegLosslessSv1, bytes: transcode(wideFile, 'dcmcjpeg', ['+e1']) },
    { name: 'JPEG Lossless (SV6)', uid: TS.jpegLossless, bytes: transcode(wideFile, 'dcmcjpeg', ['+el', '+sv', '6']) },
    { name: 'JPEG-LS Lossless', uid: TS.jpegLsLossless, bytes: transcode(wideFile, 'dcmcjpls', ['+el']) },
    { name: 'JPEG-LS Near-Lossless', uid: TS.jpegLsNear, bytes: transcode(wideFile, 'dcmcjpls', ['+en', '+md', '2']) },
    { name: 'JPEG 2000 Lossless', uid: TS.j2kLossless, bytes: j2k() },
    { name: 'JPEG 2000 (lossy 10:1)', uid: TS.j2k, bytes: j2k(10) },
    { name: 'RLE Lossless', uid: TS.rle, bytes: transcode(wideFile, 'dcmcrle', []) },
  ];
}
