/**
 * The C-STORE receiver as the service sees it: who may send (called AE, calling AE and peer
 * allowlists), where instances go (the capture folder, atomically, via the spool), what is
 * logged (AE titles and addresses, SOP classes, pseudonymised SOP instance UIDs — nothing from
 * the data set), and its state for `doctor`. The DICOM protocol itself sits behind StorageScp.
 */
import net from 'node:net';
import path from 'node:path';
import { writeFileAtomicSync } from '../../atomic-file.js';
import type { Config } from '../../config/schema.js';
import { CspineError, ErrorCode } from '../../errors.js';
import type { Logger } from '../../logger.js';
import type { Pseudonyms } from '../../privacy/pseudonymizer.js';
import type { Capability, CapabilityHealth } from '../../runtime/capability.js';
import { ACCEPTED_CONTEXTS, Reject, SOP_CLASS_NAMES } from './constants.js';
import { LogThrottle } from './log-throttle.js';
import { fileMetaHeader } from './part10.js';
import { MiniStorageScp, normaliseAddress } from './scp.js';
import { Spool } from './spool.js';
import type {
  AssociationDecision,
  AssociationInfo,
  ConnectionDecision,
  ConnectionInfo,
  InstanceWriter,
  ScpEvent,
  ScpHandlers,
  StorageScp,
  StorageScpOptions,
  StoreRequest,
} from './storage-scp.js';

/** Connections refused or ended before their request: one log line per peer and window. */
const FLOOD_LOG_WINDOW_MS = 10_000;

export type ReceiverSettings = Config['dicom']['receiver'];

export type ReceiverState =
  | { state: 'off' }
  | { state: 'starting'; port: number; aeTitle: string }
  | { state: 'listening'; port: number; host: string; aeTitle: string; since: string; pid: number }
  | { state: 'failed'; port: number; aeTitle: string; code: string; reason: string; since: string; pid: number }
  | { state: 'stopped'; port: number; aeTitle: string; since: string; pid: number };

/** Where the running service leaves its receiver state for `doctor`: beside the history database. */
export function receiverStateFile(config: Config): string {
  return path.join(path.dirname(path.resolve(config.store.path)), 'dicom-receiver.state.json');
}

export function spoolDirOf(config: Config): string {
  const configured = config.dicom.receiver.spoolDir;
  return path.resolve(configured === '' ? path.join(config.capture.dir, '.dicom-spool') : configured);
}

export interface ReceiverOptions {
  /** Replaces the DICOM protocol implementation (the seam in storage-scp.ts). */
  createScp?: (options: StorageScpOptions, handlers: ScpHandlers) => StorageScp;
  /** Replaces where instances are written (tests inject failures here). */
  openInstance?: (name: string, header: Buffer) => Promise<InstanceWriter>;
  /** Called with each committed file name in the capture folder. */
  onStored?: (file: string) => void;
  /** Called when the state changes (listening, failed with another code, stopped), not on each failed retry. */
  onStateChange?: (state: ReceiverState) => void;
}

export class DicomReceiver implements Capability {
  readonly name = 'dicom receiver';
  private scp: StorageScp | undefined;
  private retry: NodeJS.Timeout | undefined;
  private stopped = false;
  private current: ReceiverState;
  private readonly settings: ReceiverSettings;
  private readonly spool: Spool;
  private readonly allowedPeers: net.BlockList | undefined;
  private readonly allowedAEs: Set<string> | undefined;
  private readonly stateFile: string;
  private readonly floodLog = new LogThrottle(FLOOD_LOG_WINDOW_MS);

  constructor(
    config: Config,
    private readonly logger: Logger,
    private readonly pseudonymizer: Pseudonyms,
    private readonly options: ReceiverOptions = {},
  ) {
    this.settings = config.dicom.receiver;
    this.spool = new Spool(spoolDirOf(config), path.resolve(config.capture.dir));
    this.stateFile = receiverStateFile(config);
    this.allowedAEs = this.settings.allowedCallingAeTitles.length > 0 ? new Set(this.settings.allowedCallingAeTitles) : undefined;
    this.allowedPeers = this.settings.allowedPeers.length > 0 ? peerList(this.settings.allowedPeers) : undefined;
    this.current = { state: 'starting', port: this.settings.port, aeTitle: this.settings.aeTitle };
  }

