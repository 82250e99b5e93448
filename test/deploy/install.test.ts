/**
 * deploy/install.sh with --root: the installer's own logic (verification, the release switch,
 * what an upgrade keeps, uninstall) against a bundle-shaped tarball, real tar, sha256sum,
 * useradd and systemctl --root. The real bundle under a real systemd is scripts/arm64/proof.ts.
 */
import { execFile, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { tempDir } from '../helpers/fixtures.js';

const INSTALLER = path.resolve('deploy/install.sh');
const isRoot = process.getuid?.() === 0;
const rootTest = isRoot ? test.serial : test.serial.skip;

interface Run {
  code: number;
  output: string;
}

function install(args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile('sh', [INSTALLER, ...args], (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, output: stdout + stderr }));
  });
}

/** A tarball shaped like `npm run bundle`'s: one top folder, BUNDLE.json, SHA256SUMS over every other file. */
function makeBundle(dir: string, version: string, options: { tamper?: boolean } = {}): string {
  const name = `cspine-edge-${version}-linux-x64`;
  const top = path.join(dir, 'src', name);
  const files: Record<string, string> = {
    'dist/cli.js': `console.log('cspine-edge ${version}');\n`,
    'package.json': JSON.stringify({ name: 'cspine-edge', version }),
    'deploy/cspine-edge.service': fs.readFileSync('deploy/cspine-edge.service', 'utf8'),
    'deploy/99-cspine-gpio.rules': fs.readFileSync('deploy/99-cspine-gpio.rules', 'utf8'),
    'deploy/cspine-edge.example.yaml': fs.readFileSync('deploy/cspine-edge.example.yaml', 'utf8'),
    'BUNDLE.json': JSON.stringify({ name: 'cspine-edge', version, arch: 'x64', platform: 'linux', nodeAbi: process.versions.modules }, null, 2),
  };
  for (const [file, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(top, file)), { recursive: true });
    fs.writeFileSync(path.join(top, file), text);
  }
  const sums = Object.entries(files).map(([file, text]) => `${crypto.createHash('sha256').update(text).digest('hex')}  ${file}\n`);
  fs.writeFileSync(path.join(top, 'SHA256SUMS'), sums.join(''));
  if (options.tamper) fs.appendFileSync(path.join(top, 'dist/cli.js'), '// altered\n');
  const tarball = path.join(dir, `${name}${options.tamper ? '-tampered' : ''}.tar.gz`);
  tar(tarball, top);
  return tarball;
}

function tar(tarball: string, top: string): void {
  const { status, stderr } = spawnSync('tar', ['-czf', tarball, '-C', path.dirname(top), path.basename(top)]);
  if (status !== 0) throw new Error(`tar ${tarball}: ${stderr}`);
}

