import { performance } from 'node:perf_hooks';
import { decodeImage, DEFAULT_DECODERS } from '../imaging/decode.js';
import type { DecodedImage, DecodeLimits, DicomAttributes, ImageDecoder } from '../imaging/image.js';
import { preprocessImage } from '../imaging/preprocess.js';
import type { ActivationMap, InferenceEngine } from '../model/inference.js';
import { triage, type Triage, type TriageThresholds } from '../triage/policy.js';

export interface Classification {
  label: string;
  probabilities: Record<string, number>;
  triage: Triage;
  model: { id: string; sha256: string };
  image: { format: string; width: number; height: number; bitsPerSample: number };
  /** DICOM input: the header's non-identifying attributes (the UIDs stay in `decoded`). */
  dicom?: DicomAttributes;
  timingsMs: { decode: number; preprocess: number; infer: number; total: number };
  /** The model's class-activation map, when it has one; with `decoded`, enough for a heatmap. */
  cam?: ActivationMap;
  decoded: DecodedImage;
}

export interface ClassifierOptions {
  limits: DecodeLimits;
  thresholds: TriageThresholds;
  decoders?: readonly ImageDecoder[];
}

const round = (ms: number): number => Math.round(ms * 100) / 100;

/**
 * decode → preprocess → infer → triage for one image's bytes. Throws ImageRejectedError
 * for bad input and ModelError when inference itself fails; never returns a partial result.
 */
export class Classifier {
  constructor(
    readonly engine: InferenceEngine,
    private readonly options: ClassifierOptions,
  ) {}

  get thresholds(): TriageThresholds {
    return this.options.thresholds;
  }

  async classify(bytes: Buffer): Promise<Classification> {
    const started = performance.now();
    const image = await decodeImage(bytes, this.options.limits, this.options.decoders ?? DEFAULT_DECODERS);
    return this.classifyDecoded(image, performance.now() - started);
  }

  /** The rest of the pipeline for an image already decoded (in `decodeMs`). */
  async classifyDecoded(image: DecodedImage, decodeMs: number): Promise<Classification> {
    const { manifest } = this.engine.model;
    const t1 = performance.now();
    const t0 = t1 - decodeMs;
    const tensor = await preprocessImage(image, manifest);
    const t2 = performance.now();
    const { probabilities, cam } = await this.engine.infer(tensor);
    const t3 = performance.now();

    const best = probabilities.indexOf(Math.max(...probabilities));
    return {
      label: manifest.labels[best]!,
      probabilities: Object.fromEntries(manifest.labels.map((label, i) => [label, probabilities[i]!])),
      triage: triage(manifest.labels, probabilities, this.options.thresholds, image.dicom?.attributes),
      model: { id: manifest.id, sha256: manifest.sha256 },
      image: { format: image.format, width: image.width, height: image.height, bitsPerSample: image.bitsPerSample },
      ...(image.dicom ? { dicom: image.dicom.attributes } : {}),
      timingsMs: { decode: round(t1 - t0), preprocess: round(t2 - t1), infer: round(t3 - t2), total: round(t3 - t0) },
      ...(cam ? { cam } : {}),
      decoded: image,
    };
  }
}
