/** How the pixel data of one transfer syntax is stored, and which codec reads it. */
export type PixelCodec = 'native' | 'jpeg' | 'jpeg-lossless' | 'jpeg-ls' | 'jpeg2000' | 'rle';

export interface TransferSyntax {
  uid: string;
  name: string;
  littleEndian: boolean;
  explicitVr: boolean;
  deflated: boolean;
  codec: PixelCodec;
  lossy: boolean;
}

const syntax = (uid: string, name: string, codec: PixelCodec, options: Partial<TransferSyntax> = {}): TransferSyntax => ({
  uid,
  name,
  littleEndian: true,
  explicitVr: true,
  deflated: false,
  codec,
  lossy: false,
  ...options,
});

/** Every transfer syntax the DICOM decoder reads; anything else is E_DICOM_SYNTAX_UNSUPPORTED. */
export const TRANSFER_SYNTAXES: readonly TransferSyntax[] = [
  syntax('1.2.840.10008.1.2', 'Implicit VR Little Endian', 'native', { explicitVr: false }),
  syntax('1.2.840.10008.1.2.1', 'Explicit VR Little Endian', 'native'),
  syntax('1.2.840.10008.1.2.1.99', 'Deflated Explicit VR Little Endian', 'native', { deflated: true }),
  syntax('1.2.840.10008.1.2.2', 'Explicit VR Big Endian', 'native', { littleEndian: false }),
  syntax('1.2.840.10008.1.2.4.50', 'JPEG Baseline (Process 1)', 'jpeg', { lossy: true }),
  syntax('1.2.840.10008.1.2.4.51', 'JPEG Extended (Process 2 & 4)', 'jpeg', { lossy: true }),
  syntax('1.2.840.10008.1.2.4.57', 'JPEG Lossless, Non-Hierarchical (Process 14)', 'jpeg-lossless'),
  syntax('1.2.840.10008.1.2.4.70', 'JPEG Lossless, Non-Hierarchical, First-Order Prediction (Process 14, SV1)', 'jpeg-lossless'),
  syntax('1.2.840.10008.1.2.4.80', 'JPEG-LS Lossless', 'jpeg-ls'),
  syntax('1.2.840.10008.1.2.4.81', 'JPEG-LS Near-Lossless', 'jpeg-ls', { lossy: true }),
  syntax('1.2.840.10008.1.2.4.90', 'JPEG 2000 (Lossless Only)', 'jpeg2000'),
  syntax('1.2.840.10008.1.2.4.91', 'JPEG 2000', 'jpeg2000', { lossy: true }),
  syntax('1.2.840.10008.1.2.5', 'RLE Lossless', 'rle'),
];

const BY_UID = new Map(TRANSFER_SYNTAXES.map((entry) => [entry.uid, entry]));

export function transferSyntax(uid: string): TransferSyntax | undefined {
  return BY_UID.get(uid);
}

/** The three ways a dataset's elements can be laid out (deflated inflates into explicit LE). */
export const IMPLICIT_LE = BY_UID.get('1.2.840.10008.1.2')!;
export const EXPLICIT_LE = BY_UID.get('1.2.840.10008.1.2.1')!;
export const EXPLICIT_BE = BY_UID.get('1.2.840.10008.1.2.2')!;
