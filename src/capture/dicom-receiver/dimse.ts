/**
 * DIMSE command sets (PS3.7 section 9.3 and E): group 0000 elements, always Implicit VR
 * Little Endian. Only the elements C-ECHO and C-STORE use are read; the rest are skipped.
 */
import { PduError } from './pdu.js';

export interface CommandSet {
  commandField: number;
  messageId: number;
  /** 0x0101: no data set follows. */
  dataSetType: number;
  affectedSopClassUid: string;
  affectedSopInstanceUid: string;
  status?: number;
}

const US_TAGS = new Set([0x0100, 0x0110, 0x0120, 0x0700, 0x0800, 0x0900, 0x1031]);

export function parseCommand(bytes: Buffer): CommandSet {
  const command: CommandSet = { commandField: -1, messageId: -1, dataSetType: -1, affectedSopClassUid: '', affectedSopInstanceUid: '' };
  let at = 0;
  while (at < bytes.length) {
    if (at + 8 > bytes.length) throw new PduError('command set: truncated element header');
    const group = bytes.readUInt16LE(at);
    const element = bytes.readUInt16LE(at + 2);
    const length = bytes.readUInt32LE(at + 4);
    if (group !== 0x0000) throw new PduError(`command set holds an element of group ${group.toString(16).padStart(4, '0')}`);
    if (at + 8 + length > bytes.length) throw new PduError(`command set: element (0000,${element.toString(16).padStart(4, '0')}) overruns the command`);
    const value = bytes.subarray(at + 8, at + 8 + length);
    if (US_TAGS.has(element) && length !== 2) throw new PduError(`command set: (0000,${element.toString(16).padStart(4, '0')}) is not 2 bytes`);
    switch (element) {
      case 0x0002:
        command.affectedSopClassUid = uid(value);
        break;
      case 0x0100:
        command.commandField = value.readUInt16LE(0);
        break;
      case 0x0110:
        command.messageId = value.readUInt16LE(0);
        break;
      case 0x0800:
        command.dataSetType = value.readUInt16LE(0);
        break;
      case 0x0900:
        command.status = value.readUInt16LE(0);
        break;
      case 0x1000:
        command.affectedSopInstanceUid = uid(value);
        break;
    }
    at += 8 + length;
  }
  if (command.commandField < 0) throw new PduError('command set without a command field (0000,0100)');
  if (command.dataSetType < 0) throw new PduError('command set without a data set type (0000,0800)');
  return command;
}

function uid(value: Buffer): string {
  return value.toString('latin1').replace(/[\0 ]+$/, '');
}

type Element = [element: number, value: Buffer];

function us(value: number): Buffer {
  const out = Buffer.alloc(2);
  out.writeUInt16LE(value);
  return out;
}

function ui(value: string): Buffer {
  return Buffer.from(value.length % 2 === 0 ? value : `${value}\0`, 'latin1');
}

function lo(value: string): Buffer {
  const clipped = value.replace(/[\\\n\r]/g, ' ').slice(0, 64);
  return Buffer.from(clipped.length % 2 === 0 ? clipped : `${clipped} `, 'latin1');
}

function encode(elements: Element[]): Buffer {
  const parts: Buffer[] = [];
  for (const [element, value] of elements.sort((a, b) => a[0] - b[0])) {
    const head = Buffer.alloc(8);
    head.writeUInt16LE(0x0000, 0);
    head.writeUInt16LE(element, 2);
    head.writeUInt32LE(value.length, 4);
    parts.push(head, value);
  }
  const body = Buffer.concat(parts);
  const groupLength = Buffer.alloc(12);
  groupLength.writeUInt32LE(4, 4);
  groupLength.writeUInt32LE(body.length, 8);
  return Buffer.concat([groupLength, body]);
}

export interface ResponseFields {
  commandField: number;
  messageIdBeingRespondedTo: number;
  affectedSopClassUid: string;
  affectedSopInstanceUid?: string;
  status: number;
  /** (0000,0902) Error Comment, with a failure status: shown by most senders. */
  errorComment?: string;
}

export function encodeResponse(fields: ResponseFields): Buffer {
  const elements: Element[] = [
    [0x0002, ui(fields.affectedSopClassUid)],
    [0x0100, us(fields.commandField)],
    [0x0120, us(fields.messageIdBeingRespondedTo)],
    [0x0800, us(0x0101)],
    [0x0900, us(fields.status)],
  ];
  if (fields.affectedSopInstanceUid) elements.push([0x1000, ui(fields.affectedSopInstanceUid)]);
  if (fields.errorComment) elements.push([0x0902, lo(fields.errorComment)]);
  return encode(elements);
}

/** A C-ECHO-RQ (for the echo SCU). */
export function encodeEchoRequest(messageId: number, sopClassUid: string): Buffer {
  return encode([
    [0x0002, ui(sopClassUid)],
    [0x0100, us(0x0030)],
    [0x0110, us(messageId)],
    [0x0800, us(0x0101)],
  ]);
}
