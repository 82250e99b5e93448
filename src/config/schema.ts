import os from 'node:os';
import { z } from 'zod';

const probability = z.number().min(0).max(1);

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
    })
    .prefault({}),
  imaging: z
    .strictObject({
      /** Checked from the header before any pixel is decoded: stops decompression bombs. */
      maxPixels: z.int().min(1).default(64_000_000),
    })
    .prefault({}),
  model: z
    .strictObject({
      dir: z.string().min(1).default('./models'),
      id: z.string().min(1).default('cspine-alexnet-demo'),
      /** ONNX Runtime intra-op threads; 0 means one per CPU core. */
      threads: z.int().min(0).default(0),
      /** While no model loads (FAULT), try again this often; images wait in the capture folder. */
      retryIntervalMs: z.int().min(100).default(30_000),
    })
    .prefault({}),
  triage: z
    .strictObject({
      /** Overrides the model manifest's threshold; built-in default 0.90. */
      greenMinNormal: probability.optional(),
      /** Overrides the model manifest's threshold; built-in default 0.60. */
      redMinAbnormal: probability.optional(),
    })
    .prefault({}),
  store: z
    .strictObject({
      path: z.string().min(1).default('./data/cspine.db'),
    })
    .prefault({}),
  indicators: z
    .strictObject({
      backend: z.enum(['simulated']).default('simulated'),
      /** Draw the simulated lamps on stderr when it is a terminal. */
      render: z.boolean().default(true),
    })
    .prefault({}),
  sync: z
    .strictObject({
      mqtt: z
        .strictObject({
          enabled: z.boolean().default(false),
          url: z.string().default('mqtt://127.0.0.1:1883'),
          topicPrefix: z.string().default('cspine'),
          username: z.string().optional(),
          password: z.string().optional(),
        })
        .prefault({}),
    })
    .prefault({}),
});

export type Config = z.infer<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
