/** A decoded radiograph: one gray channel, full resolution unless `fullSize` says otherwise, native bit depth (8 or 16). */
export interface DecodedImage {
  /** Container format as detected from the bytes, e.g. `png`, `jpeg`, later `dicom`. */
  format: string;
  width: number;
  height: number;
  bitsPerSample: 8 | 16;
  /** Row-major gray samples: Uint8Array for 8-bit, Uint16Array for 16-bit. */
  pixels: Uint8Array | Uint16Array;
  /**
   * The image's size in the file, present only when it was decoded at a reduced resolution
   * (DecodeLimits.minShortSide): size checks (quality.minSidePx) and records use this one.
   */
  fullSize?: { width: number; height: number };
  /** For DICOM input: what the header says about the acquisition (see DicomFacts). */
  dicom?: DicomFacts;
  /**
   * Raster files: mean chroma (max − min of R, G, B, as a share of full scale) measured on a
   * small copy before the gray conversion; 0 for files with one gray channel. The quality gate
   * refuses colour photographs by it (src/imaging/quality.ts). Absent for DICOM (colour refused there).
   */
  colourfulness?: number;
}

/**
 * Non-identifying DICOM attributes, sanitised (upper case, at most 16 characters of
 * [A-Z0-9 _-]); null when absent. They may be stored, logged and published.
 */
export interface DicomAttributes {
  modality: string | null;
  sopClassUid: string | null;
  bodyPartExamined: string | null;
  viewPosition: string | null;
  /** Acquisition date and time as written (no zone unless the file gives one), ISO 8601. */
  acquisitionDateTime: string | null;
  transferSyntaxUid: string;
  photometric: string;
  bitsStored: number;
}

/**
 * Study and SOP Instance UIDs, and the PatientID, in clear. They link back to the patient, so
 * they leave the decoder only to be pseudonymised (src/sync/privacy.ts) or hashed (training's
 * near-duplicate grouping); never log or store them. The device uses no PatientID.
 */
export interface DicomIdentifiers {
  studyInstanceUid: string | null;
  sopInstanceUid: string | null;
  patientId: string | null;
}

export interface DicomFacts {
  attributes: DicomAttributes;
  identifiers: DicomIdentifiers;
}

export interface DecodeLimits {
  /** width × height allowed, checked from the header before decoding. */
  maxPixels: number;
  /**
   * The smallest short side the caller needs. JPEG 2000 and lossy JPEG DICOM frames are then
   * decoded at a reduced resolution (halved as often as this allows) instead of in full, and
   * other DICOM frames box-averaged as they are rendered; absent: full resolution. Other
   * formats ignore it.
   */
  minShortSide?: number;
}

/**
 * One decoder per family of formats. `accepts` looks at the bytes, never at the file name,
 * so a DICOM decoder can slot in beside the raster one.
 */
export interface ImageDecoder {
  readonly name: string;
  accepts(bytes: Buffer): boolean;
  decode(bytes: Buffer, limits: DecodeLimits): Promise<DecodedImage>;
}

/** sharp's 16-bit raw output as samples (native byte order), copied only when misaligned. */
export function uint16Samples(data: Buffer): Uint16Array {
  if (data.byteOffset % 2 === 0) return new Uint16Array(data.buffer, data.byteOffset, data.length / 2);
  return new Uint16Array(Uint8Array.from(data).buffer);
}