/** An image root with the account files useradd --root edits. */
function imageRoot(t: ExecutionContext): string {
  const root = tempDir(t, 'cspine-install-');
  fs.mkdirSync(path.join(root, 'etc'), { recursive: true });
  fs.mkdirSync(path.join(root, 'run'), { recursive: true });
  fs.writeFileSync(path.join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  fs.writeFileSync(path.join(root, 'etc/group'), 'root:x:0:\nvideo:x:44:\n');
  fs.writeFileSync(path.join(root, 'etc/shadow'), 'root:*:19000:0:99999:7:::\n', { mode: 0o640 });
  fs.writeFileSync(path.join(root, 'etc/gshadow'), 'root:*::\nvideo:*::\n', { mode: 0o640 });
  return root;
}

const at = (root: string, file: string) => path.join(root, file);
const accountLine = (root: string, file: string, name: string) => fs.readFileSync(at(root, `etc/${file}`), 'utf8').split('\n').find((line) => line.startsWith(`${name}:`));

rootTest('installs a bundle into an image: release, node link, account, settings, unit and udev rule', async (t) => {
  const dir = tempDir(t);
  const root = imageRoot(t);
  const result = await install([makeBundle(dir, '1.0.0'), '--root', root]);
  t.is(result.code, 0, result.output);
  t.is(fs.readlinkSync(at(root, 'opt/cspine-edge/current')), 'releases/cspine-edge-1.0.0-linux-x64');
  t.is(fs.readFileSync(at(root, 'opt/cspine-edge/current/dist/cli.js'), 'utf8'), "console.log('cspine-edge 1.0.0');\n");
  t.is(fs.realpathSync(fs.readlinkSync(at(root, 'opt/cspine-edge/bin/node'))), fs.realpathSync(process.execPath), 'no bundled node: the system node with the same ABI');
  const passwd = accountLine(root, 'passwd', 'cspine');
  t.truthy(passwd, 'system user made in the image');
  t.regex(passwd!, /:\/var\/lib\/cspine-edge:\/usr\/sbin\/nologin$/);
  t.regex(accountLine(root, 'group', 'gpio')!, /cspine/);
  t.regex(accountLine(root, 'group', 'video')!, /cspine/);
  const uid = Number(passwd!.split(':')[2]);
  t.is(fs.statSync(at(root, 'var/lib/cspine-edge')).uid, uid, 'the data folder is the service user’s');
  t.is(fs.statSync(at(root, 'etc/cspine-edge/cspine-edge.yaml')).mode & 0o777, 0o640);
  t.is(fs.readFileSync(at(root, 'etc/cspine-edge/cspine-edge.yaml'), 'utf8'), fs.readFileSync('deploy/cspine-edge.example.yaml', 'utf8'));
  t.is(fs.readFileSync(at(root, 'etc/systemd/system/cspine-edge.service'), 'utf8'), fs.readFileSync('deploy/cspine-edge.service', 'utf8'));
  t.true(fs.existsSync(at(root, 'etc/udev/rules.d/99-cspine-gpio.rules')));
  t.is(fs.readlinkSync(at(root, 'etc/systemd/system/multi-user.target.wants/cspine-edge.service')), '/etc/systemd/system/cspine-edge.service', 'enabled in the image');
  t.regex(result.output, /not started/);
  t.deepEqual(fs.readdirSync(at(root, 'opt/cspine-edge/releases')), ['cspine-edge-1.0.0-linux-x64'], 'no staging folder left behind');
});

rootTest('again and on upgrade: settings and data kept, one previous release kept, older ones removed', async (t) => {
  const dir = tempDir(t);
  const root = imageRoot(t);
  const first = makeBundle(dir, '1.0.0');
  t.is((await install([first, '--root', root])).code, 0);
  fs.writeFileSync(at(root, 'etc/cspine-edge/cspine-edge.yaml'), 'deviceId: ambulance-7\n');
  fs.writeFileSync(at(root, 'var/lib/cspine-edge/cspine.db'), 'history');
  const account = accountLine(root, 'passwd', 'cspine');

  const again = await install([first, '--root', root]);
  t.is(again.code, 0, again.output);
  t.regex(again.output, /already unpacked and identical/);
  t.regex(again.output, /kept \/etc\/cspine-edge\/cspine-edge.yaml/);

  t.is((await install([makeBundle(dir, '1.1.0'), '--root', root])).code, 0);
  t.is((await install([makeBundle(dir, '1.2.0'), '--root', root])).code, 0);
  t.is(fs.readlinkSync(at(root, 'opt/cspine-edge/current')), 'releases/cspine-edge-1.2.0-linux-x64');
  t.deepEqual(fs.readdirSync(at(root, 'opt/cspine-edge/releases')).sort(), ['cspine-edge-1.1.0-linux-x64', 'cspine-edge-1.2.0-linux-x64']);
  t.is(fs.readFileSync(at(root, 'etc/cspine-edge/cspine-edge.yaml'), 'utf8'), 'deviceId: ambulance-7\n');
  t.is(fs.readFileSync(at(root, 'var/lib/cspine-edge/cspine.db'), 'utf8'), 'history');
  t.is(accountLine(root, 'passwd', 'cspine'), account, 'the same account, not a second one');
});

rootTest('refuses a damaged bundle and anything that is not one, naming it, and changes nothing', async (t) => {
  const dir = tempDir(t);
  const root = imageRoot(t);
  t.is((await install([makeBundle(dir, '1.0.0'), '--root', root])).code, 0);

  const tampered = makeBundle(dir, '2.0.0', { tamper: true });
  const refused = await install([tampered, '--root', root]);
  t.is(refused.code, 1);
  t.regex(refused.output, new RegExp(`${path.basename(tampered)}: files differ from its SHA256SUMS`));
  t.regex(refused.output, /dist\/cli.js: FAILED/);
  t.is(fs.readlinkSync(at(root, 'opt/cspine-edge/current')), 'releases/cspine-edge-1.0.0-linux-x64');
  t.deepEqual(fs.readdirSync(at(root, 'opt/cspine-edge/releases')), ['cspine-edge-1.0.0-linux-x64']);

  const notBundle = path.join(dir, 'photos.tar.gz');
  fs.mkdirSync(path.join(dir, 'photos'));
  fs.writeFileSync(path.join(dir, 'photos/a.jpg'), 'x');
  tar(notBundle, path.join(dir, 'photos'));
  const wrong = await install([notBundle, '--root', root]);
  t.is(wrong.code, 1);
  t.regex(wrong.output, /photos.tar.gz: not a cspine-edge bundle/);

  const truncated = path.join(dir, 'truncated.tar.gz');
  fs.writeFileSync(truncated, fs.readFileSync(makeBundle(dir, '3.0.0')).subarray(0, 200));
  const partial = await install([truncated, '--root', root]);
  t.is(partial.code, 1);
  t.regex(partial.output, /truncated.tar.gz: not a readable .tar.gz/);

  const missing = await install([path.join(dir, 'nowhere.tar.gz'), '--root', root]);
  t.is(missing.code, 1);
  t.regex(missing.output, /nowhere.tar.gz: no such bundle/);
});

rootTest('uninstall keeps settings and data; --purge removes them and the account', async (t) => {
  const dir = tempDir(t);
  const root = imageRoot(t);
  t.is((await install([makeBundle(dir, '1.0.0'), '--root', root])).code, 0);
  fs.writeFileSync(at(root, 'var/lib/cspine-edge/cspine.db'), 'history');

  const removed = await install(['--uninstall', '--root', root]);
  t.is(removed.code, 0, removed.output);
  t.false(fs.existsSync(at(root, 'opt/cspine-edge')));
  t.false(fs.existsSync(at(root, 'etc/systemd/system/cspine-edge.service')));
  t.throws(() => fs.lstatSync(at(root, 'etc/systemd/system/multi-user.target.wants/cspine-edge.service')), { code: 'ENOENT' }, 'disabled');
  t.false(fs.existsSync(at(root, 'etc/udev/rules.d/99-cspine-gpio.rules')));
  t.true(fs.existsSync(at(root, 'etc/cspine-edge/cspine-edge.yaml')));
  t.is(fs.readFileSync(at(root, 'var/lib/cspine-edge/cspine.db'), 'utf8'), 'history');

  const purged = await install(['--uninstall', '--purge', '--root', root]);
  t.is(purged.code, 0, purged.output);
  t.false(fs.existsSync(at(root, 'etc/cspine-edge')));
  t.false(fs.existsSync(at(root, 'var/lib/cspine-edge')));
  t.is(accountLine(root, 'passwd', 'cspine'), undefined);
});

test('the unit is sandboxed: systemd-analyze security scores it 2.5 or better', async (t) => {
  const analyze = await new Promise<Run>((resolve) =>
    execFile('systemd-analyze', ['security', '--offline=true', '--root=/', 'deploy/cspine-edge.service'], (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, output: stdout + stderr })),
  );
  if (/ENOENT|not found/.test(analyze.output) && analyze.code !== 0) return t.fail('systemd-analyze missing (apt-get install systemd)');
  const score = /Overall exposure level for cspine-edge.service: ([\d.]+)/.exec(analyze.output);
  t.truthy(score, analyze.output);
  t.log(`exposure ${score![1]}`);
  t.true(Number(score![1]) <= 2.5, analyze.output.split('\n').filter((line) => line.includes('✗')).join('\n'));
});
