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
  | { type: 'accepted'; association: AssociationInfo; contexts: Array<{ abstractSyntax: string; transferSyntax: string }>; refused: number }
  | { type: 'rejected'; association: AssociationInfo; why: string; result: number; source: number; reason: number }
  | { type: 'echo'; association: AssociationInfo }
  | { type: 'stored'; association: AssociationInfo; sopClassUid: string; sopInstanceUid: string; bytes: number; ms: number; file: string }
  | { type: 'store-failed'; association: AssociationInfo; sopClassUid: string; sopInstanceUid: string; status: number; why: string }
  | { type: 'released'; association: AssociationInfo; instances: number }
  /** The association ended without a release: `why` says how (peer abort, disconnect, protocol error, timeout, limit). */
  | { type: 'aborted'; association: AssociationInfo | undefined; peerAddress: string; why: string; code: string; instanceLost: boolean };

export interface ScpHandlers {
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
  /** Time allowed for the A-ASSOCIATE-RQ after connecting, and for the peer to close after a release or reject. */
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
