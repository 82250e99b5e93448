/**
 * Restart intervals in JPEG Lossless, which dcmtk's encoder never writes, and frames larger than
 * the decoder's 64 KiB window: the decoder reads each interval's entropy-coded data through that
 * window with the stuffing undone, so refilling it, finding each RSTn marker (after the
 * interval's padding bits, a stuffed 0xFF 0x00 or fill bytes) and stopping at a truncation are
 * its own work. The codestreams come from the small encoder below, an independent reading of
 * T.81 Annex H: one Huffman table of 17 five-bit codes, one per difference category.
 */
import test from 'ava';
import { decodeJpegLossless, JpegLosslessError } from '../../src/imaging/dicom/jpeg-lossless.js';

interface Encoding {
  rows: number;
  columns: number;
  precision: number;
  predictor: number;
  /** Rows per restart interval; 0: none. */
  restartRows: number;
  /** A fill byte 0xFF before each RSTn marker (T.81 B.1.1.2). */
  fill?: boolean;
}

function predict(samples: Uint16Array, i: number, x: number, columns: number, firstRow: boolean, { precision, predictor }: Encoding): number {
  if (x === 0) return firstRow ? 1 << (precision - 1) : samples[i - columns]!;
  const a = samples[i - 1]!;
  if (firstRow) return a;
  const b = samples[i - columns]!;
  const c = samples[i - columns - 1]!;
  return [a, b, c, a + b - c, a + ((b - c) >> 1), b + ((a - c) >> 1), (a + b) >> 1][predictor - 1]!;
}

function encode(samples: Uint16Array, encoding: Encoding): Uint8Array {
  const { rows, columns, precision, predictor, restartRows } = encoding;
  const out: number[] = [0xff, 0xd8];
  const segment = (marker: number, body: number[]) => out.push(0xff, marker, (body.length + 2) >> 8, (body.length + 2) & 0xff, ...body);
  segment(0xc3, [precision, rows >> 8, rows & 0xff, columns >> 8, columns & 0xff, 1, 1, 0x11, 0]);
  const counts = new Array<number>(16).fill(0);
  counts[4] = 17;
  segment(0xc4, [0x00, ...counts, ...Array.from({ length: 17 }, (_, category) => category)]);
  if (restartRows > 0) segment(0xdd, [(restartRows * columns) >> 8, (restartRows * columns) & 0xff]);
  segment(0xda, [1, 1, 0x00, predictor, 0, 0]);

  let byte = 0;
  let used = 0;
  const put = (value: number, length: number) => {
    for (let bit = length - 1; bit >= 0; bit--) {
      byte = (byte << 1) | ((value >> bit) & 1);
      if (++used === 8) {
        out.push(byte, ...(byte === 0xff ? [0x00] : []));
        byte = 0;
        used = 0;
      }
    }
  };
  const padWithOnes = () => {
    while (used !== 0) put(1, 1);
  };
  let restarts = 0;
  for (let y = 0; y < rows; y++) {
    const firstRow = restartRows > 0 ? y % restartRows === 0 : y === 0;
    if (firstRow && y > 0) {
      padWithOnes();
      out.push(0xff, ...(encoding.fill ? [0xff] : []), 0xd0 + (restarts++ % 8));
    }
    for (let x = 0; x < columns; x++) {
      const i = y * columns + x;
      let difference = (samples[i]! - predict(samples, i, x, columns, firstRow, encoding)) & 0xffff;
      if (difference >= 32768) difference -= 65536;
      let category = 0;
      while (1 << category <= Math.abs(difference)) category++;
      put(category, 5);
      if (category > 0 && category < 16) put(difference < 0 ? difference - 1 + (1 << category) : difference, category);
    }
  }
  padWithOnes();
  out.push(0xff, 0xd9);
  return Uint8Array.from(out);
}

function noise(count: number, precision: number, seed: number): Uint16Array {
  let state = seed;
  return Uint16Array.from({ length: count }, () => ((state = (state * 1103515245 + 12345) >>> 0) >>> 16) & ((1 << precision) - 1));
}

const cases: Encoding[] = [
  { rows: 40, columns: 33, precision: 12, predictor: 1, restartRows: 4 },
  { rows: 41, columns: 17, precision: 16, predictor: 4, restartRows: 3, fill: true },
  { rows: 30, columns: 30, precision: 8, predictor: 7, restartRows: 1 },
  { rows: 25, columns: 10, precision: 12, predictor: 6, restartRows: 0 },
];

