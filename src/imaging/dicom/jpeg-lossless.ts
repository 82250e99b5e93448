/**
 * JPEG Lossless, process 14 (ITU-T T.81 Annex H): one component, any predictor 1–7, any
 * precision 2–16, point transform, restart intervals of whole rows. Written for speed on a
 * 5-Mpixel radiograph: the entropy-coded data is read through a window with its byte stuffing
 * undone (EntropyWindow), so that a code is read at any bit position with one 32-bit big-endian
 * load and no bit buffer to refill; a code and its difference bits up to LOOKUP_BITS long are
 * decoded by one table look-up, longer ones by the canonical MAXCODE search (T.81 F.2.2.3);
 * left-predicted rows (all of SV1) are reconstructed as they are decoded, the other predictors
 * from the row's differences after; nothing is allocated per sample or per row.
 * Samples wrap modulo 2^16 as T.81 H.2.1 and libjpeg (dcmtk's codec) do.
 */

/**
 * Bits looked at at once. A code and its difference bits together (the common case: a 2–4-bit
 * code and 6–9 bits of a 12-bit radiograph's difference) come out of one look-up when they fit.
 * At most 25: the four bytes read at any bit position hold at least 25 bits after it.
 */
const LOOKUP_BITS = 12;

export interface LosslessFrame {
  samples: Uint16Array;
  rows: number;
  columns: number;
  precision: number;
}

/** A DC Huffman table (T.81 C): the look-up table for short codes and the canonical arrays for the rest. */
interface HuffmanTable {
  /**
   * Indexed by the next LOOKUP_BITS bits. > 0: the code and its difference bits fit; bits used
   * (0–4) and the difference + 32768 (5–21). < 0: only the code fits; minus (its length (0–4) and
   * its difference category (5–9)). 0: the code is longer.
   */
  lookup: Int32Array;
  /** Per length 1..16: the largest code of that length, or -1. */
  maxCode: Int32Array;
  /** Per length 1..16: symbol index of the first code of that length, minus that code. */
  offset: Int32Array;
  symbols: Uint8Array;
}

export class JpegLosslessError extends Error {}

const fail = (message: string): never => {
  throw new JpegLosslessError(message);
};

/** The signed difference that `category` bits `value` stand for (T.81 F.2.2.1 EXTEND, H.1.2.2 for 16). */
function extend(value: number, category: number): number {
  if (category === 0) return 0;
  if (category === 16) return 32768;
  return value < 1 << (category - 1) ? value - ((1 << category) - 1) : value;
}

/** A look-up entry: > 0 a whole difference (bits used, difference + 32768); < 0 a code whose difference bits come next. */
const completeEntry = (used: number, difference: number): number => used | ((difference + 32768) << 5);
const codeOnlyEntry = (codeLength: number, category: number): number => -(codeLength | (category << 5));

function huffmanTable(counts: Uint8Array, symbols: Uint8Array): HuffmanTable {
  const lookup = new Int32Array(1 << LOOKUP_BITS);
  const maxCode = new Int32Array(17).fill(-1);
  const offset = new Int32Array(17);
  let code = 0;
  let index = 0;
  for (let length = 1; length <= 16; length++) {
    const n = counts[length - 1]!;
    offset[length] = index - code;
    for (let i = 0; i < n; i++, code++, index++) {
      const category = symbols[index]!;
      if (category > 16) fail(`Huffman table holds difference category ${category} (at most 16)`);
      if (length > LOOKUP_BITS) continue;
      const bitsToRead = category === 16 ? 0 : category;
      if (length + bitsToRead <= LOOKUP_BITS) {
        const shift = LOOKUP_BITS - length - bitsToRead;
        for (let value = 0; value < 1 << bitsToRead; value++) {
          const first = ((code << bitsToRead) | value) << shift;
          lookup.fill(completeEntry(length + bitsToRead, extend(value, category)), first, first + (1 << shift));
        }
      } else {
        const shift = LOOKUP_BITS - length;
        lookup.fill(codeOnlyEntry(length, category), code << shift, (code + 1) << shift);
      }
    }
    if (n > 0) maxCode[length] = code - 1;
    if (code > 1 << length) fail('Huffman table has more codes than its lengths allow');
    code <<= 1;
  }
  return { lookup, maxCode, offset, symbols };
}

interface Scan {
  table: HuffmanTable;
  predictor: number;
  pointTransform: number;
  /** Start of the entropy-coded data. */
  start: number;
}

interface Header {
  precision: number;
  rows: number;
  columns: number;
  restartInterval: number;
  scan: Scan;
}

