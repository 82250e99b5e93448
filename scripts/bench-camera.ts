/**
 * `npm run bench:camera`: the camera source in the running service, with FFmpeg playing a
 * recorded screen in real time (so it takes about two minutes). Measured side by side in one run:
 * - the latency from a new image appearing on the screen to its lamp, for several stableMs;
 * - the CPU used while watching a screen that does not change (FFmpeg decoding and filtering,
 *   and the service looking at 2 frames a second), and the service's memory while it does.
 * Prints the tables and writes docs/benchmarks-camera.md.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';
import { configSchema, type ConfigInput } from '../src/config/schema.js';
import { SimulatedIndicators } from '../src/indicators/simulated.js';
import { createLogger } from '../src/logger.js';
import type { CommitEvent } from '../src/runtime/events.js';
import { Service } from '../src/service.js';
import { ringedSquare } from '../src/tools/fixtures/images.js';
import { brightnessModel, writeModelPackage } from '../src/tools/fixtures/onnx-models.js';
import { screenPane, writeScreenVideo } from '../src/tools/fixtures/screen-video.js';

const DOC = fileURLToPath(new URL('../docs/benchmarks-camera.md', import.meta.url));
const SCREEN = { width: 1280, height: 720 };
const SCENE_SECONDS = 6;
const SCENES = 6;
const IDLE_SECONDS = 30;
/** What a grabber asked for a low rate delivers (inputOptions: [-framerate, 10]); FFmpeg decodes every frame it gets. */
const VIDEO_FPS = 10;


function workspaceConfig(root: string, camera: NonNullable<NonNullable<ConfigInput['capture']>['camera']>) {
  writeModelPackage(path.join(root, 'models'), { id: 'brightness', onnx: brightnessModel(), size: 16 });
  return configSchema.parse({
    capture: { dir: path.join(root, 'capture'), processedDir: path.join(root, 'processed'), rejectedDir: path.join(root, 'rejected'), camera: { enabled: true, roi: screenPane(SCREEN.width, SCREEN.height), ...camera } },
    model: { dir: path.join(root, 'models'), id: 'brightness', threads: 1 },
    store: { path: path.join(root, 'cspine.db') },
    privacy: { siteSecretFile: path.join(root, 'secret') },
    imaging: { heatmapDir: '' },
    quality: { enabled: false },
    indicators: { backend: 'simulated', render: false, lampTestAtStart: false },
    jobs: { healthSchedule: 'off', retentionSchedule: 'off', selfTestSchedule: 'off' },
    log: { level: 'warn' },
  });
}

async function runService(root: string, camera: NonNullable<NonNullable<ConfigInput['capture']>['camera']>, seconds: number, sample: (service: Service) => void) {
  const config = workspaceConfig(root, camera);
  const service = new Service(config, createLogger('warn'), new SimulatedIndicators());
  const commits: CommitEvent[] = [];
  service.bus.on('resultCommitted', commits, (commit) => commits.push(commit));
  await service.start();
  // The video's time 0 is its first frame here: FFmpeg probes the file before it plays it.
  while (!/[1-9]\d* frames/.test(service.capabilityHealth().camera?.detail ?? '')) await new Promise((resolve) => setTimeout(resolve, 5));
  const started = Date.now();
  const timer = setInterval(() => sample(service), 1000);
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  clearInterval(timer);
  await service.stop();
  return { commits, started };
}

