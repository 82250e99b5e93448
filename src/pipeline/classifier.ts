import { performance } from 'node:perf_hooks';
import { decodeImage, DEFAULT_DECODERS } from '../imaging/decode.js';
import type { DecodedImage, DecodeLimits, DicomAttributes, ImageDecoder } from '../imaging/image.js';
import { preprocessImage } from '../imaging/preprocess.js';
import { requireQuality, type QualityMeasures, type QualityThresholds } from '../imaging/quality.js';
import { ORIENTATION_SEARCH, reorient, turnTensor, type Orientation } from '../imaging/orientation.js';
import { inputGeometry } from '../model/manifest.js';
import type { ActivationMap, InferenceEngine } from '../model/inference.js';
import { OodDetector } from '../model/ood.js';
import type { OodVerdict, OrientationCorrection } from '../model/ood-verdict.js';
import { triage, type AppliedThresholds, type Triage, type TriageThresholds } from '../triage/policy.js';

export interface Classification {
  label: string;
  probabilities: Record<string, number>;
  triage: Triage;
  /** With the thresholds it was read with: every result says whether they were validated. */
  model: { id: string; sha256: string; thresholds: AppliedThresholds };
  image: { format: string; width: number; height: number; bitsPerSample: number };
  /** DICOM input: the header's non-identifying attributes (the UIDs stay in `decoded`). */
  dicom?: DicomAttributes;
  /** `quality` only when the quality gate ran (config `quality.enabled`). */
  timingsMs: { decode: number; quality?: number; preprocess: number; infer: number; orientation?: number; total: number };
  /** The quality gate's passing verdict; absent when the gate is off. A failing gate throws instead. */
  quality?: { ok: true; measures: QualityMeasures };
  /** The OOD detector's verdict on the image as classified; absent when the package has no OOD statistics (unguarded). */
  ood?: OodVerdict;
  /** Set when the image was classified turned or inverted, because it was familiar only that way. */
  orientation?: OrientationCorrection;
  /** The model's class-activation map, when it has one; with `decoded`, enough for a heatmap (of the image as classified). */
  cam?: ActivationMap;
  /** The image as classified (turned or inverted when `orientation` says so). */
  decoded: DecodedImage;
}

/** One look at one orientation of the image. */
interface Reading {
  image: DecodedImage;
  tensor: Float32Array;
  probabilities: number[];
  cam?: ActivationMap | undefined;
  ood?: OodVerdict | undefined;
}

export interface ClassifierOptions {
  limits: DecodeLimits;
  /** With `validatedBy` when the package's validation set them (openClassifier does). */
  thresholds: TriageThresholds & { validatedBy?: string | null };
  /** The image-quality gate before preprocess (docs/safety.md); `enabled: false` skips it. */
  quality: QualityThresholds & { enabled: boolean };
  /** Try other orientations and polarities of an unfamiliar (or GREEN) image (docs/safety.md). */
  orientationSearch: boolean;
  /** The most a turned/inverted reading's OOD score may be for it to be used. */
  orientationMaxScore: number;
  decoders?: readonly ImageDecoder[];
}

const round = (ms: number): number => Math.round(ms * 100) / 100;

/**
 * decode → preprocess → infer → triage for one image's bytes. Throws ImageRejectedError
 * for bad input and ModelError when inference itself fails; never returns a partial result.
 */
export class Classifier {
  /** Absent for a package without OOD statistics: `doctor` reports it as unguarded. */
  readonly detector: OodDetector | undefined;

  constructor(
    readonly engine: InferenceEngine,
    private readonly options: ClassifierOptions,
  ) {
    const { manifest, oodStatistics } = engine.model;
    this.detector = manifest.ood && oodStatistics ? new OodDetector(manifest.ood, manifest.calibration.temperature) : undefined;
  }

  get thresholds(): TriageThresholds {
    return this.options.thresholds;
  }

  async classify(bytes: Buffer): Promise<Classification> {
    const { image, decodeMs } = await this.decode(bytes);
    return this.classifyDecoded(image, decodeMs);
  }

  /** The first step alone, at the resolution this model needs: the service decodes the next image while this one is inferred. */
  async decode(bytes: Buffer): Promise<{ image: DecodedImage; decodeMs: number }> {
    const started = performance.now();
    const image = await decodeImage(bytes, this.options.limits, this.options.decoders ?? DEFAULT_DECODERS);
    return { image, decodeMs: performance.now() - started };
  }

