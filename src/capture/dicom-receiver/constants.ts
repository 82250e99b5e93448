/** The DICOM identifiers the receiver speaks (PS3.4, PS3.5, PS3.6, PS3.7, PS3.8). */

export const APPLICATION_CONTEXT = '1.2.840.10008.3.1.1.1';

export const SopClass = {
  VERIFICATION: '1.2.840.10008.1.1',
  CR: '1.2.840.10008.5.1.4.1.1.1',
  DX_FOR_PRESENTATION: '1.2.840.10008.5.1.4.1.1.1.1',
  SECONDARY_CAPTURE: '1.2.840.10008.5.1.4.1.1.7',
} as const;

export const SOP_CLASS_NAMES: Record<string, string> = {
  [SopClass.VERIFICATION]: 'Verification',
  [SopClass.CR]: 'CR Image Storage',
  [SopClass.DX_FOR_PRESENTATION]: 'Digital X-Ray Image Storage - For Presentation',
  [SopClass.SECONDARY_CAPTURE]: 'Secondary Capture Image Storage',
};

export const TransferSyntax = {
  IMPLICIT_LE: '1.2.840.10008.1.2',
  EXPLICIT_LE: '1.2.840.10008.1.2.1',
  JPEG_LOSSLESS_SV1: '1.2.840.10008.1.2.4.70',
  JPEG2000_LOSSLESS: '1.2.840.10008.1.2.4.90',
} as const;

/** Storage transfer syntaxes accepted: uncompressed little endian first, then the lossless compressions. */
export const STORAGE_TRANSFER_SYNTAXES: readonly string[] = [
  TransferSyntax.EXPLICIT_LE,
  TransferSyntax.IMPLICIT_LE,
  TransferSyntax.JPEG_LOSSLESS_SV1,
  TransferSyntax.JPEG2000_LOSSLESS,
];

/** What the receiver accepts: each abstract syntax with its transfer syntaxes. */
export const ACCEPTED_CONTEXTS: ReadonlyMap<string, readonly string[]> = new Map([
  [SopClass.VERIFICATION, [TransferSyntax.EXPLICIT_LE, TransferSyntax.IMPLICIT_LE]],
  [SopClass.CR, STORAGE_TRANSFER_SYNTAXES],
  [SopClass.DX_FOR_PRESENTATION, STORAGE_TRANSFER_SYNTAXES],
  [SopClass.SECONDARY_CAPTURE, STORAGE_TRANSFER_SYNTAXES],
]);

/** Our implementation's identity in A-ASSOCIATE-AC and the file meta header (a UUID-derived UID, PS3.5 B.2). */
export const IMPLEMENTATION_CLASS_UID = '2.25.231558329750873406426766389826455270301';
export const IMPLEMENTATION_VERSION_NAME = 'CSPINE_EDGE_1';

/** DIMSE command fields (PS3.7 E.1). */
export const Command = {
  C_STORE_RQ: 0x0001,
  C_STORE_RSP: 0x8001,
  C_ECHO_RQ: 0x0030,
  C_ECHO_RSP: 0x8030,
} as const;

export const NO_DATASET = 0x0101;

/** DIMSE statuses the receiver answers with (PS3.4 B.2.3, PS3.7 C). */
export const Status = {
  SUCCESS: 0x0000,
  /** Refused: out of resources — the instance could not be written (disk full, permission, I/O). */
  OUT_OF_RESOURCES: 0xa700,
  /** Refused: SOP class not supported (the command names another SOP class than its presentation context). */
  SOP_CLASS_NOT_SUPPORTED: 0x0122,
  /** Unrecognised operation (a DIMSE service other than C-ECHO and C-STORE). */
  UNRECOGNIZED_OPERATION: 0x0211,
  /** Error: cannot understand (the command lacks the SOP instance UID). */
  CANNOT_UNDERSTAND: 0xc000,
} as const;

/** A-ASSOCIATE-RJ result/source/reason (PS3.8 9.3.4). */
export const Reject = {
  PERMANENT: 1,
  TRANSIENT: 2,
  SOURCE_USER: 1,
  SOURCE_ACSE: 2,
  SOURCE_PRESENTATION: 3,
  /** source 1 */
  NO_REASON: 1,
  APPLICATION_CONTEXT_NOT_SUPPORTED: 2,
  CALLING_AE_NOT_RECOGNIZED: 3,
  CALLED_AE_NOT_RECOGNIZED: 7,
  /** source 2 */
  PROTOCOL_VERSION_NOT_SUPPORTED: 2,
  /** source 3 */
  LOCAL_LIMIT_EXCEEDED: 2,
} as const;

/** A-ABORT reasons when the service provider aborts (PS3.8 9.3.8). */
export const AbortReason = {
  NOT_SPECIFIED: 0,
  UNRECOGNIZED_PDU: 1,
  UNEXPECTED_PDU: 2,
  UNRECOGNIZED_PDU_PARAMETER: 4,
  UNEXPECTED_PDU_PARAMETER: 5,
  INVALID_PDU_PARAMETER: 6,
} as const;

/** Presentation context results in A-ASSOCIATE-AC (PS3.8 9.3.3.2). */
export const ContextResult = {
  ACCEPTANCE: 0,
  USER_REJECTION: 1,
  NO_REASON: 2,
  ABSTRACT_SYNTAX_NOT_SUPPORTED: 3,
  TRANSFER_SYNTAXES_NOT_SUPPORTED: 4,
} as const;
