import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import net from 'node:net';
import { promisify } from 'node:util';
import mqtt from 'mqtt';
import { ffmpegPath, inputArguments } from '../capture/camera/ffmpeg-frames.js';
import { Reject } from '../capture/dicom-receiver/constants.js';
import { cEcho } from '../capture/dicom-receiver/echo.js';
import { bindError, receiverStateFile, type ReceiverState } from '../capture/dicom-receiver/receiver.js';
import type { Config } from '../config/schema.js';
import { toCspineError } from '../errors.js';
import { diskFreeBytes, diskUsedShare } from '../jobs/health.js';
import { InferenceEngine } from '../model/inference.js';
import { loadModelPackage, type ModelPackage } from '../model/model-package.js';
import { loadTrustedKeys, SIGNATURE_FILE, verifyManifestSignature } from '../model/signature.js';
import { planIndicators } from '../indicators/select.js';
import { openDatabase } from '../store/database.js';
import { MIGRATIONS } from '../store/migrations.js';
import { Outbox } from '../store/outbox.js';
import { processAlive, readRuntimeState, runtimeStateFile } from '../runtime/state-file.js';
import { appliedThresholds, resolveThresholds } from '../triage/policy.js';
import { deviceConnectionOptions } from '../sync/connection.js';
import { commandConfig, CONFIG_OPTION, defineCommand } from './options.js';

const execFileAsync = promisify(execFile);

export type CheckStatus = 'ok' | 'warn' | 'fail';

export interface Check {
  name: string;
  status: CheckStatus;
  detail: string;
}

type Probe = () => Promise<Omit<Check, 'name'>> | Omit<Check, 'name'>;

/** What works on this box and what does not, each with the reason; exit 1 on any failure. */
export async function doctorCommand(config: Config, options: { json: boolean }): Promise<number> {
  // Loaded (and its files hashed) once for the two checks that read it.
  let loading: Promise<ModelPackage> | undefined;
  const modelPackage = () => (loading ??= loadModelPackage(path.resolve(config.model.dir, config.model.id), config.model.variant));
  const probes: Array<[string, Probe]> = [
    ['capture folder', () => captureFolder(config)],
    ['model', () => model(config, modelPackage)],
    ['model signature', () => modelSignature(config)],
    ['ood detector', () => oodDetector(config, modelPackage)],
    ['thresholds', () => thresholds(config, modelPackage)],
    ['history database', () => database(config)],
    ['disk', () => disk(config)],
    ['lamps', () => lamps(config)],
    ['mqtt', () => broker(config)],
    ['dicom receiver', () => dicomReceiver(config)],
    ['camera', () => camera(config)],
    ['service', () => runningService(config)],
  ];
  const checks: Check[] = [];
  for (const [name, probe] of probes) {
    try {
      checks.push({ name, ...(await probe()) });
    } catch (error) {
      const problem = toCspineError(error);
      checks.push({ name, status: 'fail', detail: `${problem.code}: ${problem.message}` });
    }
  }
  if (options.json) {
    for (const check of checks) process.stdout.write(`${JSON.stringify(check)}\n`);
  } else {
    const mark: Record<CheckStatus, string> = { ok: ' ok ', warn: 'WARN', fail: 'FAIL' };
    for (const check of checks) process.stdout.write(`[${mark[check.status]}] ${check.name.padEnd(16)} ${check.detail}\n`);
  }
  return checks.some((check) => check.status === 'fail') ? 1 : 0;
}

function captureFolder(config: Config): Omit<Check, 'name'> {
  const dir = path.resolve(config.capture.dir);
  if (!fs.existsSync(dir)) return { status: 'warn', detail: `${dir} does not exist yet (the service creates it)` };
  fs.accessSync(dir, fs.constants.W_OK | fs.constants.R_OK);
  const waiting = fs.readdirSync(dir, { withFileTypes: true }).filter((entry) => entry.isFile()).length;
  return { status: 'ok', detail: `${dir} is writable; ${waiting} file(s) waiting` };
}

async function model(config: Config, modelPackage: () => Promise<ModelPackage>): Promise<Omit<Check, 'name'>> {
  const pkg = await modelPackage();
  const engine = await InferenceEngine.open(pkg, config.model);
  await engine.close();
  return { status: 'ok', detail: `${pkg.manifest.id} (${pkg.variant === 'default' ? '' : `${pkg.variant} variant, `}${pkg.manifest.file}, sha256 ${pkg.manifest.sha256.slice(0, 12)}…) verified, loads and runs` };
}

