/**
 * A minimal DICOM Storage SCP: associations (PS3.8), C-ECHO and C-STORE (PS3.7), nothing else.
 * Each association reads its socket in order (async iteration, so the socket pauses while an
 * instance is written), every length is bounded before it is buffered, and anything that
 * breaks the protocol ends that association with an A-ABORT — never the listener. No number
 * of connections that never associate locks a modality out: strangers and connections over the
 * per-address limit are closed at accept, a connection has requestTimeoutMs for its request,
 * and every new connection is read (the longest-waiting one makes room, see below).
 */
import net from 'node:net';
import { ErrorCode } from '../../errors.js';
import { AbortReason, APPLICATION_CONTEXT, Command, ContextResult, NO_DATASET, Reject, Status } from './constants.js';
import { encodeResponse, parseCommand, type CommandSet } from './dimse.js';
import {
  abort,
  associateAc,
  associateRj,
  parseAssociateRq,
  parsePData,
  pData,
  PduError,
  PduFramer,
  PduType,
  releaseRp,
  type AcceptedContext,
  type Pdv,
} from './pdu.js';
import type { AssociationInfo, ConnectionInfo, InstanceWriter, ScpHandlers, StorageScp, StorageScpOptions } from './storage-scp.js';

const MAX_COMMAND_BYTES = 64 * 1024;

/**
 * Sockets without an accepted association (waiting for their A-ASSOCIATE-RQ, or refused and not
 * yet closed by the peer), all addresses together. Beyond this the longest-waiting one is
 * closed instead of the new one being turned away: the newest connection, maybe a modality, is
 * always read, and a flood from many addresses still holds a bounded number of descriptors.
 */
export const MAX_WAITING_CONNECTIONS = 64;

/** Ends the association; `code` is the error code logged for it. */
class AssociationEnd extends Error {
  constructor(
    message: string,
    readonly code: string,
    readonly abortReason: number | undefined,
  ) {
    super(message);
  }
}

interface PendingStore {
  contextId: number;
  command: CommandSet;
  transferSyntax: string;
  writer: InstanceWriter | undefined;
  /** Set when the data set is read and dropped: the status to answer with. */
  failure: { status: number; why: string } | undefined;
  bytes: number;
  startedAt: number;
}

export class MiniStorageScp implements StorageScp {
  private server: net.Server | undefined;
  private readonly associations = new Set<AssociationConnection>();
  /** Connections without an accepted association, oldest first (a Set keeps insertion order). */
  readonly waiting = new Set<AssociationConnection>();
  /** Open connections per peer address, associated or not. */
  private readonly perPeer = new Map<string, number>();
  private nextId = 1;
  accepted = 0;

  constructor(
    readonly options: StorageScpOptions,
    private readonly handlers: ScpHandlers,
  ) {}

  get activeAssociations(): number {
    return this.accepted;
  }

  listen(port: number, host: string): Promise<number> {
    return new Promise((resolve, reject) => {
      const server = net.createServer({ noDelay: true }, (socket) => this.connection(socket));
      server.once('error', reject);
      server.listen({ port, host, exclusive: true }, () => {
        server.off('error', reject);
        server.on('error', () => undefined);
        this.server = server;
        resolve((server.address() as net.AddressInfo).port);
      });
    });
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    const closed = server ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve();
    await Promise.all([...this.associations].map((association) => association.shutdown()));
    await closed;
  }

  private connection(socket: net.Socket): void {
    // Reset by the peer before it got here: nothing to serve, nothing to say.
    if (!socket.remoteAddress) return void socket.destroy();
    const peerAddress = normaliseAddress(socket.remoteAddress);
    const refusal = this.refusal({ peerAddress, localAddress: normaliseAddress(socket.localAddress ?? '') });
    if (refusal) {
      socket.destroy();
      return this.handlers.event({ type: 'refused', peerAddress, why: refusal });
    }
    this.perPeer.set(peerAddress, (this.perPeer.get(peerAddress) ?? 0) + 1);
    const association = new AssociationConnection(this, socket, this.nextId++, this.handlers);
    this.associations.add(association);
    this.waiting.add(association);
    void association.run().finally(() => {
      this.associations.delete(association);
      this.waiting.delete(association);
      const left = this.perPeer.get(peerAddress)! - 1;
      if (left === 0) this.perPeer.delete(peerAddress);
      else this.perPeer.set(peerAddress, left);
    });
    if (this.waiting.size > MAX_WAITING_CONNECTIONS) {
      const oldest = this.waiting.values().next().value!;
      this.waiting.delete(oldest);
      oldest.evict(`closed to make room for a newer connection: over ${MAX_WAITING_CONNECTIONS} connections were without an association`);
    }
  }