/** Markers up to the (single) scan: frame header, Huffman tables, restart interval. */
function readHeader(data: Uint8Array): Header {
  if (data.length < 4 || data[0] !== 0xff || data[1] !== 0xd8) fail('no SOI marker');
  const tables: Array<HuffmanTable | undefined> = [];
  let frame: { precision: number; rows: number; columns: number; componentId: number } | undefined;
  let restartInterval = 0;
  let pos = 2;
  for (;;) {
    if (pos + 4 > data.length) fail('codestream ends before the scan');
    if (data[pos] !== 0xff) fail(`marker expected at byte ${pos}`);
    const marker = data[pos + 1]!;
    if (marker === 0xff) {
      pos++;
      continue;
    }
    const length = (data[pos + 2]! << 8) | data[pos + 3]!;
    const body = pos + 4;
    const end = pos + 2 + length;
    if (length < 2 || end > data.length) fail(`marker 0x${marker.toString(16)} overruns the codestream`);
    if (marker === 0xc3) {
      const components = data[body + 5]!;
      if (components !== 1) fail(`${components} components (one expected)`);
      frame = { precision: data[body]!, rows: (data[body + 1]! << 8) | data[body + 2]!, columns: (data[body + 3]! << 8) | data[body + 4]!, componentId: data[body + 6]! };
      if (frame.precision < 2 || frame.precision > 16) fail(`precision ${frame.precision} (2 to 16)`);
    } else if ((marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc)) {
      fail(`frame type SOF${marker - 0xc0} is not lossless non-hierarchical (process 14)`);
    } else if (marker === 0xc4) {
      for (let p = body; p < end; ) {
        const kind = data[p]! >> 4;
        const id = data[p]! & 0x0f;
        const counts = data.subarray(p + 1, p + 17);
        let total = 0;
        for (const count of counts) total += count;
        if (p + 17 + total > end) fail('Huffman table overruns its segment');
        // Lossless scans use DC tables (class 0) only.
        if (kind === 0) tables[id] = huffmanTable(counts, data.subarray(p + 17, p + 17 + total));
        p += 17 + total;
      }
    } else if (marker === 0xdd) {
      restartInterval = (data[body]! << 8) | data[body + 1]!;
    } else if (marker === 0xda) {
      if (!frame) fail('scan before the frame header');
      if (data[body] !== 1) fail(`scan of ${data[body]} components (one expected)`);
      if (data[body + 1] !== frame!.componentId) fail('scan component is not the frame’s');
      const table = tables[data[body + 2]! >> 4] ?? fail(`scan uses Huffman table ${data[body + 2]! >> 4}, which is not defined`);
      const predictor = data[body + 3]!;
      const pointTransform = data[body + 5]! & 0x0f;
      if (predictor < 1 || predictor > 7) fail(`predictor ${predictor} (1 to 7)`);
      if (pointTransform >= frame!.precision) fail(`point transform ${pointTransform} for ${frame!.precision}-bit samples`);
      return { ...frame!, restartInterval, scan: { table, predictor, pointTransform, start: end } };
    } else if (marker === 0xd9) {
      fail('EOI before any scan');
    }
    pos = end;
  }
}

/** Zero bytes after the window's data: the 4-byte reads at its last code's bits reach into them. */
const PADDING = 8;
/** The most bytes one row can take: a 16-bit code and 16 difference bits a sample. */
const maxRowBytes = (columns: number): number => columns * 4;
/** The window's usual size; more when two of the widest rows would not fit. */
const WINDOW_BYTES = 65536;

/**
 * Decodes the codestream. `rowsIfUndefined`: the height to use when the frame header leaves it
 * to a DNL marker (0 rows); the DICOM header's.
 */
