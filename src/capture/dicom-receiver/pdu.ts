/**
 * DICOM Upper Layer PDUs (PS3.8 section 9): just what an SCP for C-ECHO and C-STORE needs,
 * plus the few an SCU needs to send an echo (used by `doctor`). Every length is checked
 * against the bytes present before it is used; a malformed PDU raises PduError.
 */
import { AbortReason, APPLICATION_CONTEXT, IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME } from './constants.js';

export const PduType = {
  ASSOCIATE_RQ: 0x01,
  ASSOCIATE_AC: 0x02,
  ASSOCIATE_RJ: 0x03,
  P_DATA_TF: 0x04,
  RELEASE_RQ: 0x05,
  RELEASE_RP: 0x06,
  ABORT: 0x07,
} as const;

/** A PDU that breaks the protocol; `reason` goes into the A-ABORT sent back. */
export class PduError extends Error {
  constructor(
    message: string,
    readonly reason: number = AbortReason.INVALID_PDU_PARAMETER,
  ) {
    super(message);
    this.name = 'PduError';
  }
}

export interface RawPdu {
  type: number;
  body: Buffer;
}

/** Largest PDU body of any type but P-DATA-TF (an A-ASSOCIATE-RQ with many contexts fits easily). */
export const MAX_CONTROL_PDU_BYTES = 256 * 1024;

/**
 * Splits a byte stream into PDUs. The 6-byte header is checked as soon as it is there, so an
 * oversized or unknown PDU is refused before its body is buffered.
 */
export class PduFramer {
  private chunks: Buffer[] = [];
  private buffered = 0;

  constructor(private readonly maxDataPduBytes: number) {}

  get pendingBytes(): number {
    return this.buffered;
  }

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
  }

  /** The next complete PDU, or undefined until more bytes arrive. */
  next(): RawPdu | undefined {
    if (this.buffered < 6) return undefined;
    const header = this.peek(6);
    const type = header[0]!;
    const length = header.readUInt32BE(2);
    if (type < PduType.ASSOCIATE_RQ || type > PduType.ABORT) throw new PduError(`unknown PDU type 0x${type.toString(16).padStart(2, '0')}`, AbortReason.UNRECOGNIZED_PDU);
    const limit = type === PduType.P_DATA_TF ? this.maxDataPduBytes : MAX_CONTROL_PDU_BYTES;
    if (length > limit) throw new PduError(`PDU type 0x0${type} of ${length} bytes is over the limit of ${limit}`, AbortReason.INVALID_PDU_PARAMETER);
    if (this.buffered < 6 + length) return undefined;
    const whole = this.take(6 + length);
    return { type, body: whole.subarray(6) };
  }

  private peek(n: number): Buffer {
    if (this.chunks[0]!.length >= n) return this.chunks[0]!.subarray(0, n);
    const joined = Buffer.concat(this.chunks);
    this.chunks = [joined];
    return joined.subarray(0, n);
  }

  private take(n: number): Buffer {
    const first = this.chunks[0]!;
    let out: Buffer;
    if (first.length >= n) {
      out = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
    } else {
      const parts: Buffer[] = [];
      let need = n;
      while (need > 0) {
        const chunk = this.chunks[0]!;
        if (chunk.length <= need) {
          parts.push(chunk);
          this.chunks.shift();
          need -= chunk.length;
        } else {
          parts.push(chunk.subarray(0, need));
          this.chunks[0] = chunk.subarray(need);
          need = 0;
        }
      }
      out = Buffer.concat(parts, n);
    }
    this.buffered -= n;
    return out;
  }
}

export interface ProposedContext {
  id: number;
  abstractSyntax: string;
  transferSyntaxes: string[];
}

export interface AssociateRq {
  protocolVersion: number;
  calledAE: string;
  callingAE: string;
  applicationContext: string;
  contexts: ProposedContext[];
  /** 0: no limit stated. */
  maxPduLength: number;
  implementationClassUid: string;
  implementationVersionName: string;
}

export interface AcceptedContext {
  id: number;
  result: number;
  transferSyntax: string;
}

/** UI values are padded with NUL, AE titles and names with spaces. */
function text(buffer: Buffer): string {
  return buffer.toString('latin1').replace(/[\0 ]+$/, '').replace(/^ +/, '');
}