  /** Why this connection is closed at accept, before it is read; undefined when it may go on. */
  private refusal(connection: ConnectionInfo): string | undefined {
    const decision = this.handlers.admit(connection);
    if (!decision.admit) return decision.why;
    const open = this.perPeer.get(connection.peerAddress) ?? 0;
    if (open >= this.options.maxConnectionsPerPeer) return `already ${open} connections from ${connection.peerAddress} (dicom.receiver.maxConnectionsPerPeer)`;
    return undefined;
  }
}

class AssociationConnection {
  private readonly framer: PduFramer;
  private state: 'awaiting-request' | 'open' | 'closing' = 'awaiting-request';
  private info: AssociationInfo | undefined;
  private readonly contexts = new Map<number, { abstractSyntax: string; transferSyntax: string }>();
  private command: { contextId: number; chunks: Buffer[]; bytes: number } | undefined;
  private store: PendingStore | undefined;
  private timer: NodeJS.Timeout | undefined;
  private pumping: Promise<void> | undefined;
  private ending: AssociationEnd | undefined;
  private closed = false;
  private stopping = false;
  private counted = false;
  private instances = 0;
  /** Bytes received so far: a timer that finds it changed re-arms instead of aborting. */
  private received = 0;
  private readonly peerAddress: string;
  private readonly peerPort: number;
  private done: Promise<void> | undefined;

  constructor(
    private readonly scp: MiniStorageScp,
    private readonly socket: net.Socket,
    private readonly id: number,
    private readonly handlers: ScpHandlers,
  ) {
    this.framer = new PduFramer(scp.options.maxPduBytes);
    this.peerAddress = normaliseAddress(socket.remoteAddress ?? '');
    this.peerPort = socket.remotePort ?? 0;
  }

  run(): Promise<void> {
    this.done ??= new Promise((resolve) => {
      this.socket.on('error', () => undefined);
      this.socket.on('data', (chunk: Buffer) => {
        if (this.closed || this.ending || this.state === 'closing') return;
        this.received += chunk.length;
        this.framer.push(chunk);
        this.pumping ??= this.pump().finally(() => (this.pumping = undefined));
      });
      this.socket.once('close', () => void this.finish().then(resolve));
      const { requestTimeoutMs } = this.scp.options;
      this.arm(requestTimeoutMs, `no A-ASSOCIATE-RQ within ${requestTimeoutMs} ms (dicom.receiver.requestTimeoutMs)`, 'deadline');
    });
    return this.done;
  }

  /** Closes at once, without an A-ABORT: a newer connection needs the room. */
  evict(why: string): void {
    this.end(new AssociationEnd(why, ErrorCode.DIMSE_ASSOCIATION_ABORTED, undefined));
    // Also when it had already ended and was only waiting for the peer to close.
    this.socket.destroy();
  }

  /** Ends the association once the instance being written, if any, is committed. */
  async shutdown(): Promise<void> {
    this.stopping = true;
    if (!this.pumping) this.end(new AssociationEnd('receiver stopping', ErrorCode.DIMSE_ASSOCIATION_ABORTED, AbortReason.NOT_SPECIFIED));
    await this.done;
  }

  /**
   * Handles every complete PDU buffered so far, one at a time. The socket is paused meanwhile,
   * so a slow disk slows the sender down instead of filling memory.
   */
  private async pump(): Promise<void> {
    this.socket.pause();
    try {
      for (let raw = this.framer.next(); raw && !this.closed; raw = this.framer.next()) {
        await this.handle(raw.type, raw.body);
        if (this.state === 'closing') return;
      }
      if (this.stopping) throw new AssociationEnd('receiver stopping', ErrorCode.DIMSE_ASSOCIATION_ABORTED, AbortReason.NOT_SPECIFIED);
    } catch (error) {
      if (error instanceof AssociationEnd) this.end(error);
      else if (error instanceof PduError) this.end(new AssociationEnd(`protocol error: ${error.message}`, ErrorCode.DIMSE_PROTOCOL_ERROR, error.reason));
      else this.end(new AssociationEnd(`internal error: ${(error as Error).message}`, ErrorCode.DIMSE_PROTOCOL_ERROR, AbortReason.NOT_SPECIFIED));
    } finally {
      if (!this.socket.destroyed) {
        this.socket.resume();
        if (this.state === 'open' && !this.ending) this.arm(this.scp.options.idleTimeoutMs, `nothing received for ${this.scp.options.idleTimeoutMs} ms`);
      }
    }
  }