function ffmpegCpuSeconds(input: string): number {
  // The camera's FFmpeg is the one reading this input; its utime + stime in clock ticks.
  const pid = execFileSync('pgrep', ['-f', input], { encoding: 'utf8' }).trim().split('\n')[0];
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cspine-bench-camera-'));
  try {
    const levels = [115, 230, 25, 200, 60, 140];
    const images = await Promise.all(levels.slice(0, SCENES).map((level, i) => ringedSquare(level, 3 + i * 2, { side: 512, amplitude: 30 })));
    const showing = path.join(dir, 'showing.mkv');
    process.stderr.write(`rendering ${SCENES} scenes of ${SCENE_SECONDS} s at ${SCREEN.width}×${SCREEN.height}\n`);
    const ranges = await writeScreenVideo(showing, images.map((image) => ({ image, seconds: SCENE_SECONDS })), { ...SCREEN, fps: VIDEO_FPS });
    const latencyRows: string[] = [];
    for (const stableMs of [500, 1500, 3000]) {
      process.stderr.write(`latency, stableMs ${stableMs}\n`);
      const root = fs.mkdtempSync(path.join(dir, 'run-'));
      const { commits, started } = await runService(root, { input: showing, stableMs }, ranges.at(-1)!.end + 2, () => undefined);
      // FFmpeg starts with the camera, so the video's time 0 is (within FFmpeg's start-up) the start.
      // Each result belongs to the last image that had appeared before it was committed.
      const scenes = commits.map((commit) => ranges.findLastIndex((range) => started + range.start * 1000 <= commit.committedAt.getTime()));
      const latencies = commits.map((commit, i) => commit.committedAt.getTime() - started - ranges[scenes[i]!]!.start * 1000).sort((a, b) => a - b);
      const taken = new Set(scenes).size;
      const median = latencies[Math.floor(latencies.length / 2)] ?? NaN;
      latencyRows.push(`| ${stableMs} | ${taken} of ${SCENES}${commits.length > taken ? ` (+${commits.length - taken} again)` : ''} | ${median.toFixed(0)} | ${(latencies.at(-1) ?? NaN).toFixed(0)} | ${(median - stableMs).toFixed(0)} |`);
    }

    const idleRows: string[] = [];
    let rssNote = '';
    // A grabber delivers what it is asked for (inputOptions: [-framerate, N]); FFmpeg decodes every frame it gets.
    for (const inputFps of [VIDEO_FPS, 5]) {
      process.stderr.write(`watching an unchanging screen at ${inputFps} fps for ${IDLE_SECONDS} s\n`);
      const still = path.join(dir, `still-${inputFps}.mkv`);
      await writeScreenVideo(still, [{ image: images[0]!, seconds: IDLE_SECONDS + 10 }], { ...SCREEN, fps: inputFps });
      const rss: number[] = [];
      let cpuAtStart: { node: NodeJS.CpuUsage; ffmpeg: number } | undefined;
      let cpuAtEnd: { node: NodeJS.CpuUsage; ffmpeg: number } | undefined;
      let samples = 0;
      await runService(fs.mkdtempSync(path.join(dir, 'idle-')), { input: still }, IDLE_SECONDS, () => {
        samples += 1;
        rss.push(process.memoryUsage().rss / 2 ** 20);
        // The first 5 s are start-up and the first still; then only watching.
        if (samples === 5) cpuAtStart = { node: process.cpuUsage(), ffmpeg: ffmpegCpuSeconds(still) };
        if (samples === IDLE_SECONDS - 1) cpuAtEnd = { node: process.cpuUsage(), ffmpeg: ffmpegCpuSeconds(still) };
      });
      const window = IDLE_SECONDS - 1 - 5;
      const nodeCpu = cpuAtStart && cpuAtEnd ? (cpuAtEnd.node.user + cpuAtEnd.node.system - cpuAtStart.node.user - cpuAtStart.node.system) / 1e6 / window : NaN;
      const ffmpegCpu = cpuAtStart && cpuAtEnd ? (cpuAtEnd.ffmpeg - cpuAtStart.ffmpeg) / window : NaN;
      idleRows.push(`| ${inputFps} fps | ${(ffmpegCpu * 100).toFixed(1)} % | ${(nodeCpu * 100).toFixed(1)} % | ${((ffmpegCpu + nodeCpu) * 100).toFixed(1)} % | ${rss[4]?.toFixed(0)} → ${rss.at(-1)?.toFixed(0)} |`);
      rssNote = `${rss.length} s`;
    }
    const tables = `| stableMs | images taken | new image → lamp, median (ms) | max (ms) | median − stableMs (ms) |
| ---: | ---: | ---: | ---: | ---: |
${latencyRows.join('\n')}

| unchanging screen, ${SCREEN.width}×${SCREEN.height} H.264 coming at | FFmpeg (decode, crop, scale, gray) | the service (still detector and the rest) | together, share of one core | service RSS after 5 s → ${rssNote} (MB) |
| ---: | ---: | ---: | ---: | ---: |
${idleRows.join('\n')}
Looked at 2 frames a second; stills 1024×1280.`;
    process.stdout.write(`${tables}\n`);
    fs.writeFileSync(
      DOC,
      `# Camera benchmark

\`npm run bench:camera\` (scripts/bench-camera.ts), ${new Date().toISOString().slice(0, 10)}, ${os.cpus().length} cores (${os.cpus()[0]?.model ?? 'unknown CPU'}).
The running service with the camera source on a recorded screen (${SCREEN.width}×${SCREEN.height}, ${VIDEO_FPS} fps, noise,
flicker, a blinking cursor and a ticking clock) played by FFmpeg in real time, the region of interest
on the image pane, and a test model that classifies by brightness (so the model costs nothing and
the camera's own cost shows). ${SCENES} images of ${SCENE_SECONDS} s each; latency runs from the moment an image
appears on the recorded screen (the video's time, counted from its first frame reaching the
service) to its result being committed and the lamp changed. A still is
taken \`stableMs\` after the picture stops changing, on the next of the 2 frames a second looked at.

${tables}
`,
    );
    process.stderr.write(`written ${path.relative(process.cwd(), DOC)}\n`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

await main();