/** Reads the items of a variable field: [type, value] pairs, each bounds-checked. */
function* items(body: Buffer, where: string): Generator<[number, Buffer]> {
  let at = 0;
  while (at < body.length) {
    if (at + 4 > body.length) throw new PduError(`${where}: truncated item header`);
    const type = body[at]!;
    const length = body.readUInt16BE(at + 2);
    if (at + 4 + length > body.length) throw new PduError(`${where}: item 0x${type.toString(16)} of ${length} bytes overruns its PDU`);
    yield [type, body.subarray(at + 4, at + 4 + length)];
    at += 4 + length;
  }
}

export function parseAssociateRq(body: Buffer): AssociateRq {
  if (body.length < 68) throw new PduError(`A-ASSOCIATE-RQ of ${body.length} bytes is shorter than its fixed fields (68)`);
  const rq: AssociateRq = {
    protocolVersion: body.readUInt16BE(0),
    calledAE: text(body.subarray(4, 20)),
    callingAE: text(body.subarray(20, 36)),
    applicationContext: '',
    contexts: [],
    maxPduLength: 0,
    implementationClassUid: '',
    implementationVersionName: '',
  };
  for (const [type, value] of items(body.subarray(68), 'A-ASSOCIATE-RQ')) {
    if (type === 0x10) rq.applicationContext = text(value);
    else if (type === 0x20) rq.contexts.push(parseProposedContext(value));
    else if (type === 0x50) {
      for (const [subType, sub] of items(value, 'user information')) {
        if (subType === 0x51) {
          if (sub.length !== 4) throw new PduError('maximum length sub-item is not 4 bytes');
          rq.maxPduLength = sub.readUInt32BE(0);
        } else if (subType === 0x52) rq.implementationClassUid = text(sub);
        else if (subType === 0x55) rq.implementationVersionName = text(sub);
        // Asynchronous operations, role selection, extended negotiation, user identity: not
        // answered, which leaves their defaults (PS3.7 D.3.3).
      }
    } else throw new PduError(`unknown item type 0x${type.toString(16)} in A-ASSOCIATE-RQ`, AbortReason.UNRECOGNIZED_PDU_PARAMETER);
  }
  return rq;
}

function parseProposedContext(value: Buffer): ProposedContext {
  if (value.length < 4) throw new PduError('presentation context item shorter than 4 bytes');
  const context: ProposedContext = { id: value[0]!, abstractSyntax: '', transferSyntaxes: [] };
  for (const [type, sub] of items(value.subarray(4), 'presentation context')) {
    if (type === 0x30) context.abstractSyntax = text(sub);
    else if (type === 0x40) context.transferSyntaxes.push(text(sub));
    else throw new PduError(`unknown sub-item 0x${type.toString(16)} in presentation context ${context.id}`, AbortReason.UNRECOGNIZED_PDU_PARAMETER);
  }
  if (context.id % 2 === 0) throw new PduError(`presentation context id ${context.id} is even`);
  return context;
}

function item(type: number, value: Buffer): Buffer {
  const head = Buffer.alloc(4);
  head[0] = type;
  head.writeUInt16BE(value.length, 2);
  return Buffer.concat([head, value]);
}

function pdu(type: number, body: Buffer): Buffer {
  const head = Buffer.alloc(6);
  head[0] = type;
  head.writeUInt32BE(body.length, 2);
  return Buffer.concat([head, body]);
}

function aeField(ae: string): Buffer {
  return Buffer.from(ae.padEnd(16, ' ').slice(0, 16), 'latin1');
}

function userInformation(maxPduLength: number): Buffer {
  const max = Buffer.alloc(4);
  max.writeUInt32BE(maxPduLength);
  return item(
    0x50,
    Buffer.concat([item(0x51, max), item(0x52, Buffer.from(IMPLEMENTATION_CLASS_UID, 'latin1')), item(0x55, Buffer.from(IMPLEMENTATION_VERSION_NAME, 'latin1'))]),
  );
}

function associateHeader(calledAE: string, callingAE: string): Buffer {
  const fixed = Buffer.alloc(68);
  fixed.writeUInt16BE(1, 0);
  aeField(calledAE).copy(fixed, 4);
  aeField(callingAE).copy(fixed, 20);
  return fixed;
}

