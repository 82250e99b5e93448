/**
 * Real MQTT brokers for tests, each on its own free port: aedes in-process always, Mosquitto
 * when its binary is installed (CI requires it, so interop tests never skip silently there).
 * Both keep sessions and queued QoS 1 messages across `stop()`/`start()`, like a broker with
 * persistence: aedes by reusing its persistence object, Mosquitto by its persistence file,
 * which it writes on SIGTERM.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Aedes } from 'aedes';
import type { ExecutionContext } from 'ava';
import mqtt, { type MqttClient } from 'mqtt';
import { mosquittoPath } from '../../src/tools/services/mosquitto.js';
import { freeLoopbackPort as freePort, waitForPort } from '../../src/tools/services/ports.js';

export { freePort };

export type BrokerKind = 'aedes' | 'mosquitto';

export interface TestBroker {
  kind: BrokerKind;
  port: number;
  url: string;
  /** MQTT protocol version this broker speaks best: aedes has no MQTT 5. */
  protocolVersion: 4 | 5;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export interface BrokerOptions {
  /** Only this user/password may connect. */
  credentials?: { username: string; password: string };
  /** Mosquitto only: TLS listener requiring client certificates signed by `ca`. */
  tls?: { ca: string; cert: string; key: string };
  /** Mosquitto only: also listen on this address (the same port), e.g. a shaped link's. */
  alsoOn?: string;
}

export const mosquittoBinary = mosquittoPath;

/** The brokers to run interop tests against. In CI a missing Mosquitto is an error, not a skip. */
export function brokerKinds(): BrokerKind[] {
  if (mosquittoBinary()) return ['aedes', 'mosquitto'];
  if (process.env.CI) throw new Error('mosquitto is not installed; .ci/run must install it (apt-get install mosquitto)');
  return ['aedes'];
}

export async function startBroker(t: ExecutionContext, kind: BrokerKind, options: BrokerOptions = {}): Promise<TestBroker> {
  const broker = kind === 'aedes' ? await aedesBroker(options) : await mosquittoBroker(t, options);
  t.teardown(() => broker.stop());
  await broker.start();
  return broker;
}

async function aedesBroker(options: BrokerOptions): Promise<TestBroker> {
  if (options.tls) throw new Error('TLS tests run against Mosquitto');
  const port = await freePort();
  const { default: persistenceFactory } = (await import('aedes-persistence')) as unknown as { default: () => unknown };
  const persistence = persistenceFactory();
  let running: { server: net.Server; aedes: Aedes; sockets: Set<net.Socket> } | undefined;
  return {
    kind: 'aedes',
    port,
    url: `mqtt://127.0.0.1:${port}`,
    protocolVersion: 4,
    async start() {
      if (running) return;
      const aedes = await Aedes.createBroker({ persistence: persistence as never });
      if (options.credentials) {
        const { username, password } = options.credentials;
        aedes.authenticate = (_client, user, pass, done) => {
          const ok = user === username && pass?.toString() === password;
          done(ok ? null : Object.assign(new Error('bad credentials'), { returnCode: 4 }), ok);
        };
      }
      const sockets = new Set<net.Socket>();
      const server = net.createServer((socket) => {
        sockets.add(socket);
        socket.on('close', () => sockets.delete(socket));
        aedes.handle(socket);
      });
      await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
      running = { server, aedes, sockets };
    },
    async stop() {
      if (!running) return;
      const { server, aedes, sockets } = running;
      running = undefined;
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
    },
  };
}