for (const encoding of cases) {
  const restarts = encoding.restartRows === 0 ? 'no restarts' : `restarts every ${encoding.restartRows} row${encoding.restartRows > 1 ? 's' : ''}`;
  const what = `${encoding.columns}×${encoding.rows}, ${encoding.precision}-bit, SV${encoding.predictor}, ${restarts}${encoding.fill ? ', fill bytes' : ''}`;
  const source = noise(encoding.rows * encoding.columns, encoding.precision, encoding.rows);

  test(`${what}: decodes exactly`, (t) => {
    t.deepEqual([...decodeJpegLossless(encode(source, encoding), encoding.rows).samples], [...source]);
  });

  test(`${what}: cut short, it is refused, not padded out`, (t) => {
    const codestream = encode(source, encoding);
    t.throws(() => decodeJpegLossless(codestream.subarray(0, Math.floor(codestream.length * 0.7)), encoding.rows), { instanceOf: JpegLosslessError });
  });

  test(`${what}: one data byte short, it is refused; without its EOI, it decodes`, (t) => {
    const codestream = encode(source, encoding);
    // The last data byte holds at least one bit of the last code: the decoder must notice it gone.
    t.throws(() => decodeJpegLossless(codestream.subarray(0, codestream.length - 3), encoding.rows), { instanceOf: JpegLosslessError, message: /ends in row/ });
    t.deepEqual([...decodeJpegLossless(codestream.subarray(0, codestream.length - 2), encoding.rows).samples], [...source]);
  });
}

test('a restart marker that is not there is refused', (t) => {
  const encoding = cases[0]!;
  const codestream = encode(noise(encoding.rows * encoding.columns, 12, 1), encoding);
  const withoutFirstRestart = Buffer.from(codestream);
  withoutFirstRestart[withoutFirstRestart.indexOf(Buffer.from([0xff, 0xd0])) + 1] = 0xd9; // RST0 → EOI
  t.throws(() => decodeJpegLossless(withoutFirstRestart, encoding.rows), { instanceOf: JpegLosslessError });
});

/** Every sample 32767 over its left neighbour: a 20-bit code whose 19 ones make most bytes 0xFF, stuffed. */
function mostlyFF(rows: number, columns: number): Uint16Array {
  return Uint16Array.from({ length: rows * columns }, (_, i) => ((i % columns) * 32767 + 1000) & 0xffff);
}

const windowCases: Array<{ what: string; encoding: Encoding; samples: Uint16Array }> = [
  // ~400 KB of data, most bytes stuffed 0xFF 0x00: window refills land next to and between stuffed bytes.
  { what: 'mostly stuffed 0xFF bytes', encoding: { rows: 400, columns: 400, precision: 16, predictor: 1, restartRows: 0 }, samples: mostlyFF(400, 400) },
  { what: 'mostly stuffed 0xFF bytes, restarts every 37 rows', encoding: { rows: 400, columns: 400, precision: 16, predictor: 1, restartRows: 37, fill: true }, samples: mostlyFF(400, 400) },
  // A flat frame: 5-bit zero codes, ~150 KB without a single 0xFF.
  { what: 'no 0xFF at all', encoding: { rows: 480, columns: 500, precision: 12, predictor: 1, restartRows: 0 }, samples: new Uint16Array(480 * 500).fill(2048) },
  { what: 'noise, SV4', encoding: { rows: 300, columns: 700, precision: 16, predictor: 4, restartRows: 0 }, samples: noise(300 * 700, 16, 7) },
];

for (const { what, encoding, samples } of windowCases) {
  test(`larger than the window (${encoding.columns}×${encoding.rows}), ${what}: decodes exactly; cut by one byte, refused`, (t) => {
    const codestream = encode(samples, encoding);
    t.true(codestream.length > 2 * 65536, `${codestream.length} bytes: more than one window`);
    t.deepEqual([...decodeJpegLossless(codestream, encoding.rows).samples], [...samples]);
    t.throws(() => decodeJpegLossless(codestream.subarray(0, codestream.length - 3), encoding.rows), { instanceOf: JpegLosslessError, message: /ends in row/ });
  });
}
