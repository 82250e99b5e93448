/**
 * For the C-STORE receiver tests: the real dcmtk tools (echoscu, storescu, dump2dcm, dcmcjpeg,
 * img2dcm, dcmconv) make the test files and act as the sending modality, and a raw TCP client
 * misbehaves where no real sender would. Nothing patient-like is committed: every file is made
 * here from a phantom dump with made-up identifiers.
 */
import { execFile, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { ExecutionContext } from 'ava';
import sharp from 'sharp';
import { configSchema, type Config } from '../../src/config/schema.js';
import { DicomReceiver, type ReceiverOptions, type ReceiverSettings } from '../../src/capture/dicom-receiver/receiver.js';
import { associateRq, PduFramer, PduType } from '../../src/capture/dicom-receiver/pdu.js';
import { Pseudonymizer } from '../../src/privacy/pseudonymizer.js';
import { capturedLogger, tempDir, type CapturedLog } from './fixtures.js';

const TOOLS = ['echoscu', 'storescu', 'dump2dcm', 'dcmdump', 'dcmcjpeg', 'dcmconv', 'img2dcm'];

/** dcmtk is installed; in CI its absence is an error (.ci/run installs it), elsewhere the tests skip. */
export function dcmtkAvailable(): boolean {
  const missing = TOOLS.filter((tool) => spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0);
  if (missing.length === 0) return true;
  if (process.env.CI) throw new Error(`dcmtk tools missing (${missing.join(', ')}); .ci/run must install dcmtk`);
  return false;
}

export interface ToolRun {
  code: number;
  stdout: string;
  stderr: string;
  output: string;
}

export function tool(command: string, args: string[], options: { cwd?: string; timeoutMs?: number } = {}): Promise<ToolRun> {
  return new Promise((resolve) => {
    execFile(command, args, { cwd: options.cwd, timeout: options.timeoutMs ?? 30_000, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      resolve({ code, stdout, stderr, output: stdout + stderr });
    });
  });
}

async function mustRun(command: string, args: string[], cwd?: string): Promise<void> {
  const run = await tool(command, args, { cwd });
  if (run.code !== 0) throw new Error(`${command} ${args.join(' ')} failed (${run.code}):\n${run.output}`);
}

export const SOP = {
  CR: '1.2.840.10008.5.1.4.1.1.1',
  DX: '1.2.840.10008.5.1.4.1.1.1.1',
  DX_PROCESSING: '1.2.840.10008.5.1.4.1.1.1.1.1',
  SC: '1.2.840.10008.5.1.4.1.1.7',
  CT: '1.2.840.10008.5.1.4.1.1.2',
} as const;

/** Made-up identifiers that must never show up in logs, history or payloads. */
export const PHANTOM_PATIENT = { name: 'Phantom^Receiver^Test', id: 'PHANTOM-4711', birthDate: '19700101' };

export interface PhantomOptions {
  sopClass?: string;
  width?: number;
  height?: number;
  /** 16 (12 stored) or 8 bits per sample. */
  bits?: 16 | 8;
  /** Sample value at (x, y); default a gradient. */
  sample?: (x: number, y: number) => number;
  /** Extra dump lines, e.g. window center/width. */
  extra?: string[];
  sopInstanceUid?: string;
}

export function randomUid(): string {
  return `2.25.${BigInt(`0x${crypto.randomBytes(15).toString('hex')}`).toString()}`;
}

/**
 * A phantom radiograph as an Explicit VR Little Endian DICOM file, made by dcmtk's dump2dcm
 * from a text dump and a raw pixel file. Returns its path and SOP instance UID.
 */
export async function makePhantom(dir: string, name: string, options: PhantomOptions = {}): Promise<{ file: string; sopInstanceUid: string }> {
  const { width = 64, height = 48, bits = 16, sopClass = SOP.DX } = options;
  const sample = options.sample ?? ((x, y) => (bits === 16 ? (x * 37 + y * 53) % 4096 : (x * 3 + y * 5) % 256));
  const sopInstanceUid = options.sopInstanceUid ?? randomUid();
  const pixels = Buffer.alloc(width * height * (bits / 8));
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (bits === 16) pixels.writeUInt16LE(sample(x, y), (y * width + x) * 2);
      else pixels[y * width + x] = sample(x, y);
    }
  }
  fs.mkdirSync(dir, { recursive: true });
  const raw = path.join(dir, `${name}.raw`);
  fs.writeFileSync(raw, pixels);
  const modality = sopClass === SOP.CR ? 'CR' : sopClass === SOP.CT ? 'CT' : sopClass === SOP.SC ? 'OT' : 'DX';
  const lines = [
    '(0002,0010) UI =LittleEndianExplicit',
    `(0008,0016) UI ${sopClass}`,
    `(0008,0018) UI ${sopInstanceUid}`,
    `(0008,0060) CS ${modality}`,
    ...(sopClass === SOP.DX ? ['(0008,0068) CS FOR PRESENTATION'] : sopClass === SOP.DX_PROCESSING ? ['(0008,0068) CS FOR PROCESSING'] : []),
    `(0010,0010) PN ${PHANTOM_PATIENT.name}`,
    `(0010,0020) LO ${PHANTOM_PATIENT.id}`,
    `(0010,0030) DA ${PHANTOM_PATIENT.birthDate}`,
    '(0018,0015) CS CSPINE',
    '(0018,5101) CS LL',
    `(0020,000d) UI ${randomUid()}`,
    `(0020,000e) UI ${randomUid()}`,
    '(0028,0002) US 1',
    '(0028,0004) CS MONOCHROME2',
    `(0028,0010) US ${height}`,
    `(0028,0011) US ${width}`,
    `(0028,0100) US ${bits}`,
    `(0028,0101) US ${bits === 16 ? 12 : 8}`,
    `(0028,0102) US ${bits === 16 ? 11 : 7}`,
    '(0028,0103) US 0',
    ...(options.extra ?? []),
    `(7fe0,0010) ${bits === 16 ? 'OW' : 'OB'} =${path.basename(raw)}`,
  ];
  const dump = path.join(dir, `${name}.dump`);
  fs.writeFileSync(dump, `${lines.join('\n')}\n`);
  const file = path.join(dir, `${name}.dcm`);
  await mustRun('dump2dcm', [path.basename(dump), path.basename(file)], dir);
  return { file, sopInstanceUid };
}

