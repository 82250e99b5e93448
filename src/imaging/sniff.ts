/** Magic numbers of formats we recognise. `supported` marks what the raster decoder takes. */
interface Signature {
  format: string;
  matches(bytes: Buffer): boolean;
}

const startsWith = (bytes: Buffer, magic: number[], offset = 0): boolean =>
  bytes.length >= offset + magic.length && magic.every((value, i) => bytes[offset + i] === value);
const ascii = (text: string): number[] => [...text].map((c) => c.charCodeAt(0));

export const RASTER_SIGNATURES: Signature[] = [
  { format: 'jpeg', matches: (b) => startsWith(b, [0xff, 0xd8, 0xff]) },
  { format: 'png', matches: (b) => startsWith(b, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]) },
  { format: 'tiff', matches: (b) => startsWith(b, [0x49, 0x49, 0x2a, 0x00]) || startsWith(b, [0x4d, 0x4d, 0x00, 0x2a]) },
  { format: 'webp', matches: (b) => startsWith(b, ascii('RIFF')) && startsWith(b, ascii('WEBP'), 8) },
];

/** Formats we know by sight and refuse, so the error can name them instead of "not an image". */
const REFUSED_SIGNATURES: Signature[] = [
  { format: 'gif', matches: (b) => startsWith(b, ascii('GIF87a')) || startsWith(b, ascii('GIF89a')) },
  { format: 'pdf', matches: (b) => startsWith(b, ascii('%PDF-')) },
  { format: 'svg', matches: (b) => /<svg[\s>]/i.test(b.subarray(0, 4096).toString('latin1')) },
  { format: 'bmp', matches: (b) => startsWith(b, ascii('BM')) && b.length > 26 && b.readUInt32LE(2) === b.length },
  { format: 'heif/avif', matches: (b) => startsWith(b, ascii('ftyp'), 4) },
  { format: 'jpeg2000', matches: (b) => startsWith(b, [0x00, 0x00, 0x00, 0x0c, 0x6a, 0x50, 0x20, 0x20]) || startsWith(b, [0xff, 0x4f, 0xff, 0x51]) },
  { format: 'psd', matches: (b) => startsWith(b, ascii('8BPS')) },
];

export function sniffFormat(bytes: Buffer, signatures: Signature[] = RASTER_SIGNATURES): string | undefined {
  return signatures.find((signature) => signature.matches(bytes))?.format;
}

export function sniffRefusedFormat(bytes: Buffer): string | undefined {
  return sniffFormat(bytes, REFUSED_SIGNATURES);
}