  get state(): ReceiverState {
    return this.current;
  }

  health(): CapabilityHealth {
    const state = this.current;
    switch (state.state) {
      case 'listening':
        return { status: 'ok', detail: `listening on ${state.host}:${state.port} as AE ${state.aeTitle}` };
      case 'failed':
        return { status: 'failed', detail: `${state.code}: ${state.reason}; retrying every ${this.settings.bindRetryMs / 1000} s` };
      default:
        return { status: 'off', detail: state.state };
    }
  }

  /** The port actually bound (differs from the setting only with port 0 in tests). */
  get port(): number | undefined {
    return this.current.state === 'listening' ? this.current.port : undefined;
  }

  /**
   * Prepares the spool and listens. Never throws: a failure is logged with its code, kept as
   * the state (for doctor) and retried every bindRetryMs; the rest of the service runs on.
   */
  async start(): Promise<void> {
    this.stopped = false;
    await this.attempt();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retry);
    const scp = this.scp;
    this.scp = undefined;
    await scp?.close();
    this.floodLog.flush();
    this.setState({ state: 'stopped', port: this.settings.port, aeTitle: this.settings.aeTitle, since: new Date().toISOString(), pid: process.pid });
    this.logger.info('DICOM receiver stopped');
  }

  private async attempt(): Promise<void> {
    const { port, host, aeTitle } = this.settings;
    try {
      const removed = await this.spool.prepare();
      if (removed > 0) this.logger.warn({ removed, spoolDir: this.spool.spoolDir }, 'removed partial DICOM instances left in the spool by an earlier stop');
      const scp = (this.options.createScp ?? ((options, handlers) => new MiniStorageScp(options, handlers)))(this.scpOptions(), this.handlers());
      let bound: number;
      try {
        bound = await scp.listen(port, host);
      } catch (error) {
        throw bindError(error as NodeJS.ErrnoException, host, port);
      }
      if (this.stopped) return void (await scp.close());
      this.scp = scp;
      this.setState({ state: 'listening', port: bound, host, aeTitle, since: new Date().toISOString(), pid: process.pid });
      this.logger.info(
        {
          port: bound,
          host,
          aeTitle,
          allowedCallingAeTitles: this.allowedAEs ? [...this.allowedAEs] : 'any',
          allowedPeers: this.allowedPeers ? this.settings.allowedPeers : 'any',
          spoolDir: this.spool.spoolDir,
        },
        `DICOM receiver listening on ${host}:${bound} as AE ${aeTitle}`,
      );
    } catch (error) {
      const problem = error instanceof CspineError ? error : new CspineError(ErrorCode.DICOM_RECEIVER_BIND_FAILED, (error as Error).message, { cause: error });
      this.setState({ state: 'failed', port, aeTitle, code: problem.code, reason: problem.message, since: new Date().toISOString(), pid: process.pid });
      this.logger.error({ code: problem.code, retryMs: this.settings.bindRetryMs }, `DICOM receiver not listening: ${problem.message}`);
      if (!this.stopped) {
        this.retry = setTimeout(() => void this.attempt(), this.settings.bindRetryMs);
        this.retry.unref();
      }
    }
  }

  private setState(state: ReceiverState): void {
    const previous = this.current;
    this.current = state;
    try {
      writeFileAtomicSync(this.stateFile, `${JSON.stringify(state)}\n`);
    } catch (error) {
      this.logger.warn({ file: this.stateFile, err: (error as Error).message }, 'cannot write the DICOM receiver state file (doctor reads it)');
    }
    // Each retry that fails the same way is the same state: reported once.
    const same = previous.state === state.state && (previous.state !== 'failed' || state.state !== 'failed' || previous.code === state.code);
    if (!same) this.options.onStateChange?.(state);
  }

  private scpOptions(): StorageScpOptions {
    const s = this.settings;
    return {
      contexts: ACCEPTED_CONTEXTS,
      maxPduBytes: s.maxPduBytes,
      maxInstanceBytes: s.maxInstanceBytes,
      maxAssociations: s.maxAssociations,
      maxConnectionsPerPeer: s.maxConnectionsPerPeer,
      requestTimeoutMs: s.requestTimeoutMs,
      associationTimeoutMs: s.associationTimeoutMs,
      idleTimeoutMs: s.idleTimeoutMs,
    };
  }

  private handlers(): ScpHandlers {
    return {
      admit: (connection) => this.admit(connection),
      associate: (info) => this.decide(info),
      beginStore: (request) => this.beginStore(request),
      event: (event) => this.log(event),
    };
  }

  private admit(connection: ConnectionInfo): ConnectionDecision {
    // This machine itself (doctor's C-ECHO) goes on to its A-ASSOCIATE-RQ, whose rejection tells doctor a receiver answers.
    const thisMachine = connection.peerAddress === connection.localAddress;
    if (!this.allowedPeers || thisMachine || allows(this.allowedPeers, connection.peerAddress)) return { admit: true };
    return { admit: false, why: notAllowedPeer(connection.peerAddress) };
  }

  private decide(info: AssociationInfo): AssociationDecision {
    if (this.allowedPeers && !allows(this.allowedPeers, info.peerAddress)) {
      // Only this machine gets this far (see admit); strangers learn nothing: "no reason given".
      return { accept: false, result: Reject.PERMANENT, source: Reject.SOURCE_USER, reason: Reject.NO_REASON, why: notAllowedPeer(info.peerAddress) };
    }
    if (info.calledAE !== this.settings.aeTitle) {
      return { accept: false, result: Reject.PERMANENT, source: Reject.SOURCE_USER, reason: Reject.CALLED_AE_NOT_RECOGNIZED, why: `called AE title "${info.calledAE}" is not this receiver's "${this.settings.aeTitle}"` };
    }
    if (this.allowedAEs && !this.allowedAEs.has(info.callingAE)) {
      return { accept: false, result: Reject.PERMANENT, source: Reject.SOURCE_USER, reason: Reject.CALLING_AE_NOT_RECOGNIZED, why: `calling AE title "${info.callingAE}" is not in dicom.receiver.allowedCallingAeTitles` };
    }
    return { accept: true };
  }

  private async beginStore(request: StoreRequest): Promise<InstanceWriter> {
    // The file name carries the pseudonym, never the UID: it shows up in history and logs.
    const name = `${this.pseudonymizer.ref('sop', request.sopInstanceUid)}.dcm`;
    const header = fileMetaHeader({
      sopClassUid: request.sopClassUid,
      sopInstanceUid: request.sopInstanceUid,
      transferSyntaxUid: request.transferSyntaxUid,
      sourceAE: request.association.callingAE,
    });
    const writer = await (this.options.openInstance ?? ((n, h) => this.spool.open(n, h)))(name, header);
    return writer;
  }

  private log(event: ScpEvent): void {
    const who = (a: AssociationInfo) => ({ association: a.id, callingAE: a.callingAE, calledAE: a.calledAE, peer: a.peerAddress });
    const sop = (uid: string) => ({ sopClass: SOP_CLASS_NAMES[uid] ?? uid });
    switch (event.type) {
      case 'refused':
        this.floodLog.log(
          `refused ${event.peerAddress}`,
          () => this.logger.warn({ code: ErrorCode.DIMSE_ASSOCIATION_REJECTED, peer: event.peerAddress }, `DICOM connection refused: ${event.why}`),
          (suppressed) =>
            this.logger.warn(
              { code: ErrorCode.DIMSE_ASSOCIATION_REJECTED, peer: event.peerAddress, suppressed },
              `DICOM connection refused: ${suppressed} more from ${event.peerAddress} in ${FLOOD_LOG_WINDOW_MS / 1000} s, not logged one by one`,
            ),
        );
        return;
      case 'accepted':
        this.logger.info(
          { ...who(event.association), contexts: event.contexts.map((c) => `${SOP_CLASS_NAMES[c.abstractSyntax] ?? c.abstractSyntax} / ${c.transferSyntax}`), refusedContexts: event.refused },
          'DICOM association accepted',
        );
        return;
      case 'rejected':
        this.logger.warn(
          { code: ErrorCode.DIMSE_ASSOCIATION_REJECTED, ...who(event.association), result: event.result, source: event.source, reason: event.reason },
          `DICOM association refused: ${event.why}`,
        );
        return;
      case 'echo':
        this.logger.info(who(event.association), 'C-ECHO answered');
        return;
      case 'stored':
        this.logger.info(
          { ...who(event.association), ...sop(event.sopClassUid), sopInstance: this.pseudonymizer.ref('sop', event.sopInstanceUid), bytes: event.bytes, ms: event.ms, file: event.file },
          'DICOM instance received',
        );
        this.options.onStored?.(event.file);
        return;
      case 'store-failed':
        this.logger.error(
          { code: ErrorCode.DIMSE_STORE_FAILED, ...who(event.association), ...sop(event.sopClassUid), sopInstance: event.sopInstanceUid ? this.pseudonymizer.ref('sop', event.sopInstanceUid) : null, status: `0x${event.status.toString(16).padStart(4, '0')}` },
          `DICOM instance not stored: ${event.why}`,
        );
        return;
      case 'released':
        this.logger.info({ ...who(event.association), instances: event.instances }, 'DICOM association released');
        return;
      case 'aborted': {
        const line = () =>
          this.logger.warn(
            { code: event.code, ...(event.association ? who(event.association) : { peer: event.peerAddress }), instanceLost: event.instanceLost },
            `DICOM association ended: ${event.why}${event.instanceLost ? '; the partial instance was discarded' : ''}`,
          );
        if (event.association) return line();
        // Before its request a connection is only a socket, what a flood is made of: throttled per peer.
        this.floodLog.log(`ended ${event.peerAddress}`, line, (suppressed) =>
          this.logger.warn(
            { code: event.code, peer: event.peerAddress, suppressed },
            `DICOM association ended: ${suppressed} more connections from ${event.peerAddress} ended before an A-ASSOCIATE-RQ in ${FLOOD_LOG_WINDOW_MS / 1000} s, not logged one by one`,
          ),
        );
        return;
      }
    }
  }
}

