import test from 'ava';
import { execFile } from 'node:child_process';
import dgram from 'node:dgram';
import net from 'node:net';
import { promisify } from 'node:util';
import { ShapedLink, shapedLinkUnavailable } from '../../src/tools/services/shaped-link.js';

const run = promisify(execFile);
const unavailable = shapedLinkUnavailable();
if (unavailable && process.env.CI) throw new Error(`a shaped link cannot be made in CI: ${unavailable}`);
/** Skipped (and said so) on a laptop without root; in CI a missing tool is a failure. */
const linkTest = unavailable ? test.skip : test.serial;

/** Sends `count` datagrams from inside the namespace to `address:port`, 2 ms apart. */
async function sendFromInside(link: ShapedLink, address: string, port: number, count: number): Promise<void> {
  const script = `const s=require('dgram').createSocket('udp4');let i=0;const t=setInterval(()=>{s.send(String(i),${port},'${address}');if(++i===${count}){clearInterval(t);setTimeout(()=>s.close(),50)}},2);`;
  const [command, ...args] = link.inside([process.execPath, '-e', script]);
  await run(command!, args);
}

async function receivedOf(link: ShapedLink, count: number): Promise<number> {
  const socket = dgram.createSocket('udp4');
  let received = 0;
  socket.on('message', () => received++);
  await new Promise<void>((resolve) => socket.bind(0, link.hostAddress, resolve));
  await sendFromInside(link, link.hostAddress, socket.address().port, count);
  await new Promise((resolve) => setTimeout(resolve, 200));
  socket.close();
  return received;
}

async function connects(link: ShapedLink, port: number, timeoutMs: number): Promise<boolean> {
  const script = `const s=require('net').connect(${port},'${link.hostAddress}');s.on('connect',()=>process.exit(0));setTimeout(()=>process.exit(3),${timeoutMs});`;
  const [command, ...args] = link.inside([process.execPath, '-e', script]);
  return run(command!, args).then(
    () => true,
    () => false,
  );
}

linkTest(`${unavailable ? `(${unavailable}) ` : ''}the namespace reaches this side over the veth; loss drops about that share; a partition stops everything until healed`, async (t) => {
  const link = await ShapedLink.create();
  t.teardown(() => link.close());
  t.is(await receivedOf(link, 300), 300, 'an unshaped link loses nothing');

  await link.shape({ lossPercent: 30 });
  const received = await receivedOf(link, 600);
  t.true(received > 600 * 0.6 && received < 600 * 0.8, `30% loss one way: ${received} of 600 arrived`);

  // destroy, not end: a half-closed socket waits for the peer's FIN, which never comes once
  // teardown removes the namespace, and keeps this worker alive.
  const server = net.createServer((socket) => socket.destroy());
  await new Promise<void>((resolve) => server.listen(0, link.hostAddress, resolve));
  t.teardown(() => server.close());
  const { port } = server.address() as net.AddressInfo;
  await link.partition();
  t.false(await connects(link, port, 1500), 'no connection through a partition');
  await link.heal();
  t.true(await connects(link, port, 5000), 'healed: the same link carries a connection again (through 30% loss)');
  await link.shape({});
  t.is(await receivedOf(link, 200), 200, 'unshaped again');
});
