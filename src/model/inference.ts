import os from 'node:os';
import ort from 'onnxruntime-node';
import { ErrorCode, ModelError } from '../errors.js';
import { inputGeometry } from './manifest.js';
import type { ModelPackage } from './model-package.js';

export interface InferenceOutput {
  logits: number[];
  /** Softmax of logits / calibration temperature, in manifest label order. */
  probabilities: number[];
}

export interface InferenceOptions {
  /** Intra-op threads; 0 = one per core. */
  threads: number;
}

/**
 * The one ONNX Runtime session of the process, created once at start with a warm-up run.
 * Calls are serialised: ORT already spreads one run over all cores, and queuing here keeps
 * memory flat and latency predictable.
 */
export class InferenceEngine {
  private tail: Promise<unknown> = Promise.resolve();

  private constructor(
    readonly model: ModelPackage,
    private readonly session: ort.InferenceSession,
    private readonly dims: number[],
  ) {}

  static async open(model: ModelPackage, options: InferenceOptions): Promise<InferenceEngine> {
    const threads = options.threads > 0 ? options.threads : os.availableParallelism();
    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(model.onnxPath, {
        intraOpNumThreads: threads,
        interOpNumThreads: 1,
        executionMode: 'sequential',
        graphOptimizationLevel: 'all',
      });
    } catch (error) {
      throw new ModelError(ErrorCode.MODEL_LOAD_FAILED, `ONNX Runtime cannot load ${model.onnxPath}: ${(error as Error).message}`, { cause: error });
    }
    const { input, outputs } = model.manifest;
    const missing = [
      ...(session.inputNames.includes(input.name) ? [] : [`input "${input.name}" (model has ${session.inputNames.join(', ')})`]),
      ...[outputs.logits, outputs.cam]
        .filter((name): name is string => name !== undefined && !session.outputNames.includes(name))
        .map((name) => `output "${name}" (model has ${session.outputNames.join(', ')})`),
    ];
    if (missing.length > 0) {
      await session.release();
      throw new ModelError(ErrorCode.MODEL_INTERFACE_MISMATCH, `${model.onnxPath} does not match its manifest: no ${missing.join('; no ')}`);
    }
    const engine = new InferenceEngine(model, session, [...input.shape]);
    const { channels, height, width } = inputGeometry(input);
    await engine.infer(new Float32Array(channels * height * width));
    return engine;
  }

  infer(tensor: Float32Array): Promise<InferenceOutput> {
    const run = this.tail.then(() => this.run(tensor));
    this.tail = run.catch(() => undefined);
    return run;
  }

  private async run(tensor: Float32Array): Promise<InferenceOutput> {
    const { input, outputs, labels, calibration } = this.model.manifest;
    let result: ort.InferenceSession.ReturnType;
    try {
      result = await this.session.run({ [input.name]: new ort.Tensor('float32', tensor, this.dims) }, [outputs.logits]);
    } catch (error) {
      throw new ModelError(ErrorCode.INFERENCE_FAILED, `inference failed: ${(error as Error).message}`, { cause: error });
    }
    const logits = Array.from(result[outputs.logits]!.data as Float32Array);
    if (logits.length !== labels.length || !logits.every(Number.isFinite)) {
      throw new ModelError(
        ErrorCode.MODEL_OUTPUT_INVALID,
        `output "${outputs.logits}" gave ${logits.length} values (${logits.slice(0, 5).join(', ')}) for ${labels.length} labels`,
      );
    }
    return { logits, probabilities: softmax(logits, calibration.temperature) };
  }

  async close(): Promise<void> {
    await this.tail;
    await this.session.release();
  }
}

export function softmax(logits: number[], temperature = 1): number[] {
  const scaled = logits.map((value) => value / temperature);
  const max = Math.max(...scaled);
  const exps = scaled.map((value) => Math.exp(value - max));
  const sum = exps.reduce((a, b) => a + b, 0);
  return exps.map((value) => value / sum);
}