/** What the service will make of the package's signature; a refusal throws its code. */
function modelSignature(config: Config): Omit<Check, 'name'> {
  const dir = path.resolve(config.model.dir, config.model.id);
  if (config.model.trustedKeys.length === 0) {
    const signed = fs.existsSync(path.join(dir, SIGNATURE_FILE)) ? `${SIGNATURE_FILE} not checked` : 'unsigned';
    return { status: 'ok', detail: `${signed} (model.trustedKeys empty, so not required; fleet updates are refused)` };
  }
  const trusted = loadTrustedKeys(config.model.trustedKeys);
  const { keyId } = verifyManifestSignature(dir, trusted);
  return { status: 'ok', detail: `signed by ${keyId} and trusted (${trusted.find((key) => key.keyId === keyId)!.source})` };
}

/** Whether unfamiliar images can be told apart: a package without OOD statistics is unguarded. */
async function oodDetector(config: Config, modelPackage: () => Promise<ModelPackage>): Promise<Omit<Check, 'name'>> {
  const { manifest } = await modelPackage();
  const { ood } = manifest;
  if (!ood) {
    return {
      status: 'warn',
      detail: `unguarded: ${manifest.id} has no OOD statistics, so an image unlike its training data (a photo, another body part) can still be GREEN; make them with: cspine-edge model ood-calibrate (docs/safety.md)`,
    };
  }
  const images = ood.provenance?.images;
  const search = config.triage.orientationSearch ? 'orientation search on' : 'orientation search off (unfamiliar = AMBER)';
  return {
    status: 'ok',
    detail: `guarded: ${ood.method}, ${ood.components} components of ${ood.featureDim} features${images === undefined ? '' : `, calibrated on ${String(images)} images`} at the ${ood.inDistributionPercentile}th percentile; statistics verified; ${search}`,
  };
}

/** Where greenMinNormal comes from: a site's validated films, or defaults chosen on phantoms. */
async function thresholds(config: Config, modelPackage: () => Promise<ModelPackage>): Promise<Omit<Check, 'name'>> {
  const { manifest } = await modelPackage();
  const { greenMinNormal, redMinAbnormal } = resolveThresholds(config.triage, manifest.triage);
  const overridden = config.triage.greenMinNormal !== undefined ? `; config sets greenMinNormal over the manifest's ${manifest.triage?.greenMinNormal ?? 'default'}` : '';
  const validation = manifest.triage?.validation;
  if (!validation) {
    return {
      status: 'warn',
      detail: `greenMinNormal ${greenMinNormal}, redMinAbnormal ${redMinAbnormal}: not validated on this site's films (chosen on phantoms); before clinical use run: cspine-edge model validate (docs/own-data.md)${overridden}`,
    };
  }
  const bound = `injured among GREEN ≤ ${Number((validation.maxInjuredAmongGreen * 100).toFixed(2))}% at ${Number((validation.confidence * 100).toFixed(1))}% confidence`;
  // The same rule the results are stamped by: a configured value is never the validated one, even when equal.
  if (appliedThresholds(config.triage, manifest.triage).validatedBy === null) {
    return {
      status: 'warn',
      detail: `greenMinNormal ${greenMinNormal} from the configuration overrides the ${manifest.triage?.greenMinNormal} validated on ${validation.films} films of "${validation.data}" (${bound}): results are read with an unvalidated threshold (validatedBy null); remove triage.greenMinNormal from the configuration to use the validated one`,
    };
  }
  return { status: 'ok', detail: `greenMinNormal ${greenMinNormal}, redMinAbnormal ${redMinAbnormal}: validated on ${validation.films} films of "${validation.data}" on ${validation.date.slice(0, 10)} (${bound}; report sha256 ${validation.reportSha256.slice(0, 12)}…)${overridden}` };
}

function lamps(config: Config): Omit<Check, 'name'> {
  const plan = planIndicators(config.indicators);
  const pins = [...plan.lamps].map(([lamp, line]) => `${lamp} ${line.describe}${line.sysfs !== undefined ? ` = GPIO ${line.sysfs}` : ''}`);
  const button = plan.button ? `; button ${plan.button.describe}` : '';
  return { status: 'ok', detail: `${plan.reason}${pins.length > 0 ? `; ${pins.join(', ')}${button}` : ''}` };
}

function database(config: Config): Omit<Check, 'name'> {
  if (!fs.existsSync(config.store.path)) return { status: 'warn', detail: `${config.store.path} does not exist yet (the service creates it)` };
  const db = openDatabase(config.store.path, { readonly: true });
  try {
    const version = db.pragma('user_version', { simple: true }) as number;
    const images = (db.prepare('SELECT count(*) AS n FROM images').get() as { n: number }).n;
    const { pending, oldestPendingAt } = new Outbox(db).backlog();
    const backlog = pending === 0 ? 'outbox empty' : `outbox: ${pending} waiting since ${oldestPendingAt}`;
    const status: CheckStatus = version < MIGRATIONS.length ? 'warn' : pending > config.sync.outboxWarnAt ? 'warn' : 'ok';
    return { status, detail: `${config.store.path}: schema ${version}/${MIGRATIONS.length}, ${images} image(s), ${backlog}` };
  } finally {
    db.close();
  }
}

