// The runtime's own decode + preprocessing, so that Python trains on exactly what the service feeds.
//
//   node scripts/train/runtime_preprocess.mjs tensor OUT.f32 SIZE FILE...
//       Each FILE as the service turns it into the model input for a 1×3×SIZE×SIZE NCHW model
//       (letterbox, ImageNet mean/std): float32 tensors back to back, little-endian.
//
//   node scripts/train/runtime_preprocess.mjs gray OUT.u16 SIZE FILE...
//       Each FILE letterboxed to SIZE×SIZE by the same code, before mean/std: the gray samples at
//       the file's own depth (0..255 or 0..65535) as little-endian uint16, back to back. Prints one
//       JSON line {"bits":[8|16,...],"sizes":[[w,h],...],"studies":[hash|null,...],"patients":[hash|null,...],"errors":[...]}
//       on stdout. dataset.py caches these for training. `sizes` are the decoded (upright) image
//       sizes; `studies` and `patients` SHA-256 prefixes of each DICOM file's StudyInstanceUID
//       and PatientID (neither leaves this process in clear; placeholder IDs give null); `errors` lists every file the runtime refuses, as
//       {"index","file","code","message"} with the runtime's error code (its slot is left black),
//       so that a caller can list all bad files at once rather than stop at the first.
//
// In tensor mode a bad file is an error: every refused file is listed on stderr, exit status 1.
//
// Uses dist/imaging/decode.js and dist/imaging/preprocess.js (run `npm run build` once).
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const { decodeImage } = await import(pathToFileURL(path.join(root, 'dist/imaging/decode.js')).href);
const { preprocessImage } = await import(pathToFileURL(path.join(root, 'dist/imaging/preprocess.js')).href);

const [mode, out, sizeArg, ...files] = process.argv.slice(2);
const size = Number(sizeArg);
if (!['tensor', 'gray'].includes(mode) || !out || !Number.isInteger(size) || size < 1 || files.length === 0) {
  console.error('usage: node scripts/train/runtime_preprocess.mjs tensor|gray OUT SIZE FILE...');
  process.exit(2);
}

const MEAN = [0.485, 0.456, 0.406];
const STD = [0.229, 0.224, 0.225];
const chunks = [];
const bits = [];
const sizes = [];
const studies = [];
const patients = [];
const errors = [];
for (const [index, file] of files.entries()) {
  let image;
  try {
    image = await decodeImage(await readFile(file), { maxPixels: 200e6 });
  } catch (error) {
    errors.push({ index, file, code: error.code ?? error.name ?? 'E_UNKNOWN', message: error.message });
    const blank = mode === 'tensor' ? new Float32Array(3 * size * size) : new Uint16Array(size * size);
    chunks.push(Buffer.from(blank.buffer));
    bits.push(8);
    sizes.push([0, 0]);
    studies.push(null);
    patients.push(null);
    continue;
  }
  if (mode === 'tensor') {
    const spec = { input: { name: 'input', layout: 'NCHW', shape: [1, 3, size, size] }, preprocess: { resize: 'letterbox', mean: MEAN, std: STD } };
    const tensor = await preprocessImage(image, spec);
    chunks.push(Buffer.from(tensor.buffer, tensor.byteOffset, tensor.byteLength));
  } else {
    // mean 0, std 1, one channel: the tensor is samples / full scale, so the samples come back exactly.
    const spec = { input: { name: 'input', layout: 'NCHW', shape: [1, 1, size, size] }, preprocess: { resize: 'letterbox', mean: [0], std: [1] } };
    const tensor = await preprocessImage(image, spec);
    const fullScale = image.bitsPerSample === 16 ? 65535 : 255;
    const samples = new Uint16Array(tensor.length);
    for (let i = 0; i < tensor.length; i++) samples[i] = Math.round(tensor[i] * fullScale);
    chunks.push(Buffer.from(samples.buffer));
    bits.push(image.bitsPerSample);
    sizes.push([image.width, image.height]);
    const { studyInstanceUid: study, patientId: patient } = image.dicom?.identifiers ?? {};
    studies.push(study ? createHash('sha256').update(study).digest('hex').slice(0, 16) : null);
    // An anonymiser's placeholder names nobody: it must not merge every film into one group.
    const named = patient && !/^(anon.*|unknown|none|n\/?a|0+|-+|x+)$/i.test(patient);
    patients.push(named ? createHash('sha256').update(`patient:${patient}`).digest('hex').slice(0, 16) : null);
  }
}
if (mode === 'tensor' && errors.length > 0) {
  for (const { file, code, message } of errors) console.error(`${file}: ${code}: ${message}`);
  process.exit(1);
}
await writeFile(out, Buffer.concat(chunks));
if (mode === 'gray') console.log(JSON.stringify({ bits, sizes, studies, patients, errors }));
