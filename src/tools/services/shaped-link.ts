/**
 * A bad network link for tests and benchmarks: a network namespace (where the device runs)
 * joined to this one by a veth pair, each end shaped the same way, like an ambulance on a
 * cellular link. Needs root (CAP_NET_ADMIN), iproute2 and nftables; tc's netem qdisc adds
 * latency and reordering where the kernel has it (sch_netem), which not every kernel does.
 * Addresses are 10.231.<n>.1 (this side) and .2 (the namespace), made here and nowhere else.
 */
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
/** Looked in first: under npm, PATH starts with node_modules/.bin, where `nft` is another program. */
const SYSTEM_DIRS = ['/usr/sbin', '/sbin', '/usr/bin', '/bin'];

export interface LinkShape {
  /** Share of packets dropped, each direction on its own (nftables `numgen random`). */
  lossPercent?: number;
  /** Bandwidth each way (tc tbf), like a congested cell. */
  rateKbit?: number;
  /** One-way delay with jitter, and the share of packets sent out of order: netem only. */
  delayMs?: number;
  jitterMs?: number;
  reorderPercent?: number;
}

interface Tools {
  ip: string;
  tc: string;
  nft: string;
}

function tools(): Tools | string {
  const [ip, tc, nft] = (['ip', 'tc', 'nft'] as const).map((name) => SYSTEM_DIRS.map((dir) => path.join(dir, name)).find((file) => fs.existsSync(file)));
  if (!ip || !tc) return 'iproute2 is not installed (apt-get install iproute2)';
  if (!nft) return 'nftables is not installed (apt-get install nftables)';
  return { ip, tc, nft };
}

/** Why a shaped link cannot be made here, or undefined when it can. */
export function shapedLinkUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'network namespaces need root';
  const found = tools();
  return typeof found === 'string' ? found : undefined;
}

export class ShapedLink {
  /** Whether this kernel has netem (latency, reordering); loss, rate and partitions work without. */
  readonly netem: boolean;
  private current: LinkShape = {};
  /** One nftables table per link (this side's is shared by every link on the machine). */
  private readonly table: string;
  private partitioned = false;

  private constructor(
    private readonly tools: Tools,
    readonly namespace: string,
    private readonly hostInterface: string,
    private readonly deviceInterface: string,
    /** This side's address, where the device reaches the broker and the dashboard. */
    readonly hostAddress: string,
    /** The namespace's address. */
    readonly deviceAddress: string,
    netem: boolean,
  ) {
    this.netem = netem;
    this.table = `cspine_${hostInterface}`;
  }

  /** A new namespace and veth pair, up, with nothing shaped yet. */
  static async create(): Promise<ShapedLink> {
    const found = tools();
    if (typeof found === 'string') throw new Error(found);
    const id = crypto.randomBytes(3).toString('hex');
    const subnet = 1 + (parseInt(id, 16) % 250);
    const namespace = `cspine-link-${id}`;
    const [hostInterface, deviceInterface] = [`csh${id}`, `csd${id}`];
    const [hostAddress, deviceAddress] = [`10.231.${subnet}.1`, `10.231.${subnet}.2`];
    const ip = (...args: string[]) => run(found.ip, args);
    await ip('netns', 'add', namespace);
    try {
      await ip('link', 'add', hostInterface, 'type', 'veth', 'peer', 'name', deviceInterface);
      await ip('link', 'set', deviceInterface, 'netns', namespace);
      await ip('addr', 'add', `${hostAddress}/30`, 'dev', hostInterface);
      await ip('link', 'set', hostInterface, 'up');
      await ip('-n', namespace, 'addr', 'add', `${deviceAddress}/30`, 'dev', deviceInterface);
      await ip('-n', namespace, 'link', 'set', deviceInterface, 'up');
      await ip('-n', namespace, 'link', 'set', 'lo', 'up');
      const netem = await run(found.tc, ['qdisc', 'add', 'dev', hostInterface, 'root', 'netem', 'delay', '0ms']).then(
        () => run(found.tc, ['qdisc', 'del', 'dev', hostInterface, 'root']).then(() => true),
        () => false,
      );
      const link = new ShapedLink(found, namespace, hostInterface, deviceInterface, hostAddress, deviceAddress, netem);
      await link.eachEnd(async (nft) => {
        await nft('add', 'table', 'inet', link.table);
        await nft('add', 'chain', 'inet', link.table, 'out', '{ type filter hook output priority 0; }');
      });
      return link;
    } catch (error) {
      await ip('netns', 'del', namespace).catch(() => undefined);
      await ip('link', 'del', hostInterface).catch(() => undefined);
      throw error;
    }
  }

