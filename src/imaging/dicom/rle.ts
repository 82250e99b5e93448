/**
 * DICOM RLE Lossless (PS3.5 Annex G): one PackBits segment per byte plane, most significant
 * first. Each segment is unpacked straight into its byte of the output words (a stride of
 * `bytesPerSample`), so there is no plane buffer to merge afterwards and no per-run allocation.
 */

export class RleError extends Error {}

const fail = (message: string): never => {
  throw new RleError(message);
};

/** Which byte of a native-order word holds the most significant one. */
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export function decodeRle(data: Uint8Array, rows: number, columns: number, bitsAllocated: 8 | 16): Uint8Array | Uint16Array {
  if (data.length < 64) fail('no RLE header');
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const segments = view.getUint32(0, true);
  const planes = bitsAllocated / 8;
  if (segments !== planes) fail(`${segments} segments where ${planes} byte planes are expected`);
  const count = rows * columns;
  const out = bitsAllocated === 8 ? new Uint8Array(count) : new Uint16Array(count);
  const bytes = new Uint8Array(out.buffer);
  for (let s = 0; s < segments; s++) {
    const start = view.getUint32(4 + 4 * s, true);
    const end = s + 1 < segments ? view.getUint32(8 + 4 * s, true) : data.length;
    if (start < 64 || start > data.length || end > data.length || end < start) fail(`segment ${s + 1} offset out of range`);
    const significance = planes - 1 - s;
    unpackBits(data, start, end, bytes, LITTLE_ENDIAN ? significance : s, planes, s + 1);
  }
  return out;
}

/** One PackBits segment into out[first], out[first + stride], … (count samples). */
function unpackBits(data: Uint8Array, pos: number, end: number, out: Uint8Array, first: number, stride: number, segment: number): void {
  const stop = out.length;
  let o = first;
  while (o < stop) {
    if (pos >= end) fail(`segment ${segment} ends after ${(o - first) / stride} of ${stop / stride} bytes`);
    const n = data[pos++]!;
    if (n < 128) {
      const run = n + 1;
      if (pos + run > end || o + (run - 1) * stride >= stop) fail(`segment ${segment} literal run overflows`);
      for (let k = 0; k < run; k++, o += stride) out[o] = data[pos++]!;
    } else if (n > 128) {
      const run = 257 - n;
      if (pos >= end || o + (run - 1) * stride >= stop) fail(`segment ${segment} replicate run overflows`);
      const value = data[pos++]!;
      for (let k = 0; k < run; k++, o += stride) out[o] = value;
    } // 128: no operation
  }
}