  /** Sends A-ABORT (when `reason` is given) and closes; the first ending is the one reported. */
  private end(ending: AssociationEnd): void {
    if (this.ending) return;
    this.ending = ending;
    this.state = 'closing';
    clearTimeout(this.timer);
    if (this.socket.destroyed) return;
    if (ending.abortReason === undefined) return void this.socket.destroy();
    this.socket.end(abort(ending.abortReason));
    // A peer that does not close after our A-ABORT is cut off after a short grace.
    setTimeout(() => this.socket.destroy(), 1000).unref();
  }

  private async finish(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    await this.pumping;
    if (!this.ending && this.state !== 'closing') {
      this.ending = new AssociationEnd(this.stopping ? 'receiver stopping' : 'peer closed the connection without releasing', ErrorCode.DIMSE_ASSOCIATION_ABORTED, undefined);
    }
    const instanceLost = this.store !== undefined;
    await this.store?.writer?.discard();
    this.store = undefined;
    if (this.counted) this.scp.accepted--;
    this.counted = false;
    if (this.ending) this.handlers.event({ type: 'aborted', association: this.info, peerAddress: this.peerAddress, why: this.ending.message, code: this.ending.code, instanceLost });
  }

  /**
   * A 'deadline' is not moved by bytes arriving: a request dribbled in a byte at a time must
   * not hold its socket any longer than silence would.
   */
  private arm(ms: number, why: string, kind: 'idle' | 'deadline' = 'idle'): void {
    clearTimeout(this.timer);
    const armedAt = this.received;
    this.timer = setTimeout(() => {
      // After the poll phase, so bytes that arrived while this process was busy count first.
      setImmediate(() => {
        if (this.closed) return;
        // Never mid-write (the disk, not the peer, is slow then), nor when data came meanwhile.
        if (this.pumping || (kind === 'idle' && this.received !== armedAt)) return this.arm(ms, why, kind);
        if (this.state === 'closing' && !this.ending) return void this.socket.destroy();
        this.end(new AssociationEnd(why, ErrorCode.DIMSE_ASSOCIATION_ABORTED, AbortReason.NOT_SPECIFIED));
      });
    }, ms);
    this.timer.unref();
  }

  private async handle(type: number, body: Buffer): Promise<void> {
    if (this.state === 'awaiting-request') {
      if (type !== PduType.ASSOCIATE_RQ) throw new PduError(`expected A-ASSOCIATE-RQ, got PDU type 0x0${type}`, AbortReason.UNEXPECTED_PDU);
      return this.associate(body);
    }
    switch (type) {
      case PduType.P_DATA_TF:
        for (const pdv of parsePData(body)) await this.pdv(pdv);
        return;
      case PduType.RELEASE_RQ:
        if (this.store || this.command) throw new PduError('A-RELEASE-RQ in the middle of a message', AbortReason.UNEXPECTED_PDU);
        this.socket.write(releaseRp());
        this.state = 'closing';
        this.handlers.event({ type: 'released', association: this.info!, instances: this.instances });
        this.arm(this.scp.options.associationTimeoutMs, 'peer did not close after the release');
        return;
      case PduType.ABORT:
        throw new AssociationEnd('peer sent A-ABORT', ErrorCode.DIMSE_ASSOCIATION_ABORTED, undefined);
      default:
        throw new PduError(`unexpected PDU type 0x0${type} on an open association`, AbortReason.UNEXPECTED_PDU);
    }
  }