export function associateAc(rq: AssociateRq, contexts: AcceptedContext[], maxPduLength: number): Buffer {
  const parts = [associateHeader(rq.calledAE, rq.callingAE), item(0x10, Buffer.from(APPLICATION_CONTEXT, 'latin1'))];
  for (const context of contexts) {
    const head = Buffer.from([context.id, 0, context.result, 0]);
    parts.push(item(0x21, Buffer.concat([head, item(0x40, Buffer.from(context.transferSyntax, 'latin1'))])));
  }
  parts.push(userInformation(maxPduLength));
  return pdu(PduType.ASSOCIATE_AC, Buffer.concat(parts));
}

export function associateRj(result: number, source: number, reason: number): Buffer {
  return pdu(PduType.ASSOCIATE_RJ, Buffer.from([0, result, source, reason]));
}

export function releaseRp(): Buffer {
  return pdu(PduType.RELEASE_RP, Buffer.alloc(4));
}

export function releaseRq(): Buffer {
  return pdu(PduType.RELEASE_RQ, Buffer.alloc(4));
}

/** Source 2: the service provider (this side) aborts. */
export function abort(reason: number, source = 2): Buffer {
  return pdu(PduType.ABORT, Buffer.from([0, 0, source, reason]));
}

export interface Pdv {
  contextId: number;
  command: boolean;
  last: boolean;
  data: Buffer;
}

export function parsePData(body: Buffer): Pdv[] {
  const pdvs: Pdv[] = [];
  let at = 0;
  while (at < body.length) {
    if (at + 6 > body.length) throw new PduError('P-DATA-TF: truncated PDV header');
    const length = body.readUInt32BE(at);
    if (length < 2 || at + 4 + length > body.length) throw new PduError(`P-DATA-TF: PDV of ${length} bytes overruns its PDU`);
    const control = body[at + 5]!;
    pdvs.push({ contextId: body[at + 4]!, command: (control & 1) === 1, last: (control & 2) === 2, data: body.subarray(at + 6, at + 4 + length) });
    at += 4 + length;
  }
  if (pdvs.length === 0) throw new PduError('P-DATA-TF without a PDV');
  return pdvs;
}

/** One PDV per PDU. */
export function pData(contextId: number, command: boolean, last: boolean, data: Buffer): Buffer {
  const head = Buffer.alloc(6);
  head.writeUInt32BE(data.length + 2, 0);
  head[4] = contextId;
  head[5] = (command ? 1 : 0) | (last ? 2 : 0);
  return pdu(PduType.P_DATA_TF, Buffer.concat([head, data]));
}

/** An A-ASSOCIATE-RQ proposing one context per abstract syntax (for the echo SCU). */
export function associateRq(calledAE: string, callingAE: string, contexts: ProposedContext[], maxPduLength: number): Buffer {
  const parts = [associateHeader(calledAE, callingAE), item(0x10, Buffer.from(APPLICATION_CONTEXT, 'latin1'))];
  for (const context of contexts) {
    const subs = [item(0x30, Buffer.from(context.abstractSyntax, 'latin1')), ...context.transferSyntaxes.map((ts) => item(0x40, Buffer.from(ts, 'latin1')))];
    parts.push(item(0x20, Buffer.concat([Buffer.from([context.id, 0, 0, 0]), ...subs])));
  }
  parts.push(userInformation(maxPduLength));
  return pdu(PduType.ASSOCIATE_RQ, Buffer.concat(parts));
}

/** The accepted contexts of an A-ASSOCIATE-AC (for the echo SCU). */
export function parseAssociateAc(body: Buffer): AcceptedContext[] {
  if (body.length < 68) throw new PduError('A-ASSOCIATE-AC shorter than its fixed fields');
  const contexts: AcceptedContext[] = [];
  for (const [type, value] of items(body.subarray(68), 'A-ASSOCIATE-AC')) {
    if (type !== 0x21 || value.length < 4) continue;
    let transferSyntax = '';
    for (const [subType, sub] of items(value.subarray(4), 'presentation context')) if (subType === 0x40) transferSyntax = text(sub);
    contexts.push({ id: value[0]!, result: value[2]!, transferSyntax });
  }
  return contexts;
}