export function decodeJpegLossless(data: Uint8Array, rowsIfUndefined: number): LosslessFrame {
  const header = readHeader(data);
  const { precision, columns, restartInterval } = header;
  const rows = header.rows || rowsIfUndefined;
  if (columns === 0 || rows === 0) fail('frame of 0 samples');
  if (restartInterval % columns !== 0) fail(`restart interval ${restartInterval} is not a whole number of ${columns}-sample rows`);
  const { table, predictor, pointTransform, start } = header.scan;
  const out = new Uint16Array(rows * columns);
  const restartRows = restartInterval / columns || rows;
  const initial = 1 << (precision - pointTransform - 1);
  const differences = new Int32Array(columns);
  const rowBytes = maxRowBytes(columns);
  const window = new EntropyWindow(data, Math.max(WINDOW_BYTES, 2 * rowBytes + PADDING));
  let pos = start;
  for (let first = 0; first < rows; first += restartRows) {
    if (first > 0) pos = afterRestartMarker(data, pos) ?? fail(`restart marker missing before row ${first}`);
    window.start(pos);
    let bitPos = 0;
    for (let row = first; row < Math.min(rows, first + restartRows); row++) {
      bitPos = window.keep(bitPos, rowBytes);
      // The first row (of the scan or of a restart interval) predicts from the left only (T.81 H.1.2.1).
      const rowPredictor = row === first ? 0 : predictor;
      // Left-only rows are predicted as they are decoded; the others from their differences after.
      const left = rowPredictor === 0 ? initial : rowPredictor === 1 ? out[(row - 1) * columns]! : -1;
      bitPos = decodeRow(window.view, window.length, bitPos, table, differences, out, row * columns, columns, left);
      if (bitPos > window.length * 8) fail(`entropy-coded data ends in row ${row} of ${rows}`);
      if (left < 0) predictRow(differences, out, row * columns, columns, rowPredictor, initial);
    }
    pos = window.pos;
  }
  if (pointTransform > 0) for (let k = 0; k < out.length; k++) out[k] = out[k]! << pointTransform;
  return { samples: out, rows, columns, precision };
}

/**
 * A restart interval's entropy-coded data with its byte stuffing undone (one memchr-speed search
 * per 0xFF), a window at a time: a code at any bit position is then one 32-bit load away, with no
 * bit buffer to refill, and a 5-Mpixel frame needs a 64 KiB window, not a copy of its codestream.
 */
class EntropyWindow {
  readonly bytes: Uint8Array;
  readonly view: DataView;
  /** Unstuffed bytes in the window, followed by PADDING zeros. */
  length = 0;
  /** The next codestream byte not yet in the window; at the marker once the interval's data ended. */
  pos = 0;
  /** The window holds the interval's last data byte. */
  private ended = false;
  /** The first 0xFF at or after `pos` (-1: none), kept so that a long run without one is searched once. */
  private nextFF = -1;

  constructor(
    private readonly data: Uint8Array,
    capacity: number,
  ) {
    this.bytes = new Uint8Array(capacity);
    this.view = new DataView(this.bytes.buffer);
  }

  /** An interval whose data starts at codestream byte `pos`. */
  start(pos: number): void {
    this.pos = pos;
    this.nextFF = this.data.indexOf(0xff, pos);
    this.length = 0;
    this.ended = false;
    this.fill();
  }

  /**
   * At least `ahead` bytes at and after bit `bitPos`, unless the data ends sooner: the bytes
   * before it are dropped and more are read. Returns where `bitPos` is in the window then.
   */
  keep(bitPos: number, ahead: number): number {
    const byte = bitPos >>> 3;
    if (this.ended || this.length - byte >= ahead) return bitPos;
    this.bytes.copyWithin(0, byte, this.length);
    this.length -= byte;
    this.fill();
    return bitPos & 7;
  }

  private fill(): void {
    const { data, bytes } = this;
    const room = bytes.length - PADDING;
    let { pos, length, nextFF } = this;
    while (length < room) {
      const runEnd = nextFF < 0 ? data.length : nextFF;
      const stop = Math.min(runEnd, pos + room - length);
      bytes.set(data.subarray(pos, stop), length);
      length += stop - pos;
      pos = stop;
      if (pos < runEnd || length === room) break;
      if (nextFF < 0) {
        this.ended = true;
        break;
      }
      const after = afterStuffedFF(data, nextFF);
      if (after < 0) {
        this.ended = true;
        break;
      }
      bytes[length++] = 0xff;
      pos = after;
      nextFF = data.indexOf(0xff, pos);
    }
    bytes.fill(0, length, length + PADDING);
    this.pos = pos;
    this.length = length;
    this.nextFF = nextFF;
  }
}

/**
 * Where the data goes on after the 0xFF at `pos`: past a stuffed zero (0xFF 0x00 is a data
 * byte 0xFF; fill bytes 0xFF before it are skipped, as libjpeg does), or -1 at a marker.
 */
function afterStuffedFF(data: Uint8Array, pos: number): number {
  let next = pos + 1;
  while (next < data.length && data[next] === 0xff) next++;
  return next < data.length && data[next] === 0x00 ? next + 1 : -1;
}