  private associate(body: Buffer): void {
    const rq = parseAssociateRq(body);
    this.info = { id: this.id, callingAE: rq.callingAE, calledAE: rq.calledAE, peerAddress: this.peerAddress, peerPort: this.peerPort };
    const reject = (result: number, source: number, reason: number, why: string) => {
      this.socket.write(associateRj(result, source, reason));
      this.state = 'closing';
      this.handlers.event({ type: 'rejected', association: this.info!, why, result, source, reason });
      this.arm(this.scp.options.associationTimeoutMs, 'peer did not close after the rejection');
    };
    if ((rq.protocolVersion & 1) === 0) return reject(Reject.PERMANENT, Reject.SOURCE_ACSE, Reject.PROTOCOL_VERSION_NOT_SUPPORTED, `protocol version ${rq.protocolVersion} not supported`);
    if (rq.applicationContext !== APPLICATION_CONTEXT) {
      return reject(Reject.PERMANENT, Reject.SOURCE_USER, Reject.APPLICATION_CONTEXT_NOT_SUPPORTED, `application context ${rq.applicationContext} not supported`);
    }
    const decision = this.handlers.associate(this.info);
    if (!decision.accept) return reject(decision.result, decision.source, decision.reason, decision.why);
    if (this.scp.accepted >= this.scp.options.maxAssociations) {
      return reject(Reject.TRANSIENT, Reject.SOURCE_PRESENTATION, Reject.LOCAL_LIMIT_EXCEEDED, `already ${this.scp.accepted} associations open (dicom.receiver.maxAssociations)`);
    }
    const answers: AcceptedContext[] = [];
    for (const proposed of rq.contexts) {
      const supported = this.scp.options.contexts.get(proposed.abstractSyntax);
      if (!supported) {
        answers.push({ id: proposed.id, result: ContextResult.ABSTRACT_SYNTAX_NOT_SUPPORTED, transferSyntax: proposed.transferSyntaxes[0] ?? '' });
        continue;
      }
      // The sender's order of preference: whatever it stored the image in is kept as it is.
      const chosen = proposed.transferSyntaxes.find((ts) => supported.includes(ts));
      if (!chosen) {
        answers.push({ id: proposed.id, result: ContextResult.TRANSFER_SYNTAXES_NOT_SUPPORTED, transferSyntax: proposed.transferSyntaxes[0] ?? '' });
        continue;
      }
      answers.push({ id: proposed.id, result: ContextResult.ACCEPTANCE, transferSyntax: chosen });
      this.contexts.set(proposed.id, { abstractSyntax: proposed.abstractSyntax, transferSyntax: chosen });
    }
    this.socket.write(associateAc(rq, answers, this.scp.options.maxPduBytes));
    this.state = 'open';
    this.scp.accepted++;
    this.scp.waiting.delete(this);
    this.counted = true;
    this.handlers.event({
      type: 'accepted',
      association: this.info,
      contexts: [...this.contexts.values()],
      refused: answers.length - this.contexts.size,
    });
    this.arm(this.scp.options.idleTimeoutMs, `nothing received for ${this.scp.options.idleTimeoutMs} ms`);
  }

  private async pdv(pdv: Pdv): Promise<void> {
    if (!this.contexts.has(pdv.contextId)) throw new PduError(`PDV on presentation context ${pdv.contextId}, which was not accepted`);
    if (pdv.command) return this.commandFragment(pdv);
    const store = this.store;
    if (!store) throw new PduError('data set fragment without a command before it', AbortReason.UNEXPECTED_PDU);
    if (pdv.contextId !== store.contextId) throw new PduError(`data set fragment on context ${pdv.contextId}, its command came on ${store.contextId}`);
    store.bytes += pdv.data.length;
    if (store.bytes > this.scp.options.maxInstanceBytes) {
      throw new AssociationEnd(`instance over ${this.scp.options.maxInstanceBytes} bytes (dicom.receiver.maxInstanceBytes)`, ErrorCode.DIMSE_INSTANCE_TOO_LARGE, AbortReason.NOT_SPECIFIED);
    }
    if (store.writer && !store.failure) {
      try {
        await store.writer.write(pdv.data);
      } catch (error) {
        store.failure = { status: Status.OUT_OF_RESOURCES, why: writeFailure(error) };
        await store.writer.discard();
        store.writer = undefined;
      }
    }
    if (pdv.last) await this.finishStore(store);
  }

  private async commandFragment(pdv: Pdv): Promise<void> {
    if (this.store) throw new PduError('a command arrived while a data set was still coming', AbortReason.UNEXPECTED_PDU);
    if (this.command && this.command.contextId !== pdv.contextId) throw new PduError('command fragments on two presentation contexts');
    const command = (this.command ??= { contextId: pdv.contextId, chunks: [], bytes: 0 });
    command.chunks.push(pdv.data);
    command.bytes += pdv.data.length;
    if (command.bytes > MAX_COMMAND_BYTES) throw new PduError(`command set over ${MAX_COMMAND_BYTES} bytes`);
    if (!pdv.last) return;
    this.command = undefined;
    await this.dispatch(command.contextId, parseCommand(Buffer.concat(command.chunks)));
  }