/** The same instance in another transfer syntax, by dcmtk. */
export async function transcode(source: string, kind: 'implicit' | 'jpeg-lossless-sv1' | 'jpeg-extended', target: string): Promise<string> {
  if (kind === 'implicit') await mustRun('dcmconv', ['+ti', source, target]);
  else if (kind === 'jpeg-lossless-sv1') await mustRun('dcmcjpeg', ['+e1', source, target]);
  else await mustRun('dcmcjpeg', ['+ee', source, target]);
  return target;
}

/**
 * A JPEG 2000 lossless instance: dcmtk has no JPEG 2000 encoder, so dump2dcm wraps a stand-in
 * fragment in an encapsulated pixel data element. The receiver never decodes what it stores.
 */
export async function makeJpeg2000(dir: string, name: string): Promise<{ file: string; sopInstanceUid: string }> {
  const { file: plain, sopInstanceUid } = await makePhantom(dir, `${name}-plain`);
  const dump = fs.readFileSync(path.join(dir, `${name}-plain.dump`), 'utf8').split('\n');
  fs.writeFileSync(path.join(dir, `${name}.frag`), crypto.randomBytes(400));
  const lines = dump
    .filter((line) => !line.startsWith('(7fe0,0010)') && line.trim() !== '')
    .map((line) => (line.startsWith('(0002,0010)') ? '(0002,0010) UI =JPEG2000LosslessOnly' : line));
  lines.push('(7fe0,0010) OB (PixelSequence #=2)', '(fffe,e000) pi (no value available)', `(fffe,e000) pi =${name}.frag`, '(fffe,e0dd) na (SequenceDelimitationItem)');
  fs.writeFileSync(path.join(dir, `${name}.dump`), `${lines.join('\n')}\n`);
  fs.rmSync(plain);
  const file = path.join(dir, `${name}.dcm`);
  await mustRun('dump2dcm', [`${name}.dump`, `${name}.dcm`], dir);
  return { file, sopInstanceUid };
}

/** A JPEG baseline secondary capture, as img2dcm makes it from a JPEG. */
export async function makeJpegBaseline(dir: string, name: string): Promise<string> {
  const jpeg = path.join(dir, `${name}.jpg`);
  await sharp(Buffer.alloc(64 * 48, 140), { raw: { width: 64, height: 48, channels: 1 } }).jpeg().toFile(jpeg);
  const file = path.join(dir, `${name}.dcm`);
  await mustRun('img2dcm', [jpeg, file]);
  return file;
}

/** A storescu association profile that proposes JPEG baseline only (no uncompressed fallback). */
export function jpegBaselineOnlyProfile(dir: string): string[] {
  const file = path.join(dir, 'jpeg-baseline-only.cfg');
  fs.writeFileSync(
    file,
    [
      '[[TransferSyntaxes]]',
      '[JPEGBaseline]',
      'TransferSyntax1 = JPEGBaseline',
      '[[PresentationContexts]]',
      '[JPEGContexts]',
      'PresentationContext1 = SecondaryCaptureImageStorage\\JPEGBaseline',
      'PresentationContext2 = DigitalXRayImageStorageForPresentation\\JPEGBaseline',
      '[[Profiles]]',
      '[JPEGOnly]',
      'PresentationContexts = JPEGContexts',
      '',
    ].join('\n'),
  );
  return ['-xf', file, 'JPEGOnly'];
}

/** The data set of a Part 10 file: everything after the file meta group. */
export function dataSet(file: string): Buffer {
  const bytes = fs.readFileSync(file);
  return bytes.subarray(144 + bytes.readUInt32LE(140));
}

export interface RunningReceiver {
  receiver: DicomReceiver;
  config: Config;
  root: string;
  port: number;
  captureDir: string;
  spoolDir: string;
  log: CapturedLog;
  pseudonymizer: Pseudonymizer;
}