async function mosquittoBroker(t: ExecutionContext, options: BrokerOptions): Promise<TestBroker> {
  const binary = mosquittoBinary();
  if (!binary) throw new Error('mosquitto is not installed');
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cspine-mosquitto-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const lines = [
    `listener ${port} 127.0.0.1`,
    ...(options.alsoOn ? [`listener ${port} ${options.alsoOn}`] : []),
    // Started as root, mosquitto would switch to user "mosquitto", which cannot write this
    // private temp folder: persistence would silently fail.
    ...(process.getuid?.() === 0 ? ['user root'] : []),
    'persistence true',
    `persistence_location ${dir}/`,
    ...(process.env.CSPINE_MOSQUITTO_LOG ? [`log_dest file ${process.env.CSPINE_MOSQUITTO_LOG}`, 'log_type all'] : ['log_dest none']),
    `allow_anonymous ${options.credentials ? 'false' : 'true'}`,
  ];
  if (options.credentials) {
    const passwords = path.join(dir, 'passwords');
    fs.writeFileSync(passwords, '');
    const made = spawnSync('mosquitto_passwd', ['-b', passwords, options.credentials.username, options.credentials.password]);
    if (made.status !== 0) throw new Error(`mosquitto_passwd failed: ${made.stderr.toString()}`);
    lines.push(`password_file ${passwords}`);
  }
  if (options.tls) {
    lines.push(`cafile ${options.tls.ca}`, `certfile ${options.tls.cert}`, `keyfile ${options.tls.key}`, 'require_certificate true');
  }
  const conf = path.join(dir, 'mosquitto.conf');
  fs.writeFileSync(conf, `${lines.join('\n')}\n`);
  let child: ChildProcess | undefined;
  return {
    kind: 'mosquitto',
    port,
    url: `${options.tls ? 'mqtts' : 'mqtt'}://127.0.0.1:${port}`,
    protocolVersion: 5,
    async start() {
      if (child) return;
      const started = spawn(binary, ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
      child = started;
      let stderr = '';
      started.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      // Generous: a CI machine running several test files starts many brokers at once.
      await waitForPort(port, 15_000).catch((error: Error) => {
        throw new Error(`${error.message}; mosquitto said: ${stderr}`);
      });
    },
    async stop() {
      if (!child) return;
      const stopping = child;
      child = undefined;
      const exited = new Promise((resolve) => stopping.once('exit', resolve));
      stopping.kill('SIGTERM'); // writes the persistence file
      await exited;
    },
  };
}

export interface Received {
  topic: string;
  payload: Record<string, unknown>;
  retain: boolean;
}

/**
 * A dashboard stand-in: a persistent-session QoS 1 subscriber that records everything under
 * `filter`, and the ids it has seen, to de-duplicate at-least-once delivery.
 */
export async function subscriber(t: ExecutionContext, broker: TestBroker, filter: string, extra: mqtt.IClientOptions = {}): Promise<{ client: MqttClient; messages: Received[]; uniqueIds: Set<string> }> {
  const messages: Received[] = [];
  const uniqueIds = new Set<string>();
  const client = await mqtt.connectAsync(broker.url, {
    clientId: `dashboard-${Math.random().toString(16).slice(2, 10)}`,
    clean: false,
    protocolVersion: broker.protocolVersion,
    ...(broker.protocolVersion === 5 ? { properties: { sessionExpiryInterval: 3600 } } : {}),
    reconnectPeriod: 100,
    ...extra,
  });
  t.teardown(() => client.endAsync(true));
  client.on('message', (topic, payload, packet) => {
    const parsed = JSON.parse(payload.toString()) as Record<string, unknown>;
    messages.push({ topic, payload: parsed, retain: packet.retain });
    if (typeof parsed.id === 'string') uniqueIds.add(parsed.id);
  });
  await client.subscribeAsync(filter, { qos: 1 });
  return { client, messages, uniqueIds };
}

/**
 * A TCP relay to a broker that can be cut and restored: the ambulance's network, as seen by
 * the device. `cut()` refuses new connections and drops open ones; the broker stays up.
 */
export async function networkLink(t: ExecutionContext, broker: TestBroker): Promise<{ url: string; cut(): Promise<void>; restore(): Promise<void> }> {
  const port = await freePort();
  const sockets = new Set<net.Socket>();
  let server: net.Server | undefined;
  const link = {
    url: `mqtt://127.0.0.1:${port}`,
    async restore() {
      if (server) return;
      server = net.createServer((inbound) => {
        const outbound = net.connect(broker.port, '127.0.0.1');
        for (const socket of [inbound, outbound]) {
          sockets.add(socket);
          socket.on('close', () => sockets.delete(socket));
          socket.on('error', () => undefined);
        }
        inbound.pipe(outbound).pipe(inbound);
        inbound.on('close', () => outbound.destroy());
        outbound.on('close', () => inbound.destroy());
      });
      await new Promise<void>((resolve) => server!.listen(port, '127.0.0.1', resolve));
    },
    async cut() {
      const closing = server;
      server = undefined;
      for (const socket of sockets) socket.destroy();
      if (closing) await new Promise<void>((resolve) => closing.close(() => resolve()));
    },
  };
  t.teardown(() => link.cut());
  return link;
}