  private async dispatch(contextId: number, command: CommandSet): Promise<void> {
    const context = this.contexts.get(contextId)!;
    const hasDataSet = command.dataSetType !== NO_DATASET;
    if (command.commandField === Command.C_ECHO_RQ) {
      if (hasDataSet) throw new PduError('C-ECHO-RQ with a data set');
      this.respond(contextId, { commandField: Command.C_ECHO_RSP, messageIdBeingRespondedTo: command.messageId, affectedSopClassUid: command.affectedSopClassUid || context.abstractSyntax, status: Status.SUCCESS });
      this.handlers.event({ type: 'echo', association: this.info! });
      return;
    }
    if (command.commandField !== Command.C_STORE_RQ) {
      if (!hasDataSet) {
        this.respond(contextId, { commandField: command.commandField | 0x8000, messageIdBeingRespondedTo: command.messageId, affectedSopClassUid: command.affectedSopClassUid, status: Status.UNRECOGNIZED_OPERATION });
        return;
      }
      this.store = this.pendingStore(contextId, command, context.transferSyntax, { status: Status.UNRECOGNIZED_OPERATION, why: `DIMSE command 0x${command.commandField.toString(16)} not supported` });
      return;
    }
    if (!hasDataSet) throw new PduError('C-STORE-RQ without a data set');
    let failure: PendingStore['failure'];
    if (command.affectedSopClassUid !== context.abstractSyntax) {
      failure = { status: Status.SOP_CLASS_NOT_SUPPORTED, why: `SOP class ${command.affectedSopClassUid} sent on the context for ${context.abstractSyntax}` };
    } else if (!/^[0-9.]{1,64}$/.test(command.affectedSopInstanceUid)) {
      failure = { status: Status.CANNOT_UNDERSTAND, why: 'the C-STORE-RQ has no valid Affected SOP Instance UID' };
    }
    const store = this.pendingStore(contextId, command, context.transferSyntax, failure);
    this.store = store;
    if (failure) return;
    try {
      store.writer = await this.handlers.beginStore({ association: this.info!, sopClassUid: command.affectedSopClassUid, sopInstanceUid: command.affectedSopInstanceUid, transferSyntaxUid: context.transferSyntax });
    } catch (error) {
      store.failure = { status: Status.OUT_OF_RESOURCES, why: writeFailure(error) };
    }
  }

  private pendingStore(contextId: number, command: CommandSet, transferSyntax: string, failure: PendingStore['failure']): PendingStore {
    return { contextId, command, transferSyntax, writer: undefined, failure, bytes: 0, startedAt: Date.now() };
  }

  private async finishStore(store: PendingStore): Promise<void> {
    const { command } = store;
    let file = '';
    if (!store.failure && store.writer) {
      try {
        file = await store.writer.commit();
      } catch (error) {
        store.failure = { status: Status.OUT_OF_RESOURCES, why: writeFailure(error) };
        await store.writer.discard();
      }
    }
    store.writer = undefined;
    this.store = undefined;
    const responseField = command.commandField === Command.C_STORE_RQ ? Command.C_STORE_RSP : command.commandField | 0x8000;
    if (store.failure) {
      this.respond(store.contextId, {
        commandField: responseField,
        messageIdBeingRespondedTo: command.messageId,
        affectedSopClassUid: command.affectedSopClassUid,
        affectedSopInstanceUid: command.affectedSopInstanceUid,
        status: store.failure.status,
        errorComment: store.failure.why,
      });
      this.handlers.event({ type: 'store-failed', association: this.info!, sopClassUid: command.affectedSopClassUid, sopInstanceUid: command.affectedSopInstanceUid, status: store.failure.status, why: store.failure.why });
      return;
    }
    this.instances++;
    this.respond(store.contextId, {
      commandField: Command.C_STORE_RSP,
      messageIdBeingRespondedTo: command.messageId,
      affectedSopClassUid: command.affectedSopClassUid,
      affectedSopInstanceUid: command.affectedSopInstanceUid,
      status: Status.SUCCESS,
    });
    this.handlers.event({ type: 'stored', association: this.info!, sopClassUid: command.affectedSopClassUid, sopInstanceUid: command.affectedSopInstanceUid, bytes: store.bytes, ms: Date.now() - store.startedAt, file });
  }

  private respond(contextId: number, fields: Parameters<typeof encodeResponse>[0]): void {
    this.socket.write(pData(contextId, true, true, encodeResponse(fields)));
  }
}

/** The sender sees this in the C-STORE-RSP Error Comment: the cause, never a local path. */
function writeFailure(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  const known: Record<string, string> = {
    ENOSPC: 'receiver disk full',
    EDQUOT: 'receiver disk quota exceeded',
    EACCES: 'receiver cannot write its intake folder (permission)',
    EPERM: 'receiver cannot write its intake folder (permission)',
    EROFS: 'receiver intake folder is read-only',
    EIO: 'receiver I/O error',
  };
  return code ? (known[code] ?? `receiver could not store the instance (${code})`) : `receiver could not store the instance: ${(error as Error).message}`;
}

/** IPv4 peers on a dual-stack socket show as ::ffff:a.b.c.d. */
export function normaliseAddress(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return mapped ? mapped[1]! : address;
}