function disk(config: Config): Omit<Check, 'name'> {
  const dir = path.dirname(path.resolve(config.store.path));
  const probeDir = fs.existsSync(dir) ? dir : process.cwd();
  const free = diskFreeBytes(probeDir);
  const share = diskUsedShare(probeDir);
  if (free === null || share === null) return { status: 'warn', detail: `cannot read free space for ${probeDir}` };
  const detail = `${(free / 2 ** 30).toFixed(1)} GiB free, ${(share * 100).toFixed(0)}% used (retention starts at ${(config.jobs.maxDiskShare * 100).toFixed(0)}%)`;
  return { status: share > config.jobs.maxDiskShare ? 'warn' : 'ok', detail };
}

async function broker(config: Config): Promise<Omit<Check, 'name'>> {
  const settings = config.sync.mqtt;
  if (!settings.enabled) return { status: 'ok', detail: 'sync off (sync.mqtt.enabled: false); results stay on this box' };
  // Its own client id and a clean session, so the running service's session is left alone.
  const options = { ...deviceConnectionOptions(config, `${settings.clientId ?? config.deviceId}-doctor`), clean: true, connectTimeout: 5000 };
  delete options.properties;
  try {
    const client = await mqtt.connectAsync(settings.url, options, false);
    await client.endAsync();
    return { status: 'ok', detail: `${settings.url} accepts this device (MQTT ${settings.protocolVersion === 5 ? '5' : '3.1.1'})` };
  } catch (error) {
    return { status: 'fail', detail: `${settings.url}: ${(error as Error).message}` };
  }
}

/**
 * off / listening on port P as AE X / failed to bind (with the reason). Asks the port itself
 * with a C-ECHO, so it tells a running receiver from a stale state file, and reads the state
 * the service left for why it is not listening.
 */
async function dicomReceiver(config: Config): Promise<Omit<Check, 'name'>> {
  const settings = config.dicom.receiver;
  if (!settings.enabled) return { status: 'ok', detail: 'off (dicom.receiver.enabled: false)' };
  const { port, aeTitle } = settings;
  const anyone = settings.allowedCallingAeTitles.length === 0 && settings.allowedPeers.length === 0;
  const policy = `calling AEs ${settings.allowedCallingAeTitles.length > 0 ? settings.allowedCallingAeTitles.join(', ') : 'any'}; peers ${settings.allowedPeers.length > 0 ? settings.allowedPeers.join(', ') : 'any'}`;
  const host = settings.host === '0.0.0.0' || settings.host === '::' ? '127.0.0.1' : settings.host;
  const echo = await cEcho({ host, port, calledAE: aeTitle, callingAE: 'CSPINE_DOCTOR', timeoutMs: 3000 });
  const listening = `listening on port ${port} as AE ${aeTitle}`;
  switch (echo.kind) {
    case 'answered':
      return {
        status: anyone ? 'warn' : 'ok',
        detail: `${listening}; C-ECHO answered in ${echo.ms} ms; ${policy}${anyone ? ' (anyone on the network may store: set dicom.receiver.allowedCallingAeTitles or allowedPeers)' : ''}`,
      };
    case 'rejected':
      if (echo.reason === Reject.CALLED_AE_NOT_RECOGNIZED && echo.source === Reject.SOURCE_USER) {
        return { status: 'fail', detail: `port ${port} answers DICOM but not as AE ${aeTitle}: another application, or the service runs with another dicom.receiver.aeTitle` };
      }
      return { status: 'ok', detail: `${listening}; it refused the doctor's own association (result ${echo.result}, source ${echo.source}, reason ${echo.reason}), as its allowlist says; ${policy}` };
    case 'refused-context':
      return { status: 'warn', detail: `port ${port} associates as AE ${aeTitle} but refuses Verification (C-ECHO)` };
    case 'aborted':
      return { status: 'fail', detail: `port ${port} accepts connections but did not answer as a DICOM receiver` };
    case 'unreachable':
      break;
  }
  const state = readReceiverState(config);
  if (state?.state === 'failed' && processAlive(state.pid)) return { status: 'fail', detail: `failed to bind: ${state.code}: ${state.reason}` };
  const bind = await tryBind(settings.host, port);
  if (bind) return { status: 'fail', detail: `not listening (${echo.message}); ${bind.code}: ${bind.message}` };
  return { status: 'warn', detail: `not listening on port ${port} (the service is not running?); the port is free to bind` };
}

