/**
 * The seam between the receiver's policy (who may send, where instances go, what is logged)
 * and the DICOM network protocol. `MiniStorageScp` (scp.ts) implements it today; another
 * DIMSE library can replace it by implementing `StorageScp` and calling the same handlers.
 */

export interface AssociationInfo {
  /** Counts associations since the receiver started; for correlating log lines. */
  id: number;
  callingAE: string;
  calledAE: string;
  peerAddress: string;
  peerPort: number;
}

/** A TCP connection as accepted, before it has sent anything. */
export interface ConnectionInfo {
  peerAddress: string;
  /** This side's address of the connection: the same as the peer's when the peer is this machine. */
  localAddress: string;
}

export type ConnectionDecision = { admit: true } | { admit: false; why: string };

export type AssociationDecision =
  | { accept: true }
  | {
      accept: false;
      /** A-ASSOCIATE-RJ result (1 permanent, 2 transient), source and reason (PS3.8 9.3.4). */
      result: number;
      source: number;
      reason: number;
      why: string;
    };

export interface StoreRequest {
  association: AssociationInfo;
  sopClassUid: string;
  sopInstanceUid: string;
  /** The transfer syntax accepted for the presentation context the instance came on. */
  transferSyntaxUid: string;
}

/** Where one instance's data set goes while it arrives. Nothing is visible before `commit`. */
export interface InstanceWriter {
  write(chunk: Buffer): Promise<void>;
  /** Makes the instance durable and visible; the success status is sent only after it resolves. */
  commit(): Promise<string>;
  /** Removes everything written so far. Never throws. */
  discard(): Promise<void>;
}

export type ScpEvent =
  /** Closed at accept, before any PDU: not allowed, or too many connections from that address. */
  | { type: 'refused'; peerAddress: string; why: string }
  | { type: 'accepted'; association: AssociationInfo; contexts: Array<{ abstractSyntax: string; transferSyntax: string }>; refused: number }
  | { type: 'rejected'; association: AssociationInfo; why: string; result: number; source: number; reason: number }
  | { type: 'echo'; association: AssociationInfo }
  | { type: 'stored'; association: AssociationInfo; sopClassUid: string; sopInstanceUid: string; bytes: number; ms: number; file: string }
  | { type: 'store-failed'; association: AssociationInfo; sopClassUid: string; sopInstanceUid: string; status: number; why: string }
  | { type: 'released'; association: AssociationInfo; instances: number }
  /** The association ended without a release: `why` says how (peer abort, disconnect, protocol error, timeout, limit). */
  | { type: 'aborted'; association: AssociationInfo | undefined; peerAddress: string; why: string; code: string; instanceLost: boolean };

export interface ScpHandlers {
  /** Asked as each connection is accepted, so a stranger holds no socket waiting for its request. */
  admit(connection: ConnectionInfo): ConnectionDecision;
  associate(info: AssociationInfo): AssociationDecision;
  /** Throwing here answers the C-STORE with Refused: Out of Resources. */
  beginStore(request: StoreRequest): Promise<InstanceWriter>;
  event(event: ScpEvent): void;
}

export interface StorageScpOptions {
  /** Abstract syntax → transfer syntaxes it may use. */
  contexts: ReadonlyMap<string, readonly string[]>;
  /** Largest P-DATA-TF PDU this side receives (advertised in A-ASSOCIATE-AC); larger ones abort. */
  maxPduBytes: number;
  /** A data set larger than this aborts the association. */
  maxInstanceBytes: number;
  /** Accepted associations at once; more are refused as transient (local limit exceeded). */
  maxAssociations: number;
  /** Connections open at once from one address, associated or not; more are refused at accept. */
  maxConnectionsPerPeer: number;
  /** Time allowed for the A-ASSOCIATE-RQ after connecting, however the bytes trickle in (the ARTIM timer of PS3.8). */
  requestTimeoutMs: number;
  /** Time allowed for the peer to close after a release or a rejection. */
  associationTimeoutMs: number;
  /** An open association that sends nothing this long is aborted. */
  idleTimeoutMs: number;
}

export interface StorageScp {
  /** Resolves with the bound port once listening; rejects with the bind error. */
  listen(port: number, host: string): Promise<number>;
  /** Stops listening; ends open associations after the instance being committed, if any. */
  close(): Promise<void>;
  readonly activeAssociations: number;
}