function notAllowedPeer(address: string): string {
  return `peer address ${address} is not in dicom.receiver.allowedPeers`;
}

export function bindError(error: NodeJS.ErrnoException, host: string, port: number): CspineError {
  if (error.code === 'EADDRINUSE') {
    return new CspineError(ErrorCode.DICOM_RECEIVER_PORT_IN_USE, `port ${port} on ${host} is already in use by another program (dicom.receiver.port)`, { cause: error });
  }
  const hint =
    error.code === 'EACCES'
      ? port < 1024
        ? `; ports below 1024 need CAP_NET_BIND_SERVICE (see docs/dicom-receiver.md)`
        : ''
      : error.code === 'EADDRNOTAVAIL'
        ? `; ${host} is not an address of this machine (dicom.receiver.host)`
        : '';
  return new CspineError(ErrorCode.DICOM_RECEIVER_BIND_FAILED, `cannot listen on ${host}:${port}: ${error.code ?? error.message}${hint}`, { cause: error });
}

export function peerList(entries: string[]): net.BlockList {
  const list = new net.BlockList();
  for (const entry of entries) {
    const [address, prefix] = entry.split('/') as [string, string | undefined];
    const family = net.isIP(address) === 6 ? 'ipv6' : 'ipv4';
    if (prefix === undefined) list.addAddress(address, family);
    else list.addSubnet(address, Number(prefix), family);
  }
  return list;
}

export function allows(list: net.BlockList, address: string): boolean {
  const plain = normaliseAddress(address);
  const family = net.isIP(plain);
  if (family === 0) return false;
  return list.check(plain, family === 6 ? 'ipv6' : 'ipv4');
}
