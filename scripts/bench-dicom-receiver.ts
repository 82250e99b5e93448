/**
 * Time from starting dcmtk's storescu to the instance committed (fsync'ed and renamed) in the
 * capture folder, for a ~5 MB uncompressed DX instance, and to storescu's exit (which waits for
 * the success status and the release). Run: npx tsx scripts/bench-dicom-receiver.ts [runs]
 */
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { configSchema } from '../src/config/schema.js';
import { DicomReceiver } from '../src/capture/dicom-receiver/receiver.js';
import { createLogger } from '../src/logger.js';
import { Pseudonymizer } from '../src/privacy/pseudonymizer.js';

const runs = Number(process.argv[2] ?? 20);
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cspine-bench-rx-'));
const capture = path.join(root, 'capture');
const config = configSchema.parse({ capture: { dir: capture }, store: { path: path.join(root, 'data/db') }, dicom: { receiver: { enabled: true, aeTitle: 'BENCH' } } });
config.dicom.receiver.port = 0;
const receiver = new DicomReceiver(config, createLogger('warn'), new Pseudonymizer(crypto.randomBytes(32)));
await receiver.start();
const { state } = receiver;
if (state.state !== 'listening') throw new Error(JSON.stringify(state));

// 1600 × 1600 × 16 bit = 5.12 MB of pixel data, made by dcmtk's dump2dcm.
const side = 1600;
const pixels = Buffer.alloc(side * side * 2);
for (let i = 0; i < side * side; i++) pixels.writeUInt16LE((i * 7) % 4096, i * 2);
fs.writeFileSync(path.join(root, 'px.raw'), pixels);

function makeInstance(n: number): Promise<string> {
  const uid = `2.25.${BigInt(`0x${crypto.randomBytes(15).toString('hex')}`)}`;
  const dump = [
    '(0002,0010) UI =LittleEndianExplicit',
    '(0008,0016) UI =DigitalXRayImageStorageForPresentation',
    `(0008,0018) UI ${uid}`,
    '(0008,0060) CS DX',
    '(0028,0002) US 1',
    '(0028,0004) CS MONOCHROME2',
    `(0028,0010) US ${side}`,
    `(0028,0011) US ${side}`,
    '(0028,0100) US 16',
    '(0028,0101) US 12',
    '(0028,0102) US 11',
    '(0028,0103) US 0',
    '(7fe0,0010) OW =px.raw',
  ].join('\n');
  fs.writeFileSync(path.join(root, `i${n}.dump`), dump);
  const run = spawn('dump2dcm', [`i${n}.dump`, `i${n}.dcm`], { cwd: root, stdio: 'inherit' });
  return new Promise<string>((resolve, reject) => run.on('exit', (code) => (code === 0 ? resolve(path.join(root, `i${n}.dcm`)) : reject(new Error(`dump2dcm ${code}`)))));
}

const committed: number[] = [];
const exited: number[] = [];
for (let n = 0; n < runs; n++) {
  const file = await makeInstance(n);
  const before = new Set(fs.readdirSync(capture));
  const started = process.hrtime.bigint();
  let seenAt: bigint | undefined;
  const watcher = fs.watch(capture, () => {
    if (seenAt === undefined && fs.readdirSync(capture).some((name) => name.endsWith('.dcm') && !before.has(name))) seenAt = process.hrtime.bigint();
  });
  const child = spawn('storescu', ['-aec', 'BENCH', '127.0.0.1', String(state.port), file], { stdio: 'ignore' });
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  const end = process.hrtime.bigint();
  watcher.close();
  if (code !== 0 || seenAt === undefined) throw new Error(`run ${n}: storescu ${code}, file seen ${seenAt !== undefined}`);
  committed.push(Number(seenAt - started) / 1e6);
  exited.push(Number(end - started) / 1e6);
}
await receiver.stop();
const size = fs.statSync(path.join(capture, fs.readdirSync(capture).find((name) => name.endsWith('.dcm'))!)).size;
fs.rmSync(root, { recursive: true, force: true });

const stats = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  return `median ${at(0.5).toFixed(1)} ms, p90 ${at(0.9).toFixed(1)} ms, min ${sorted[0]!.toFixed(1)} ms`;
};
console.log(`instance ${(size / 1e6).toFixed(2)} MB, ${runs} runs, ${os.cpus()[0]?.model ?? 'cpu'} × ${os.cpus().length}, node ${process.version}`);
console.log(`storescu start → file committed in capture/: ${stats(committed)}`);
console.log(`storescu start → storescu exit (status + release): ${stats(exited)}`);