function readReceiverState(config: Config): ReceiverState | undefined {
  try {
    return JSON.parse(fs.readFileSync(receiverStateFile(config), 'utf8')) as ReceiverState;
  } catch {
    return undefined;
  }
}

/**
 * The running service as it last described itself (runtime.state.json beside the database):
 * its device state and each capability's health. A FAULT is a failure; not running is a warning.
 */
/**
 * The camera: while the service runs it holds the device, so its own account (frames, stills,
 * last frame) is read from the runtime state; otherwise ffprobe says what the input is.
 */
async function camera(config: Config): Promise<Omit<Check, 'name'>> {
  const settings = config.capture.camera;
  if (!settings.enabled) return { status: 'ok', detail: 'off (capture.camera.enabled: false)' };
  const ffprobe = ffmpegPath('ffprobe');
  if (!ffmpegPath() || !ffprobe) return { status: 'fail', detail: 'FFmpeg is not installed (apt-get install ffmpeg)' };
  const snapshot = readRuntimeState(config);
  const running = snapshot?.running && processAlive(snapshot.pid) ? snapshot.capabilities.find((capability) => capability.name === 'camera') : undefined;
  if (running) return { status: running.status === 'ok' ? 'ok' : 'fail', detail: `in use by the service: ${running.detail}` };
  try {
    const { stdout } = await execFileAsync(ffprobe, ['-v', 'error', ...inputArguments(settings).filter((arg) => arg !== '-re'), '-select_streams', 'v:0', '-show_entries', 'stream=codec_name,width,height,avg_frame_rate:format=format_name', '-of', 'json'], {
      timeout: 10_000,
    });
    const probed = JSON.parse(stdout) as { streams?: Array<{ codec_name?: string; width?: number; height?: number; avg_frame_rate?: string }>; format?: { format_name?: string } };
    const video = probed.streams?.[0];
    if (!video) return { status: 'fail', detail: `${settings.input} has no video stream` };
    const [num, den] = (video.avg_frame_rate ?? '0/1').split('/').map(Number);
    const rate = den ? (num ?? 0) / den : 0;
    return { status: 'ok', detail: `${settings.input} found: ${probed.format?.format_name ?? '?'} ${video.codec_name ?? '?'} ${video.width}×${video.height} at ${rate.toFixed(1)} fps; looked at ${settings.fps} fps, stills ${settings.width}×${settings.height}` };
  } catch (error) {
    const said = (error as { stderr?: string }).stderr?.trim();
    return { status: 'fail', detail: `${settings.input} cannot be opened: ${said || (error as Error).message}` };
  }
}

function runningService(config: Config): Omit<Check, 'name'> {
  const snapshot = readRuntimeState(config);
  if (!snapshot) return { status: 'warn', detail: `not running (no ${runtimeStateFile(config)} yet)` };
  if (!snapshot.running || !processAlive(snapshot.pid)) return { status: 'warn', detail: `not running (last seen ${snapshot.updatedAt}${snapshot.running ? ', it did not stop cleanly' : ''})` };
  const unwell = snapshot.capabilities.filter((capability) => capability.status === 'failed' || capability.status === 'degraded');
  const notes = unwell.map((capability) => `${capability.name} ${capability.status}: ${capability.detail}`).join('; ');
  const device = snapshot.device;
  if (device.state === 'fault') return { status: 'fail', detail: `pid ${snapshot.pid} at FAULT: ${device.fault.code}: ${device.fault.message}${notes ? `; ${notes}` : ''}` };
  const state = device.state === 'ready' ? `ready, model ${device.model.id}` : device.state;
  return { status: unwell.length > 0 ? 'warn' : 'ok', detail: `pid ${snapshot.pid} ${state} since ${snapshot.updatedAt}; ${snapshot.capabilities.length} capabilities${notes ? `; ${notes}` : ', all well'}` };
}

/** Whether the receiver could listen here now: undefined if so, else why not (with its code). */
function tryBind(host: string, port: number): Promise<{ code: string; message: string } | undefined> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', (error: NodeJS.ErrnoException) => {
      const problem = bindError(error, host, port);
      resolve({ code: problem.code, message: problem.message });
    });
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(undefined)));
  });
}

// Command line (cspine-edge doctor): options, usage and help; the checks themselves are doctorCommand.
export const doctor = defineCommand({
  synopsis: 'doctor [--json]',
  about: 'Checks the model, OOD detector, database, disk, lamps, broker, DICOM receiver, camera and the running service (its device state and each capability), each with the reason; exit 1 on a failure.',
  options: { json: { type: 'boolean', default: false }, ...CONFIG_OPTION },
  optionHelp: '  --json                    one JSON line per check',
  run: ({ values }) => doctorCommand(commandConfig(values), { json: values.json }),
});
