import net from 'node:net';
import os from 'node:os';
import cron from 'node-cron';
import { z } from 'zod';

const probability = z.number().min(0).max(1);
const activeLow = { activeLow: z.boolean().optional() };
/** A GPIO pin: BCM number (Raspberry Pi), chip label + line offset, or 40-pin header pin (Jetson AGX Orin). */
const pinSpec = z.union([
  z.strictObject({ bcm: z.int().min(0).max(57), ...activeLow }),
  z.strictObject({ chip: z.string().min(1), line: z.int().min(0), ...activeLow }),
  z.strictObject({ header: z.int().min(1).max(40), ...activeLow }),
]);
/** A DICOM AE title: 1–16 printable ASCII characters, no backslash (PS3.5 6.2); surrounding spaces are not significant. */
const aeTitle = z
  .string()
  .transform((value) => value.trim())
  .refine((value) => /^[\x20-\x5b\x5d-\x7e]{1,16}$/.test(value), 'an AE title: 1 to 16 printable ASCII characters, no backslash');
/** An IPv4/IPv6 address, or a CIDR block of them. */
const peerAddress = z.string().refine((value) => {
  const [address, prefix, ...rest] = value.split('/');
  const family = net.isIP(address ?? '');
  if (family === 0 || rest.length > 0) return false;
  return prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128));
}, 'an IP address or a CIDR block (e.g. 192.168.10.0/24)');
/** [x, y] in the camera picture's pixels. */
const screenPoint = z.tuple([z.number().min(0), z.number().min(0)]);
const schedule = z.string().refine((value) => value === 'off' || cron.validate(value), 'a node-cron expression (5 or 6 fields) or "off"');

/**
 * How to reach the MQTT broker: shared by the device (sync.mqtt) and the dashboard
 * (dashboard.mqtt), which connect to the same broker from the two ends.
 */