  /**
   * The rest of the pipeline for an image already decoded (in `decodeMs`): the quality gate
   * (ImageRejectedError E_QUALITY_* when the frame must not be judged), preprocess, infer, triage.
   */
  async classifyDecoded(image: DecodedImage, decodeMs: number): Promise<Classification> {
    const { manifest } = this.engine.model;
    const t1 = performance.now();
    const t0 = t1 - decodeMs;
    const { enabled, ...qualityThresholds } = this.options.quality;
    const measures = enabled ? requireQuality(image, qualityThresholds) : undefined;
    const tq = performance.now();
    const asReceived = await this.read(image);
    const t2 = performance.now();
    const { reading, orientation, searched } = await this.orient(asReceived);
    const t3 = performance.now();

    const { probabilities, cam, ood } = reading;
    const best = probabilities.indexOf(Math.max(...probabilities));
    return {
      label: manifest.labels[best]!,
      probabilities: Object.fromEntries(manifest.labels.map((label, i) => [label, probabilities[i]!])),
      triage: triage(manifest.labels, probabilities, this.options.thresholds, image.dicom?.attributes, { ood, orientation }),
      model: { id: manifest.id, sha256: manifest.sha256, thresholds: { greenMinNormal: this.options.thresholds.greenMinNormal, redMinAbnormal: this.options.thresholds.redMinAbnormal, validatedBy: this.options.thresholds.validatedBy ?? null } },
      // The file's size, also when it was decoded at the model's resolution.
      image: { format: image.format, ...(image.fullSize ?? { width: image.width, height: image.height }), bitsPerSample: image.bitsPerSample },
      ...(image.dicom ? { dicom: image.dicom.attributes } : {}),
      timingsMs: {
        decode: round(t1 - t0),
        ...(measures ? { quality: round(tq - t1) } : {}),
        ...asReceived.timings,
        ...(searched ? { orientation: round(t3 - t2) } : {}),
        total: round(t3 - t0),
      },
      ...(measures ? { quality: { ok: true as const, measures } } : {}),
      ...(ood ? { ood } : {}),
      ...(orientation ? { orientation } : {}),
      ...(cam ? { cam } : {}),
      decoded: reading.image,
    };
  }

  private async read(image: DecodedImage): Promise<Reading & { timings: { preprocess: number; infer: number } }> {
    const started = performance.now();
    const tensor = await preprocessImage(image, this.engine.model.manifest);
    const preprocessed = performance.now();
    const reading = await this.look(image, tensor);
    return { ...reading, timings: { preprocess: round(preprocessed - started), infer: round(performance.now() - preprocessed) } };
  }

  private async look(image: DecodedImage, tensor: Float32Array): Promise<Reading> {
    const { logits, probabilities, cam, residual } = await this.engine.infer(tensor);
    const ood = this.detector && residual !== undefined ? this.detector.score(logits, residual) : undefined;
    return { image, tensor, probabilities, cam, ood };
  }

  /**
   * An unfamiliar image is looked at turned and inverted (ORIENTATION_SEARCH); a GREEN
   * candidate also upside down, the one turn the detector alone misses now and then. The most
   * familiar reading wins only if it is clearly inside the model's world (score at most
   * `orientationMaxScore`) and more familiar than the image as it arrived; otherwise the image
   * stays as it arrived (and AMBER if unfamiliar).
   */
  private async orient(asReceived: Reading): Promise<{ reading: Reading; orientation?: OrientationCorrection; searched: boolean }> {
    const verdict = asReceived.ood;
    if (!this.options.orientationSearch || !verdict) return { reading: asReceived, searched: false };
    const { labels } = this.engine.model.manifest;
    const looksGreen = verdict.inDistribution && triage(labels, asReceived.probabilities, this.options.thresholds).level === 'GREEN';
    const candidates: readonly Orientation[] = !verdict.inDistribution ? ORIENTATION_SEARCH : looksGreen ? ORIENTATION_SEARCH.slice(0, 1) : [];
    let best: { reading: Reading; orientation: Orientation } | undefined;
    for (const orientation of candidates) {
      const reading = await this.lookTurned(asReceived, orientation);
      if (reading.ood && (!best || reading.ood.score < best.reading.ood!.score)) best = { reading, orientation };
    }
    const corrected = best?.reading.ood;
    const searched = candidates.length > 0;
    if (!best || !corrected || corrected.score > this.options.orientationMaxScore || corrected.score >= verdict.score) return { reading: asReceived, searched };
    const image = best.reading.image === asReceived.image ? reorient(asReceived.image, best.orientation) : best.reading.image;
    return { reading: { ...best.reading, image }, orientation: { ...best.orientation, asReceived: verdict }, searched };
  }

  /**
   * Turns are made on the model input itself when it is square (cheap: no full-size work; the
   * image is turned only if the reading wins); inversion, whose letterbox padding must stay
   * black, goes through the full pipeline.
   */
  private async lookTurned(asReceived: Reading, orientation: Orientation): Promise<Reading> {
    const { input } = this.engine.model.manifest;
    const { channels, height, width } = inputGeometry(input);
    if (!orientation.inverted && height === width) {
      return this.look(asReceived.image, turnTensor(asReceived.tensor, width, channels, input.layout, orientation.rotated));
    }
    return this.read(reorient(asReceived.image, orientation));
  }
}
