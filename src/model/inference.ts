import os from 'node:os';
import type ort from 'onnxruntime-node';
import { ErrorCode, ModelError } from '../errors.js';
import { inputGeometry } from './manifest.js';
import type { ModelPackage } from './model-package.js';
import { residualModel } from './ood.js';
import { SessionHost, type HostedSession, type SessionTensor } from './session-host.js';

// ONNX Runtime's telemetry reads /etc/machine-id and this process's command line (which may hold
// patient file names) and keeps a database under ~/.cache: not on a clinical device. It is read
// at the first session, so this covers every session made here; an operator may still set it to 0.
process.env.ORT_DISABLE_TELEMETRY ??= '1';

export interface ActivationMap {
  width: number;
  height: number;
  /** Row-major, in the model input's geometry (before letterbox/crop is undone). */
  data: Float32Array;
}

export interface InferenceOutput {
  logits: number[];
  /** Softmax of logits / calibration temperature, in manifest label order. */
  probabilities: number[];
  /** The class-activation map for the predicted class, when the model has a `cam` output. */
  cam?: ActivationMap;
  /** The penultimate features, when the model has a `features` output (for the OOD detector). */
  features?: Float32Array;
  /** Their distance from the package's principal subspace, when it has OOD statistics. */
  residual?: number;
}

export interface InferenceOptions {
  /** Intra-op threads; 0 = one per core. */
  threads: number;
  /** ONNX Runtime's CPU memory arena (model.memoryArena); absent: off, as {@link sessionOptions}. */
  memoryArena?: boolean;
}

/** ARM CPUs, where ONNX Runtime should keep QDQ int8 as int8 (S8S8 dot-product kernels). */
export const isArm = (arch: string = process.arch): boolean => arch === 'arm64' || arch === 'arm';

/**
 * The session options every run uses: all graph optimisations (QDQ fusion into integer
 * kernels included), sequential, `threads` intra-op threads (0 = one per core); on ARM,
 * `session.qdqisint8allowed=1` so int8 activations are not converted to uint8 and ORT uses its
 * signed dot-product kernels (Cortex-A76/A78AE; the Pi 4's A72 has none, see docs/quantization.md).
 * No CPU memory arena: it keeps every block it ever handed out, the weights as read from the
 * file included, which are dropped once packed for the integer kernels: 37 MB of the INT8
 * AlexNet's session for no measurable latency (docs/benchmarks-memory.md).
 * No spinning: ORT's threads otherwise busy-wait between operators and after a run, taking the
 * cores the service needs meanwhile to decode the next image and hash it; a burst ran about 15%
 * faster without, and the lamp no later (docs/benchmarks-lamp.md).
 */
export function sessionOptions(threads: number, extra: ort.InferenceSession.SessionOptions = {}, arch: string = process.arch): ort.InferenceSession.SessionOptions {
  return {
    intraOpNumThreads: threads > 0 ? threads : os.availableParallelism(),
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    enableCpuMemArena: false,
    extra: { session: { intra_op: { allow_spinning: '0' }, ...(isArm(arch) ? { qdqisint8allowed: '1' } : {}) } },
    ...extra,
  };
}

/**
 * The model's ONNX Runtime session (and the OOD statistics' projection), created with a warm-up
 * run in a thread of their own ({@link SessionHost}) so that neither creating nor running them
 * holds up the main thread. Calls are serialised: ORT already spreads one run over all cores,
 * and queuing here keeps memory flat and latency predictable.
 */
export class InferenceEngine {
  private tail: Promise<unknown> = Promise.resolve();

  private constructor(
    readonly model: ModelPackage,
    private readonly host: SessionHost,
    private readonly session: HostedSession,
    private readonly dims: number[],
    /** The OOD statistics' projection (src/model/ood.ts), when the package has them. */
    private readonly residualSession: HostedSession | undefined,
  ) {}

  static async open(model: ModelPackage, options: InferenceOptions): Promise<InferenceEngine> {
    const host = new SessionHost();
    try {
      return await InferenceEngine.openIn(host, model, options);
    } catch (error) {
      await host.close();
      throw error;
    }
  }