const brokerConnection = {
  url: z.string().regex(/^(mqtts?|wss?|tcp|ssl):\/\//, 'an mqtt://, mqtts://, ws:// or wss:// URL').default('mqtt://127.0.0.1:1883'),
  topicPrefix: z.string().regex(/^[^#+]+$/, 'no MQTT wildcards').default('cspine/v1'),
  keepaliveSec: z.int().min(5).max(3600).default(30),
  /** MQTT 5: how long the broker keeps this client's session (and the QoS 1 messages queued for it) while it is offline. */
  sessionExpirySec: z.int().min(0).default(86_400),
  connectTimeoutMs: z.int().min(100).default(10_000),
  username: z.string().optional(),
  password: z.string().optional(),
  /** Read at every connect; keeps the password out of the config file. */
  passwordFile: z.string().optional(),
  tls: z
    .strictObject({
      ca: z.string().optional(),
      /** Client certificate and key (mTLS), when the broker asks for one. */
      cert: z.string().optional(),
      key: z.string().optional(),
      rejectUnauthorized: z.boolean().default(true),
    })
    .prefault({}),
};

/**
 * The one configuration schema. Every key has a default, so the service starts with no
 * config file at all; objects are strict so a misspelt key is reported, not ignored.
 */
export const configSchema = z.strictObject({
  deviceId: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,64}$/, 'letters, digits, "-" and "_" only (it becomes an MQTT topic level)')
    .default(os.hostname().replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 64) || 'cspine-edge'),
  log: z
    .strictObject({
      level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    })
    .prefault({}),
  capture: z
    .strictObject({
      dir: z.string().min(1).default('./capture'),
      /** Size and mtime must stay unchanged this long before a file counts as completely written. */
      stableWindowMs: z.int().min(0).max(60_000).default(300),
      /** A slow safety net for missed inotify events (queue overflow); 0 turns it off. */
      rescanIntervalMs: z.int().min(0).default(30_000),
      /** Images waiting for inference; beyond this, files wait in the folder for the next scan. */
      maxQueue: z.int().min(1).default(200),
      maxFileBytes: z.int().min(1).default(256 * 1024 * 1024),
      afterCommit: z.enum(['move', 'delete']).default('move'),
      processedDir: z.string().min(1).default('./data/processed'),
      rejectedDir: z.string().min(1).default('./data/rejected'),
      /**
       * A camera or video grabber watching the X-ray unit's screen (docs/camera.md): FFmpeg reads
       * it, each new image that stays steady is saved as a PNG into the capture folder and
       * classified like a file.
       */
      camera: z
        .strictObject({
          /** Off by default: nothing is opened unless asked to. */
          enabled: z.boolean().default(false),
          /** Any FFmpeg input: /dev/video0 (V4L2), rtsp://…, tcp://… (rpicam-vid --listen), a video file (read at its own rate: a fake camera). */
          input: z.string().min(1).default('/dev/video0'),
          /** FFmpeg's input format (-f), e.g. v4l2 or h264; empty lets FFmpeg find out. */
          format: z.string().default(''),
          /** More FFmpeg input options, before -i (e.g. ["-video_size", "1920x1080", "-input_format", "mjpeg"]). */
          inputOptions: z.array(z.string()).default([]),
          /** Frames looked at per second: it watches a still screen, not motion. */
          fps: z.number().gt(0).max(30).default(2),
          /** Size of the still saved and classified (after the region of interest is cut out). */
          width: z.int().min(64).max(4096).default(1024),
          height: z.int().min(64).max(4096).default(1280),
          /**
           * The radiograph's part of the camera's picture, in its pixels: a rectangle, or the
           * four corners (top-left, top-right, bottom-right, bottom-left) of a screen seen at an
           * angle, straightened by a perspective correction. Unset: the whole picture.
           * `cspine-edge camera snapshot` shows it drawn on a frame.
           */
          roi: z
            .union([
              z.strictObject({ x: z.int().min(0), y: z.int().min(0), width: z.int().min(16), height: z.int().min(16) }),
              z.strictObject({ corners: z.tuple([screenPoint, screenPoint, screenPoint, screenPoint]) }),
            ])
            .optional(),
          /** A new picture must stay steady this long before it is taken. */
          stableMs: z.int().min(0).max(60_000).default(1500),
          /** Share of the picture that must change for it to be a new image (a cursor or clock changes far less). */
          minChangedShare: probability.default(0.2),
          /** A part of the picture counts as changed when its level moves by more than this share of full scale. */
          cellThreshold: probability.default(0.08),
          /**
           * Perceptual-hash bits (of 64) within which a still is an image shown before. The cell
           * comparison already finds repeats through noise, flicker, a cursor or a clock; the hash
           * only adds near-identical ones, and is kept strict: different images of the same layout
           * and brightness can come within 6 bits, and a new image missed is worse than one taken twice.
           */
          sameImageDistance: z.int().min(0).max(32).default(3),
          /** Recent stills remembered as already classified. */
          memory: z.int().min(1).max(1000).default(20),
          /** While FFmpeg cannot open the camera or dies, try again after this, doubling up to retryMaxMs. */
          retryMinMs: z.int().min(100).default(1_000),
          retryMaxMs: z.int().min(100).default(30_000),
        })
        .prefault({}),
    })
    .prefault({}),
  imaging: z
    .strictObject({
      /** Checked from the header before any pixel is decoded: stops decompression bombs. */
      maxPixels: z.int().min(1).default(64_000_000),
      /**
       * JPEG 2000 and lossy JPEG DICOM frames: decoded only as large as the model needs ('model':
       * fewer wavelet levels or a scaled IDCT, the short side still above the model input; tens of
       * times faster for a 5-Mpixel JPEG 2000), or always in full ('full': heatmap overlays at the
       * file's resolution). Lamps agree either way (docs/dicom.md, docs/benchmarks-dicom.md).
       */
      dicomDecode: z.enum(['model', 'full']).default('model'),
      /**
       * Heatmap overlays (radiograph + class-activation map) as <sha256>.<jpg|png|webp>, when the
       * model has a CAM output; "" turns them off. Drawn after the lamp, never before it.
       */
      heatmapDir: z.string().default('./data/heatmaps'),
      /** JPEG by default: measured several times cheaper to encode than PNG (docs/benchmarks.md). */
      heatmapFormat: z.enum(['jpeg', 'png', 'webp']).default('jpeg'),
    })
    .prefault({}),
  /**
   * The image-quality gate between decode and the model (src/imaging/quality.ts): frames that
   * must not be judged are rejected with E_QUALITY_* and an AMBER "retake". Levels and shares
   * are 0..1 of full scale (255 or 65535). Each default was set from measurements on phantoms
   * and their acquisition shifts (pass) against blank, noise, saturated, low-contrast, colour
   * and tiny frames (refuse): docs/safety.md#image-quality-gate, scripts/quality-thresholds.ts.
   */
  quality: z
    .strictObject({
      /** Off only for test images that are not radiographs: without the gate a blank or colour frame gets the model's answer, even GREEN. */
      enabled: z.boolean().default(true),
      /**
       * Short side under this is too small for a radiograph. Low-resolution exports (phantoms
       * downsampled 3×, 85 px) still classify correctly, so only thumbnails and icons are refused.
       */
      minSidePx: z.int().min(1).default(64),
      /** The non-black region's bounding box must cover this share of the frame: 20%-per-side collimation still covers 0.35, a 25% thumbnail in a black frame 0.06. */
      minFieldShare: probability.default(0.15),
      /** p99 − p1 under this is a blank frame (one value, or nearly: 5 grey levels of 255). */
      blankMaxRange: probability.default(0.02),
      /** Block-mean spread over sample spread under this is pure noise (0.11–0.14 at any amplitude); phantoms and their shifts measure 0.62 or more. */
      minStructureShare: probability.default(0.3),
      /** More of the frame than this at white is saturated; brighter-exposure (×1.3) phantoms reach 0.24. */
      maxClippedHigh: probability.default(0.3),
      /** More of the frame than this at black is burnt out; phantoms collimated by 20% a side reach 0.68. */
      maxClippedLow: probability.default(0.75),
      /** p99 − p1 under this is too little contrast (also 12-bit data in a 16-bit file); darker-exposure phantoms keep 0.32, squeezed ones reach 0.15. */
      minDynamicRange: probability.default(0.2),
      /** Mean chroma over this is a colour photograph; gray saved as RGB measures 0, a warm-tinted scan up to 0.075, a blue duotone from 0.10. */
      maxColourfulness: probability.default(0.09),
    })
    .prefault({}),
  dicom: z
    .strictObject({
      /** The DICOM C-STORE receiver (Storage SCP); see docs/dicom-receiver.md. */
      receiver: z
        .strictObject({
          /** Off by default: nothing listens on the network unless asked to. */
          enabled: z.boolean().default(false),
          /** The called AE title modalities must address; associations to another one are refused. */
          aeTitle: aeTitle.default('CSPINE_EDGE'),
          port: z.int().min(1).max(65535).default(11112),
          /** Address to listen on: 0.0.0.0 (all IPv4), :: (all), or one interface's address. */
          host: z.string().min(1).default('0.0.0.0'),
          /** Calling AE titles allowed to associate; empty allows any (doctor warns). */
          allowedCallingAeTitles: z.array(aeTitle).default([]),
          /** Peer addresses (exact or CIDR) allowed to connect; empty allows any (doctor warns). */
          allowedPeers: z.array(peerAddress).default([]),
          /** An instance larger than this aborts its association; nothing is kept. */
          maxInstanceBytes: z.int().min(1024).default(256 * 1024 * 1024),
          /** Largest P-DATA PDU accepted (advertised to senders); larger PDUs abort the association. */
          maxPduBytes: z.int().min(4096).max(16 * 1024 * 1024).default(256 * 1024),
          /** Associations open at once; more are refused as "local limit exceeded" (transient). */
          maxAssociations: z.int().min(1).max(64).default(4),
          /**
           * Connections open at once from one address, associated or not; more are closed at accept.
           * 4, as maxAssociations: one modality may use every association, while a broken or hostile
           * sender holds no more sockets than that.
           */
          maxConnectionsPerPeer: z.int().min(1).max(64).default(4),
          /**
           * For the A-ASSOCIATE-RQ after connecting, however it trickles in. 5 s: a modality sends it at
           * once; a silent connection (scanner, flood) gives its socket back soon.
           */
          requestTimeoutMs: z.int().min(100).default(5_000),
          /** For the peer to close after a release or a refusal. */
          associationTimeoutMs: z.int().min(100).default(30_000),
          /** An open association silent this long is aborted. */
          idleTimeoutMs: z.int().min(100).default(60_000),
          /** Where instances are written before they are renamed into the capture folder; must be on its filesystem. "" means <capture.dir>/.dicom-spool. */
          spoolDir: z.string().default(''),
          /** While the port cannot be bound (in use, permission), try again this often. */
          bindRetryMs: z.int().min(100).default(30_000),
        })
        .prefault({}),
    })
    .prefault({}),
  model: z
    .strictObject({
      dir: z.string().min(1).default('./models'),
      id: z.string().min(1).default('cspine-alexnet-demo'),
      /**
       * Which file of the package to run (manifest `variants`): unset = the manifest's default
       * (int8 in the reference package); "fp32" where `model bench` shows it faster (Pi 4).
       */
      variant: z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'a variant name from the manifest, e.g. int8 or fp32').optional(),
      /** ONNX Runtime intra-op threads; 0 means one per CPU core. */
      threads: z.int().min(0).default(0),
      /**
       * ONNX Runtime's CPU memory arena. Off (false): the 58 MB INT8 AlexNet's session holds
       * 37 MB less, because the arena keeps the weights as read from the file after they are
       * packed for the integer kernels; latency measured the same (docs/benchmarks-memory.md).
       * On only where memory is plentiful and a profile shows allocation in inference.
       */
      memoryArena: z.boolean().default(false),
      /** While no model loads (FAULT), try again this often; images wait in the capture folder. */
      retryIntervalMs: z.int().min(100).default(30_000),
      /**
       * PEM files of the Ed25519 public keys whose signatures this device accepts
       * (`model keygen`, docs/model-updates.md). Empty: packages need no signature, and fleet
       * updates are refused. Set: every package, the local one included, must carry a valid
       * `manifest.sig` from one of them. Several keys allow rotation.
       */
      trustedKeys: z.array(z.string().min(1)).default([]),
    })
    .prefault({}),
  triage: z
    .strictObject({
      /** Overrides the model manifest's threshold; built-in default 0.90. */
      greenMinNormal: probability.optional(),
      /** Overrides the model manifest's threshold; built-in default 0.60. */
      redMinAbnormal: probability.optional(),
      /**
       * When the OOD detector finds an image unfamiliar, also look at it turned 90/180/270° or
       * inverted, and classify the most familiar reading (never GREEN: a normal read only after
       * a correction is AMBER); a GREEN candidate is also checked upside down. Costs 4 extra
       * inferences for unfamiliar images and 1 for GREEN ones; off = unfamiliar is AMBER.
       */
      orientationSearch: z.boolean().default(true),
      /**
       * A turned or inverted reading is used only when its OOD score is at most this (1 is the
       * detector's own threshold): other anatomy and documents turned upside down can score just
       * under 1. 0.8 was chosen on the validation sets (synth-ood seed 11), see docs/safety.md.
       */
      orientationMaxScore: z.number().gt(0).max(1).default(0.8),
    })
    .prefault({}),
  store: z
    .strictObject({
      path: z.string().min(1).default('./data/cspine.db'),
    })
    .prefault({}),
  indicators: z
    .strictObject({
      /** auto: sysfs GPIO if /sys/class/gpio exists, else the GPIO character device, else simulated. */
      backend: z.enum(['auto', 'simulated', 'sysfs', 'gpiod']).default('auto'),
      /** Draw the simulated lamps on stderr when it is a terminal. */
      render: z.boolean().default(true),
      /** Between results: all off, or a short green blink every 3 s. */
      idle: z.enum(['off', 'heartbeat']).default('off'),
      lampTestAtStart: z.boolean().default(true),
      pins: z
        .strictObject({
          green: pinSpec.default({ bcm: 17 }),
          amber: pinSpec.default({ bcm: 27 }),
          red: pinSpec.default({ bcm: 22 }),
          buzzer: pinSpec.optional(),
          button: pinSpec.optional(),
        })
        .prefault({}),
      debounceMs: z.int().min(0).max(1000).default(30),
      longPressMs: z.int().min(500).default(3000),
    })
    .prefault({}),
  sync: z
    .strictObject({
      mqtt: z
        .strictObject({
          /** Off by default: the box works standalone; results queue only while sync is on. */
          enabled: z.boolean().default(false),
          ...brokerConnection,
          /** 5 (session expiry, reason codes) or 4 (MQTT 3.1.1) for brokers without MQTT 5. */
          protocolVersion: z.union([z.literal(4), z.literal(5)]).default(5),
          /** Defaults to deviceId. */
          clientId: z.string().min(1).max(64).optional(),
          reconnectMinMs: z.int().min(10).default(1_000),
          reconnectMaxMs: z.int().min(10).default(60_000),
          /** QoS 1 messages sent but not yet acknowledged. */
          inflightWindow: z.int().min(1).max(1000).default(32),
        })
        .prefault({}),
      /**
       * The dashboard confirms what it stored (cspine.receipt.v1 on <prefix>/<deviceId>/receipt).
       * A broker's PUBACK is not enough: a broker that restarts forgets shared subscriptions
       * (Mosquitto 2.0), and what arrives before the dashboard subscribes again is dropped.
       */
      receipts: z
        .strictObject({
          /** Off only when the consumer is not the cspine dashboard (nothing would ever confirm). */
          enabled: z.boolean().default(true),
          /**
           * A message the broker acknowledged is sent again once this long has passed without its
           * receipt, while the dashboard has confirmed something sent after it (so it was lost, not
           * waiting in a queue). The dashboard de-duplicates by id.
           */
          resendAfterMs: z.int().min(100).default(60_000),
        })
        .prefault({}),
      /** Past this many undelivered messages, health and the log say so (nothing is dropped). */
      outboxWarnAt: z.int().min(1).default(10_000),
      /** Send file names in clear instead of pseudonyms. DICOM study/SOP instance UIDs are never stored or sent in clear. */
      sendIdentifiers: z.boolean().default(false),
    })
    .prefault({}),
  /**
   * Fleet model updates (docs/model-updates.md): model commands from the dashboard over MQTT,
   * packages fetched from `url`, verified against model.trustedKeys, tested beside the model in
   * service, switched between two images, rolled back when anything is wrong.
   */
  updates: z
    .strictObject({
      /** Off by default (false): needs sync.mqtt.enabled, `url` and a non-empty model.trustedKeys. */
      enabled: z.boolean().default(false),
      /** The dashboard's base URL (e.g. https://dashboard.example:8443): packages come only from here, whatever a command says. Default: none. */
      url: z.string().regex(/^https?:\/\/[^/]/, 'an http:// or https:// URL').optional(),
      /** Where received packages live. Default "": <folder of store.path>/updates, next to the history database. */
      dir: z.string().default(''),
      /** A package larger than this is refused before anything is fetched. Default 600 MiB. */
      maxPackageBytes: z.int().min(1).default(600 * 1024 * 1024),
      /** The disk must keep this much free after the download, or it is refused. Default 256 MiB. */
      minFreeBytes: z.int().min(0).default(256 * 1024 * 1024),
      /** Bytes asked for per HTTP Range request; each is on disk (fsync) before the next. Default 1 MiB. */
      chunkBytes: z.int().min(1024).default(1024 * 1024),
      /** No byte for this long: the connection is dropped and the download resumes from what is on disk. Default 30 s. */
      stallTimeoutMs: z.int().min(100).default(30_000),
      /** While the dashboard cannot be reached, try again after this, doubling up to retryMaxMs. Defaults 1 s and 5 min. */
      retryMinMs: z.int().min(10).default(1_000),
      retryMaxMs: z.int().min(10).default(300_000),
      /** A new package that runs this long in one start is confirmed. Default 10 min. */
      confirmAfterMs: z.int().min(0).default(600_000),
      /** Starts without confirmation beyond this bring the previous package back (a crash loop). Default 3. */
      maxUnconfirmedStarts: z.int().min(1).default(3),
    })
    .prefault({}),
  privacy: z
    .strictObject({
      /**
       * Key for pseudonyms (DICOM file names and UIDs in history, file names on MQTT): made on
       * first start, mode 0600, kept outside the database. Used whether or not sync is on.
       */
      siteSecretFile: z.string().min(1).default('./data/site-secret'),
    })
    .prefault({}),
  jobs: z
    .strictObject({
      /** node-cron expressions (5 fields, or 6 with seconds); "off" disables a job. */
      healthSchedule: schedule.default('* * * * *'),
      retentionSchedule: schedule.default('17 3 * * *'),
      selfTestSchedule: schedule.default('43 2 * * *'),
      /** Delivered (or never synced) history older than this is deleted; undelivered never is. */
      historyDays: z.int().min(1).default(180),
      /** Processed images older than this are deleted. */
      processedDays: z.int().min(1).default(30),
      /** Oldest processed images go first while the data disk is fuller than this share. */
      maxDiskShare: z.number().gt(0).max(1).default(0.85),
      /** Largest allowed difference in any probability when the self-test re-classifies. */
      selfTestTolerance: z.number().min(0).max(1).default(0.001),
    })
    .prefault({}),
  /**
   * The central dashboard (`cspine-edge dashboard`, docs/dashboard.md): a separate process
   * that subscribes to every device's messages, keeps them in PostgreSQL and serves the web
   * page and JSON API. The device never reads this section.
   */
  dashboard: z
    .strictObject({
      /**
       * Names this process among the dashboards sharing the load: its MQTT client ids are
       * cspine-dashboard-<instanceId>-<lane>, and two processes must not share one.
       */
      instanceId: z
        .string()
        .regex(/^[A-Za-z0-9_-]{1,40}$/, 'letters, digits, "-" and "_" only')
        .default(os.hostname().replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 40) || 'dashboard'),
      mqtt: z
        .strictObject({
          ...brokerConnection,
          /**
           * MQTT 5 shared-subscription group ($share/<group>/...): every dashboard process in the
           * group gets a share of the messages, and each message goes to one of them.
           */
          shareGroup: z.string().regex(/^[^#+/]+$/, 'no MQTT wildcards or "/"').default('cspine-dashboard'),
          /**
           * Connections per process in the group. A message is acknowledged to the broker only
           * once it is committed to PostgreSQL, and a connection takes its next message only
           * after that acknowledgement: lanes let one database commit carry many messages.
           */
          lanes: z.int().min(1).max(64).default(16),
          reconnectMs: z.int().min(10).default(1_000),
        })
        .prefault({}),
      postgres: z
        .strictObject({
          /** A libpq connection URL; the password may instead come from passwordFile (or PGPASSWORD). */
          url: z.string().regex(/^postgres(ql)?:\/\//, 'a postgres:// URL').default('postgres://postgres@127.0.0.1:5432/cspine'),
          passwordFile: z.string().optional(),
          poolSize: z.int().min(2).max(100).default(10),
          /** TLS to the database (managed PostgreSQL): CA to trust, and a client certificate if it asks. */
          tls: z
            .strictObject({
              enabled: z.boolean().default(false),
              ca: z.string().optional(),
              cert: z.string().optional(),
              key: z.string().optional(),
              rejectUnauthorized: z.boolean().default(true),
            })
            .prefault({}),
        })
        .prefault({}),
      http: z
        .strictObject({
          /** Loopback by default: put a TLS reverse proxy in front (docs/dashboard.md). */
          host: z.string().min(1).default('127.0.0.1'),
          port: z.int().min(0).max(65535).default(8080),
          /** Behind a reverse proxy: trust its X-Forwarded-* headers (client address for the login limit, https). */
          trustProxy: z.boolean().default(false),
          /** Session cookies carry Secure (sent over HTTPS only); turn off only for plain-HTTP tests on loopback. */
          secureCookies: z.boolean().default(true),
          sessionHours: z.number().gt(0).max(24 * 30).default(12),
          /** Failed logins allowed per client address per minute; more get 429. */
          loginAttemptsPerMinute: z.int().min(1).default(10),
        })
        .prefault({}),
      ingest: z
        .strictObject({
          /** Messages written to PostgreSQL in one transaction at most. */
          batchMaxRows: z.int().min(1).max(5000).default(500),
          /** A message waits at most this long for others to share its commit. */
          batchMaxDelayMs: z.int().min(0).max(1000).default(10),
        })
        .prefault({}),
      retention: z
        .strictObject({
          /** node-cron expression, or "off". */
          schedule: schedule.default('29 4 * * *'),
          resultsDays: z.int().min(1).default(365),
          eventsDays: z.int().min(1).default(365),
          healthDays: z.int().min(1).default(14),
          deadLettersDays: z.int().min(1).default(30),
        })
        .prefault({}),
      /** Fleet model updates (docs/model-updates.md#on-the-dashboard). */
      updates: z
        .strictObject({
          /** `dashboard package add` stores each package here, in a folder named by its manifest SHA-256; devices download from it. */
          dir: z.string().min(1).default('./dashboard-packages'),
          /** Public keys (`.pub`, from `cspine-edge model keygen`) a package must be signed by. Empty: every package is refused. */
          trustedKeys: z.array(z.string().min(1)).default([]),
          /** Named sets of device ids, for `dashboard rollout create --group NAME`. */
          groups: z.record(z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'letters, digits, ".", "-" and "_" only'), z.array(z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'a device id'))).default({}),
          /** Share of a rollout's devices (rounded up) that get the package first when no canaries are named; 0: no canary stage. */
          canaryPercent: z.number().min(0).max(100).default(10),
          /** Send the package to the rest once every canary reports active or confirmed; false: wait for `dashboard rollout advance`. */
          autoAdvance: z.boolean().default(true),
        })
        .prefault({}),
    })
    .prefault({}),
});

export type Config = z.infer<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