/** The position after the next RSTn marker at or after `pos`, skipping the rest of the interval's data; undefined at any other marker. */
function afterRestartMarker(data: Uint8Array, pos: number): number | undefined {
  for (;;) {
    const ff = data.indexOf(0xff, pos);
    if (ff < 0) return undefined;
    const after = afterStuffedFF(data, ff);
    if (after >= 0) {
      pos = after;
      continue;
    }
    let marker = ff + 1;
    while (data[marker] === 0xff) marker++;
    const code = data[marker];
    return code !== undefined && code >= 0xd0 && code <= 0xd7 ? marker + 1 : undefined;
  }
}

/** The `n` (≤ 25) bits from bit `bitPos` on. */
const bitsAt = (view: DataView, bitPos: number, n: number): number => (view.getUint32(bitPos >>> 3) << (bitPos & 7)) >>> (32 - n);

/**
 * One row from bit `bitPos` of the unstuffed data (`length` bytes of it in `view`); returns the
 * bit position after it. `left` ≥ 0: a left-predicted row whose first sample is predicted as
 * `left`, reconstructed into out[start, start + columns); -1: the row's differences go into
 * `differences`, for predictRow. Its own function, called once a row, so that V8 optimises it
 * after a few rows of the first image instead of replacing a running loop.
 */
function decodeRow(view: DataView, length: number, bitPos: number, table: HuffmanTable, differences: Int32Array, out: Uint16Array, start: number, columns: number, left: number): number {
  const { lookup, maxCode, offset, symbols } = table;
  let a = left;
  for (let x = 0; x < columns; x++) {
    // Past the data: the caller refuses the row (reads stay within PADDING of it until then).
    if (bitPos >>> 3 > length) break;
    const entry = lookup[bitsAt(view, bitPos, LOOKUP_BITS)]!;
    let difference: number;
    if (entry > 0) {
      bitPos += entry & 31;
      difference = (entry >> 5) - 32768;
    } else {
      let category: number;
      if (entry < 0) {
        bitPos += -entry & 31;
        category = -entry >> 5;
      } else {
        let codeLength = LOOKUP_BITS + 1;
        let code = bitsAt(view, bitPos, codeLength);
        while (codeLength <= 16 && code > maxCode[codeLength]!) {
          codeLength++;
          code = bitsAt(view, bitPos, codeLength);
        }
        if (codeLength > 16) fail(`invalid Huffman code at sample ${start + x}`);
        bitPos += codeLength;
        category = symbols[offset[codeLength]! + code]!;
      }
      if (category === 16) difference = 32768;
      else {
        difference = extend(category === 0 ? 0 : bitsAt(view, bitPos, category), category);
        bitPos += category;
      }
    }
    if (a >= 0) out[start + x] = a = (a + difference) & 0xffff;
    else differences[x] = difference;
  }
  return bitPos;
}

/**
 * out[start + x] = prediction + differences[x] along one row (T.81 H.1.2.1), modulo 2^16. One
 * loop per predictor (a per-sample switch cost SV6 a third more time), with the left and
 * above-left neighbours carried in variables rather than read back from `out`.
 */
function predictRow(differences: Int32Array, out: Uint16Array, start: number, columns: number, predictor: number, initial: number): void {
  const d = differences;
  const up = start - columns;
  let a = ((predictor === 0 ? initial : out[up]!) + d[0]!) & 0xffff; // left
  out[start] = a;
  let c = predictor === 0 ? 0 : out[up]!; // above-left
  switch (predictor) {
    case 0:
    case 1:
      for (let x = 1; x < columns; x++) out[start + x] = a = (a + d[x]!) & 0xffff;
      break;
    case 2:
      for (let x = 1; x < columns; x++) out[start + x] = out[up + x]! + d[x]!;
      break;
    case 3:
      for (let x = 1; x < columns; x++) out[start + x] = out[up + x - 1]! + d[x]!;
      break;
    case 4:
      for (let x = 1; x < columns; x++) {
        const b = out[up + x]!;
        out[start + x] = a = (a + b - c + d[x]!) & 0xffff;
        c = b;
      }
      break;
    case 5:
      for (let x = 1; x < columns; x++) {
        const b = out[up + x]!;
        out[start + x] = a = (a + ((b - c) >> 1) + d[x]!) & 0xffff;
        c = b;
      }
      break;
    case 6:
      for (let x = 1; x < columns; x++) {
        const b = out[up + x]!;
        out[start + x] = a = (b + ((a - c) >> 1) + d[x]!) & 0xffff;
        c = b;
      }
      break;
    default:
      for (let x = 1; x < columns; x++) out[start + x] = a = (((a + out[up + x]!) >> 1) + d[x]!) & 0xffff;
  }
}