  private static async openIn(host: SessionHost, model: ModelPackage, options: InferenceOptions): Promise<InferenceEngine> {
    let session: HostedSession;
    try {
      session = await host.create(model.onnxPath, sessionOptions(options.threads, { enableCpuMemArena: options.memoryArena ?? false }));
    } catch (error) {
      throw new ModelError(ErrorCode.MODEL_LOAD_FAILED, `ONNX Runtime cannot load ${model.onnxPath}: ${(error as Error).message}`, { cause: error });
    }
    const { input, outputs } = model.manifest;
    const missing = [
      ...(session.inputNames.includes(input.name) ? [] : [`input "${input.name}" (model has ${session.inputNames.join(', ')})`]),
      ...[outputs.logits, outputs.cam, outputs.features]
        .filter((name): name is string => name !== undefined && !session.outputNames.includes(name))
        .map((name) => `output "${name}" (model has ${session.outputNames.join(', ')})`),
    ];
    if (missing.length > 0) {
      throw new ModelError(ErrorCode.MODEL_INTERFACE_MISMATCH, `${model.onnxPath} does not match its manifest: no ${missing.join('; no ')}`);
    }
    let residualSession: HostedSession | undefined;
    if (model.oodStatistics) {
      try {
        residualSession = await host.create(residualModel(model.oodStatistics), sessionOptions(1));
      } catch (error) {
        throw new ModelError(ErrorCode.MODEL_LOAD_FAILED, `ONNX Runtime cannot load the OOD statistics of ${model.dir}: ${(error as Error).message}`, { cause: error });
      }
    }
    const engine = new InferenceEngine(model, host, session, [...input.shape], residualSession);
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
    let result: Record<string, SessionTensor>;
    try {
      const fetches = [outputs.logits, outputs.cam, outputs.features].filter((name): name is string => name !== undefined);
      result = await this.session.run({ [input.name]: { data: tensor, dims: this.dims } }, fetches);
    } catch (error) {
      throw new ModelError(ErrorCode.INFERENCE_FAILED, `inference failed: ${(error as Error).message}`, { cause: error });
    }
    const logits = Array.from(result[outputs.logits]!.data);
    if (logits.length !== labels.length || !logits.every(Number.isFinite)) {
      throw new ModelError(
        ErrorCode.MODEL_OUTPUT_INVALID,
        `output "${outputs.logits}" gave ${logits.length} values (${logits.slice(0, 5).join(', ')}) for ${labels.length} labels`,
      );
    }
    const probabilities = softmax(logits, calibration.temperature);
    const cam = outputs.cam ? activationMap(result[outputs.cam]!, outputs.cam) : undefined;
    const features = outputs.features ? featureVector(result[outputs.features]!, outputs.features) : undefined;
    const residual = features && this.residualSession ? await this.residualOf(features) : undefined;
    return { logits, probabilities, ...(cam ? { cam } : {}), ...(features ? { features } : {}), ...(residual !== undefined ? { residual } : {}) };
  }

  private async residualOf(features: Float32Array): Promise<number> {
    const dim = this.model.oodStatistics!.mean.length;
    if (features.length !== dim) {
      throw new ModelError(ErrorCode.MODEL_OUTPUT_INVALID, `features output has ${features.length} values, the OOD statistics expect ${dim}`);
    }
    try {
      const result = await this.residualSession!.run({ features: { data: features, dims: [1, dim] } });
      return Math.sqrt(Math.max(0, result.squared_residual!.data[0]!));
    } catch (error) {
      throw new ModelError(ErrorCode.INFERENCE_FAILED, `OOD residual failed: ${(error as Error).message}`, { cause: error });
    }
  }

  /** After the calls already made; the thread ends with its sessions. */
  async close(): Promise<void> {
    await this.tail;
    await this.host.close();
  }
}

/** [1, H, W] or [1, 1, H, W] → a map; anything else is a model that does not fit its manifest. */
function activationMap(tensor: SessionTensor, name: string): ActivationMap {
  const dims = tensor.dims.filter((dim, i) => !(dim === 1 && i < tensor.dims.length - 2));
  if (dims.length !== 2 || tensor.type !== 'float32') {
    throw new ModelError(ErrorCode.MODEL_OUTPUT_INVALID, `output "${name}" should be a float32 [1, H, W] map, got ${tensor.type} [${tensor.dims.join(', ')}]`);
  }
  return { height: dims[0]!, width: dims[1]!, data: tensor.data };
}

function featureVector(tensor: SessionTensor, name: string): Float32Array {
  if (tensor.type !== 'float32' || tensor.dims[0] !== 1) {
    throw new ModelError(ErrorCode.MODEL_OUTPUT_INVALID, `output "${name}" should be float32 [1, D] features, got ${tensor.type} [${tensor.dims.join(', ')}]`);
  }
  return tensor.data;
}

export function softmax(logits: number[], temperature = 1): number[] {
  const scaled = logits.map((value) => value / temperature);
  const max = Math.max(...scaled);
  const exps = scaled.map((value) => Math.exp(value - max));
  const sum = exps.reduce((a, b) => a + b, 0);
  return exps.map((value) => value / sum);
}
