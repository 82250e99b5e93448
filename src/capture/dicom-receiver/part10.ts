/**
 * The DICOM file format wrapper (PS3.10 7.1): 128-byte preamble, "DICM", and the File Meta
 * Information group (0002) in Explicit VR Little Endian. The received data set follows it
 * byte for byte, in the transfer syntax it was sent in.
 */
import { IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME } from './constants.js';

export interface FileMeta {
  sopClassUid: string;
  sopInstanceUid: string;
  transferSyntaxUid: string;
  /** The calling AE title: (0002,0016) Source Application Entity Title. */
  sourceAE: string;
}

function element(elementNumber: number, vr: string, value: Buffer): Buffer {
  const long = vr === 'OB' || vr === 'UN' || vr === 'SQ' || vr === 'UT';
  const head = Buffer.alloc(long ? 12 : 8);
  head.writeUInt16LE(0x0002, 0);
  head.writeUInt16LE(elementNumber, 2);
  head.write(vr, 4, 'latin1');
  if (long) head.writeUInt32LE(value.length, 8);
  else head.writeUInt16LE(value.length, 6);
  return Buffer.concat([head, value]);
}

function padded(value: string, pad: string): Buffer {
  return Buffer.from(value.length % 2 === 0 ? value : value + pad, 'latin1');
}

export function fileMetaHeader(meta: FileMeta): Buffer {
  const body = Buffer.concat([
    element(0x0001, 'OB', Buffer.from([0, 1])),
    element(0x0002, 'UI', padded(meta.sopClassUid, '\0')),
    element(0x0003, 'UI', padded(meta.sopInstanceUid, '\0')),
    element(0x0010, 'UI', padded(meta.transferSyntaxUid, '\0')),
    element(0x0012, 'UI', padded(IMPLEMENTATION_CLASS_UID, '\0')),
    element(0x0013, 'SH', padded(IMPLEMENTATION_VERSION_NAME, ' ')),
    ...(meta.sourceAE ? [element(0x0016, 'AE', padded(meta.sourceAE, ' '))] : []),
  ]);
  const groupLength = Buffer.alloc(4);
  groupLength.writeUInt32LE(body.length);
  return Buffer.concat([Buffer.alloc(128), Buffer.from('DICM', 'latin1'), element(0x0000, 'UL', groupLength), body]);
}

/** Where the data set starts in a Part 10 file, from its (0002,0000) group length. */
export function dataSetOffset(file: Buffer): number {
  if (file.length < 144 || file.toString('latin1', 128, 132) !== 'DICM') throw new Error('not a DICOM Part 10 file');
  if (file.readUInt16LE(132) !== 0x0002 || file.readUInt16LE(134) !== 0x0000) throw new Error('file meta information does not start with its group length');
  return 144 + file.readUInt32LE(140);
}