  /** Bytes through this side's end so far, both ways: what the link really carried, retransmissions included. */
  bytesCarried(): number {
    const read = (name: string) => Number(fs.readFileSync(`/sys/class/net/${this.hostInterface}/statistics/${name}`, 'utf8'));
    return read('tx_bytes') + read('rx_bytes');
  }

  /** `command` run inside the namespace (where the device is). */
  inside(command: readonly string[]): string[] {
    return [this.tools.ip, 'netns', 'exec', this.namespace, ...command];
  }

  /** Applies `shape` to both directions, replacing the one before (a partition stays until heal). */
  async shape(shape: LinkShape): Promise<void> {
    this.current = shape;
    await this.apply();
  }

  /** Nothing gets through either way, as in a tunnel, until heal(). */
  async partition(): Promise<void> {
    this.partitioned = true;
    await this.apply();
  }

  async heal(): Promise<void> {
    this.partitioned = false;
    await this.apply();
  }

  async close(): Promise<void> {
    await run(this.tools.ip, ['netns', 'del', this.namespace]).catch(() => undefined);
    await run(this.tools.ip, ['link', 'del', this.hostInterface]).catch(() => undefined);
    await run(this.tools.nft, ['delete', 'table', 'inet', this.table]).catch(() => undefined);
  }

  private async apply(): Promise<void> {
    const { lossPercent = 0, rateKbit, delayMs = 0, jitterMs = 0, reorderPercent = 0 } = this.current;
    if (!this.netem && (delayMs > 0 || reorderPercent > 0)) throw new Error('this kernel has no netem qdisc (sch_netem): latency and reordering cannot be shaped here');
    await this.eachEnd(async (nft, device) => {
      const dev = device ? this.deviceInterface : this.hostInterface;
      await nft('flush', 'chain', 'inet', this.table, 'out');
      if (this.partitioned) await nft('add', 'rule', 'inet', this.table, 'out', 'oifname', dev, 'drop');
      else if (lossPercent > 0) await nft('add', 'rule', 'inet', this.table, 'out', 'oifname', dev, 'numgen', 'random', 'mod', '100', '<', String(Math.round(lossPercent)), 'drop');
      const tc = (...args: string[]) => run(this.tools.tc, device ? ['-n', this.namespace, ...args] : args);
      await tc('qdisc', 'del', 'dev', dev, 'root').catch(() => undefined);
      if (delayMs > 0 || reorderPercent > 0) {
        await tc('qdisc', 'add', 'dev', dev, 'root', 'handle', '1:', 'netem', 'delay', `${delayMs}ms`, `${jitterMs}ms`, ...(reorderPercent > 0 ? ['reorder', `${reorderPercent}%`] : []));
        if (rateKbit) await tc('qdisc', 'add', 'dev', dev, 'parent', '1:1', 'handle', '10:', 'tbf', 'rate', `${rateKbit}kbit`, 'burst', '32kbit', 'latency', '400ms');
      } else if (rateKbit) {
        await tc('qdisc', 'add', 'dev', dev, 'root', 'tbf', 'rate', `${rateKbit}kbit`, 'burst', '32kbit', 'latency', '400ms');
      }
    });
  }

  /** `work` once for this side and once inside the namespace, each with its own nft. */
  private async eachEnd(work: (nft: (...args: string[]) => Promise<unknown>, device: boolean) => Promise<unknown>): Promise<void> {
    await work((...args) => run(this.tools.nft, args), false);
    await work((...args) => run(this.tools.ip, ['netns', 'exec', this.namespace, this.tools.nft, ...args]), true);
  }
}