export const AE = 'CSPINE_TEST';

/** A receiver on a free port (the OS picks it), in its own folder, stopped when the test ends. */
export async function startReceiver(t: ExecutionContext, receiver: Partial<ReceiverSettings> = {}, options: ReceiverOptions = {}): Promise<RunningReceiver> {
  const root = tempDir(t, 'cspine-dicom-');
  // A relative spoolDir is taken inside the test's folder.
  const spoolDir = receiver.spoolDir ? path.join(root, receiver.spoolDir) : '';
  const config = configSchema.parse({
    capture: { dir: path.join(root, 'capture') },
    store: { path: path.join(root, 'data/cspine.db') },
    dicom: { receiver: { enabled: true, aeTitle: AE, ...receiver, spoolDir } },
  });
  // Port 0 is not a valid setting, but lets the OS pick a free port for each test.
  config.dicom.receiver.port = 0;
  const log = capturedLogger();
  const pseudonymizer = new Pseudonymizer(crypto.randomBytes(32));
  const instance = new DicomReceiver(config, log.logger, pseudonymizer, options);
  await instance.start();
  const { state } = instance;
  t.teardown(() => instance.stop());
  if (state.state !== 'listening') throw new Error(`receiver did not start: ${JSON.stringify(state)}`);
  return {
    receiver: instance,
    config,
    root,
    port: state.port,
    captureDir: path.join(root, 'capture'),
    spoolDir: spoolDir || path.join(root, 'capture/.dicom-spool'),
    log,
    pseudonymizer,
  };
}

/** Regular files directly in `dir` (the spool folder is a dot-folder inside capture/). */
export function filesIn(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => entry.name)
    .sort();
}

/** A raw TCP peer, for what real senders never do. `pdus` collects what the receiver sends back. */
export class RawPeer {
  readonly socket: net.Socket;
  readonly pdus: Array<{ type: number; body: Buffer }> = [];
  readonly closed: Promise<void>;
  isClosed = false;
  private readonly framer = new PduFramer(64 * 1024 * 1024);

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      this.framer.push(chunk);
      for (let pdu = this.framer.next(); pdu; pdu = this.framer.next()) this.pdus.push(pdu);
    });
    socket.on('error', () => undefined);
    this.closed = new Promise((resolve) =>
      socket.once('close', () => {
        this.isClosed = true;
        resolve();
      }),
    );
  }

  /**
   * `from` connects from another loopback address: all of 127.0.0.0/8 is this machine on Linux,
   * so each address is a different peer to the receiver.
   */
  static connect(port: number, from?: string): Promise<RawPeer> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ port, host: '127.0.0.1', localAddress: from }, () => resolve(new RawPeer(socket)));
      socket.once('error', reject);
    });
  }

  /** Connects and associates for `abstractSyntax` in Explicit VR LE; resolves once the A-ASSOCIATE-AC is in. */
  static async associate(port: number, abstractSyntax: string = SOP.DX, calledAE = AE, callingAE = 'RAWPEER'): Promise<RawPeer> {
    const peer = await RawPeer.connect(port);
    peer.socket.write(associateRq(calledAE, callingAE, [{ id: 1, abstractSyntax, transferSyntaxes: ['1.2.840.10008.1.2.1'] }], 65536));
    const answer = await peer.next();
    if (answer.type !== PduType.ASSOCIATE_AC) throw new Error(`expected A-ASSOCIATE-AC, got PDU type ${answer.type}`);
    return peer;
  }

  async next(timeoutMs = 5000): Promise<{ type: number; body: Buffer }> {
    const deadline = Date.now() + timeoutMs;
    while (this.pdus.length === 0) {
      if (Date.now() > deadline) throw new Error('no PDU from the receiver');
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    return this.pdus.shift()!;
  }
}

/** A C-STORE-RQ command set (Implicit VR LE), for the raw peer. */
export function storeCommand(sopClassUid: string, sopInstanceUid: string, messageId = 1): Buffer {
  const elements: Array<[number, Buffer]> = [];
  const ui = (value: string) => Buffer.from(value.length % 2 ? `${value}\0` : value, 'latin1');
  const us = (value: number) => {
    const out = Buffer.alloc(2);
    out.writeUInt16LE(value);
    return out;
  };
  elements.push([0x0002, ui(sopClassUid)], [0x0100, us(0x0001)], [0x0110, us(messageId)], [0x0700, us(0)], [0x0800, us(0x0000)], [0x1000, ui(sopInstanceUid)]);
  const body = Buffer.concat(
    elements.map(([element, value]) => {
      const head = Buffer.alloc(8);
      head.writeUInt16LE(0, 0);
      head.writeUInt16LE(element, 2);
      head.writeUInt32LE(value.length, 4);
      return Buffer.concat([head, value]);
    }),
  );
  const length = Buffer.alloc(12);
  length.writeUInt32LE(4, 4);
  length.writeUInt32LE(body.length, 8);
  return Buffer.concat([length, body]);
}
