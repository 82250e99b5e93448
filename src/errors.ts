/**
 * One error hierarchy for the whole runtime. Codes are stable: they appear in
 * `classify --json`, in rejected/<name>.reason.json and in SQLite, so scripts and
 * dashboards may branch on them. docs/errors.md lists every code.
 */
export const ErrorCode = {
  // configuration
  CONFIG_INVALID: 'E_CONFIG_INVALID',
  CONFIG_FILE_UNREADABLE: 'E_CONFIG_FILE_UNREADABLE',
  SITE_SECRET_INVALID: 'E_SITE_SECRET_INVALID',
  // input images: the image is rejected, the service goes on
  FILE_EMPTY: 'E_FILE_EMPTY',
  FILE_TOO_LARGE: 'E_FILE_TOO_LARGE',
  FILE_UNREADABLE: 'E_FILE_UNREADABLE',
  SYMLINK_OUTSIDE_CAPTURE: 'E_SYMLINK_OUTSIDE_CAPTURE',
  NOT_AN_IMAGE: 'E_NOT_AN_IMAGE',
  FORMAT_UNSUPPORTED: 'E_FORMAT_UNSUPPORTED',
  IMAGE_TOO_LARGE: 'E_IMAGE_TOO_LARGE',
  IMAGE_CORRUPT: 'E_IMAGE_CORRUPT',
  PIXEL_FORMAT_UNSUPPORTED: 'E_PIXEL_FORMAT_UNSUPPORTED',
  // DICOM files: see docs/dicom.md
  DICOM_MALFORMED: 'E_DICOM_MALFORMED',
  DICOM_TRUNCATED: 'E_DICOM_TRUNCATED',
  DICOM_NO_PIXEL_DATA: 'E_DICOM_NO_PIXEL_DATA',
  DICOM_PIXEL_DATA_SHORT: 'E_DICOM_PIXEL_DATA_SHORT',
  DICOM_SYNTAX_UNSUPPORTED: 'E_DICOM_SYNTAX_UNSUPPORTED',
  DICOM_STRUCTURED_REPORT: 'E_DICOM_STRUCTURED_REPORT',
  DICOM_FOR_PROCESSING: 'E_DICOM_FOR_PROCESSING',
  DICOM_MODALITY_UNSUPPORTED: 'E_DICOM_MODALITY_UNSUPPORTED',
  DICOM_MULTI_FRAME: 'E_DICOM_MULTI_FRAME',
  DICOM_COLOUR: 'E_DICOM_COLOUR',
  DICOM_PIXEL_DATA_CORRUPT: 'E_DICOM_PIXEL_DATA_CORRUPT',
  // image-quality gate (src/imaging/quality.ts): decoded, but not fit to be judged; see docs/safety.md
  QUALITY_BLANK: 'E_QUALITY_BLANK',
  QUALITY_SATURATED: 'E_QUALITY_SATURATED',
  QUALITY_LOW_CONTRAST: 'E_QUALITY_LOW_CONTRAST',
  QUALITY_COLOUR: 'E_QUALITY_COLOUR',
  QUALITY_TOO_SMALL: 'E_QUALITY_TOO_SMALL',
  // model package and inference: the device is at FAULT
  MODEL_NOT_FOUND: 'E_MODEL_NOT_FOUND',
  MODEL_MANIFEST_INVALID: 'E_MODEL_MANIFEST_INVALID',
  MODEL_FILE_MISSING: 'E_MODEL_FILE_MISSING',
  MODEL_HASH_MISMATCH: 'E_MODEL_HASH_MISMATCH',
  MODEL_LOAD_FAILED: 'E_MODEL_LOAD_FAILED',
  MODEL_INTERFACE_MISMATCH: 'E_MODEL_INTERFACE_MISMATCH',
  MODEL_OUTPUT_INVALID: 'E_MODEL_OUTPUT_INVALID',
  INFERENCE_FAILED: 'E_INFERENCE_FAILED',
  SELF_TEST_FAILED: 'E_SELF_TEST_FAILED',
  MODEL_ONNX_INVALID: 'E_MODEL_ONNX_INVALID',
  MODEL_VARIANT_UNKNOWN: 'E_MODEL_VARIANT_UNKNOWN',
  // model package signatures (docs/model-updates.md): the package is refused before any of it is used
  MODEL_UNSIGNED: 'E_MODEL_UNSIGNED',
  MODEL_SIGNATURE_INVALID: 'E_MODEL_SIGNATURE_INVALID',
  MODEL_KEY_UNTRUSTED: 'E_MODEL_KEY_UNTRUSTED',
  MODEL_KEY_INVALID: 'E_MODEL_KEY_INVALID',
  // model quantize: nothing is written
  QUANT_UNSUPPORTED: 'E_QUANT_UNSUPPORTED',
  QUANT_NO_CALIBRATION_DATA: 'E_QUANT_NO_CALIBRATION_DATA',
  QUANT_AGREEMENT_TOO_LOW: 'E_QUANT_AGREEMENT_TOO_LOW',
  // model evaluate --ood --require-pass: the report is written, the package is not to be shipped
  OOD_CHECKS_FAILED: 'E_OOD_CHECKS_FAILED',
  // MQTT sync: results wait in the outbox meanwhile
  SYNC_REFUSED: 'E_SYNC_REFUSED',
  SYNC_SETTINGS: 'E_SYNC_SETTINGS',
  // lamps and the acknowledge button: see docs/lamps.md; the service does not start
  GPIO_ACCESS_DENIED: 'E_GPIO_ACCESS_DENIED',
  // capture folder
  CAPTURE_FOLDER_FAILED: 'E_CAPTURE_FOLDER_FAILED',
  // camera source: see docs/camera.md; the device is at FAULT while the camera is lost
  CAMERA_LOST: 'E_CAMERA_LOST',
  CAMERA_UNAVAILABLE: 'E_CAMERA_UNAVAILABLE',
  // DICOM C-STORE receiver: see docs/dicom-receiver.md; the service and the capture folder go on
  DICOM_RECEIVER_PORT_IN_USE: 'E_DICOM_RECEIVER_PORT_IN_USE',
  DICOM_RECEIVER_BIND_FAILED: 'E_DICOM_RECEIVER_BIND_FAILED',
  DICOM_RECEIVER_SPOOL_FAILED: 'E_DICOM_RECEIVER_SPOOL_FAILED',
  DIMSE_ASSOCIATION_REJECTED: 'E_DIMSE_ASSOCIATION_REJECTED',
  DIMSE_ASSOCIATION_ABORTED: 'E_DIMSE_ASSOCIATION_ABORTED',
  DIMSE_PROTOCOL_ERROR: 'E_DIMSE_PROTOCOL_ERROR',
  DIMSE_INSTANCE_TOO_LARGE: 'E_DIMSE_INSTANCE_TOO_LARGE',
  DIMSE_STORE_FAILED: 'E_DIMSE_STORE_FAILED',
  // fleet model updates on the device (docs/model-updates.md): the running model stays in service
  UPDATE_COMMAND_INVALID: 'E_UPDATE_COMMAND_INVALID',
  UPDATE_DOWNLOAD_FAILED: 'E_UPDATE_DOWNLOAD_FAILED',
  UPDATE_FILE_HASH_MISMATCH: 'E_UPDATE_FILE_HASH_MISMATCH',
  UPDATE_TOO_LARGE: 'E_UPDATE_TOO_LARGE',
  UPDATE_NO_SPACE: 'E_UPDATE_NO_SPACE',
  UPDATE_ROLLED_BACK: 'E_UPDATE_ROLLED_BACK',
  // history database
  STORE_FAILED: 'E_STORE_FAILED',
  STORE_NEWER_SCHEMA: 'E_STORE_NEWER_SCHEMA',
  // central dashboard (cspine-edge dashboard): see docs/dashboard.md
  DASHBOARD_DATABASE_UNREACHABLE: 'E_DASHBOARD_DATABASE_UNREACHABLE',
  DASHBOARD_DATABASE_NEWER_SCHEMA: 'E_DASHBOARD_DATABASE_NEWER_SCHEMA',
  DASHBOARD_HTTP_BIND_FAILED: 'E_DASHBOARD_HTTP_BIND_FAILED',
  DASHBOARD_BROKER_UNREACHABLE: 'E_DASHBOARD_BROKER_UNREACHABLE',
  DASHBOARD_USER_INVALID: 'E_DASHBOARD_USER_INVALID',
  DASHBOARD_PACKAGE_INVALID: 'E_DASHBOARD_PACKAGE_INVALID',
  DASHBOARD_ROLLOUT_INVALID: 'E_DASHBOARD_ROLLOUT_INVALID',
  // start-up: a capability could not start; what had started is stopped again
  START_FAILED: 'E_START_FAILED',
  // anything we did not foresee
  INTERNAL: 'E_INTERNAL',
} as const;

export type ErrorCodeValue = (typeof ErrorCode)[keyof typeof ErrorCode];

export class CspineError extends Error {
  readonly code: ErrorCodeValue;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCodeValue, message: string, options?: { cause?: unknown; details?: Record<string, unknown> }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.details = options?.details;
  }

  toJSON(): { code: ErrorCodeValue; message: string } {
    return { code: this.code, message: this.message };
  }
}

/** The configuration cannot be used; `problems` lists each one by its path. */
export class ConfigError extends CspineError {
  readonly problems: string[];
  constructor(code: ErrorCodeValue, message: string, problems: string[] = [], options?: { cause?: unknown }) {
    super(code, message, options);
    this.problems = problems;
  }
}

/** This one image cannot be classified. It is quarantined with the reason; the service goes on. */
export class ImageRejectedError extends CspineError {}

/** The model package is missing, corrupt or does not fit its manifest: no inference is possible. */
export class ModelError extends CspineError {}

/** The history database failed: results cannot be committed, so images must stay in capture/. */
export class StoreError extends CspineError {}

export function toCspineError(error: unknown): CspineError {
  if (error instanceof CspineError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new CspineError(ErrorCode.INTERNAL, message, { cause: error });
}
