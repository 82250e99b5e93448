/**
 * Users and sessions in a real PostgreSQL: scrypt hashes, roles, disabling, password changes,
 * session expiry; and the `dashboard user` command, run as a process with the password on stdin.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { Accounts, hashPassword, verifyPassword } from '../../src/dashboard/database/accounts.js';
import { DashboardDatabase } from '../../src/dashboard/database/database.js';
import { CspineError, ErrorCode } from '../../src/errors.js';
import { configSchema } from '../../src/config/schema.js';
import { createLogger } from '../../src/logger.js';
import { TemporaryPostgres } from '../../src/tools/services/postgres.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const PASSWORD = 'correct horse battery';
let postgres: TemporaryPostgres;
let database: DashboardDatabase;
let accounts: Accounts;

test.before(async () => {
  postgres = await TemporaryPostgres.create();
  database = new DashboardDatabase(configSchema.parse({ dashboard: { postgres: { url: postgres.url() } } }).dashboard.postgres, createLogger('silent'));
  await database.start();
  accounts = new Accounts(database, 12);
});

test.after.always(async () => {
  await database?.stop();
  await postgres?.destroy();
});

function userError(t: import('ava').ExecutionContext, error: unknown, message: RegExp): void {
  t.true(error instanceof CspineError);
  t.is((error as CspineError).code, ErrorCode.DASHBOARD_USER_INVALID);
  t.regex((error as Error).message, message);
}

test('password hashes are scrypt with their parameters and a per-hash salt, and verify only the password', async (t) => {
  const [first, second] = await Promise.all([hashPassword(PASSWORD), hashPassword(PASSWORD)]);
  t.regex(first, /^scrypt\$32768\$8\$1\$[A-Za-z0-9+/]{22}==\$[A-Za-z0-9+/]{43}=$/);
  t.not(first, second, 'a fresh salt each time');
  t.true(await verifyPassword(PASSWORD, first));
  t.false(await verifyPassword(`${PASSWORD}!`, first));
  t.false(await verifyPassword(PASSWORD, 'plain text'));
  t.false(await verifyPassword(PASSWORD, first.replace('$32768$', '$1073741824$')), 'absurd parameters are refused, not computed');
});

test('users are added with a role; a duplicate, a short password or a bad name is E_DASHBOARD_USER_INVALID', async (t) => {
  await accounts.addUser('nora', 'clinician', PASSWORD);
  t.like((await accounts.listUsers()).find((user) => user.name === 'nora'), { role: 'clinician', disabledAt: null });
  t.is(await accounts.authenticate('nora', PASSWORD), 'clinician');
  t.is(await accounts.authenticate('nora', 'wrong password'), undefined);
  t.is(await accounts.authenticate('nobody-at-all', PASSWORD), undefined);
  userError(t, await t.throwsAsync(accounts.addUser('nora', 'viewer', PASSWORD)), /already exists/);
  userError(t, await t.throwsAsync(accounts.addUser('short', 'viewer', '123456789')), /at least 10 characters/);
  userError(t, await t.throwsAsync(accounts.addUser('bad name', 'viewer', PASSWORD)), /user name/);
  const { rows } = await database.pool.query<{ password_hash: string }>("SELECT password_hash FROM users WHERE name = 'nora'");
  t.false(rows[0]!.password_hash.includes(PASSWORD));
});

test('sessions: the token opens it, only its hash is stored, closing and expiry end it', async (t) => {
  await accounts.addUser('otto', 'viewer', PASSWORD);
  const opened = await accounts.openSession('otto', 'viewer');
  t.regex(opened.token, /^[A-Za-z0-9_-]{43}$/);
  t.like(await accounts.session(opened.token), { user: 'otto', role: 'viewer', csrfToken: opened.csrfToken });
  const hours = (new Date(opened.expiresAt).getTime() - Date.now()) / 3_600_000;
  t.true(hours > 11.9 && hours <= 12, `expires in ${hours} h`);
  t.is((await database.pool.query('SELECT 1 FROM sessions WHERE token_hash = $1', [opened.token])).rowCount, 0);

  await accounts.closeSession(opened.token);
  t.is(await accounts.session(opened.token), undefined);

  const expiring = await accounts.openSession('otto', 'viewer');
  await database.pool.query("UPDATE sessions SET expires_at = now() - interval '1 second' WHERE user_name = 'otto'");
  t.is(await accounts.session(expiring.token), undefined);
  await accounts.openSession('otto', 'viewer');
  const { rows } = await database.pool.query<{ n: string }>("SELECT count(*) AS n FROM sessions WHERE user_name = 'otto' AND expires_at <= now()");
  t.is(rows[0]!.n, '0', 'a login sweeps expired sessions away');
});

test('disabling a user closes their sessions and refuses logins; a new password closes sessions too', async (t) => {
  await accounts.addUser('paula', 'admin', PASSWORD);
  const session = await accounts.openSession('paula', 'admin');
  await accounts.setPassword('paula', 'another long password');
  t.is(await accounts.session(session.token), undefined);
  t.is(await accounts.authenticate('paula', PASSWORD), undefined);
  t.is(await accounts.authenticate('paula', 'another long password'), 'admin');

  const again = await accounts.openSession('paula', 'admin');
  await accounts.disableUser('paula');
  t.is(await accounts.session(again.token), undefined);
  t.is(await accounts.authenticate('paula', 'another long password'), undefined);
  t.truthy((await accounts.listUsers()).find((user) => user.name === 'paula')?.disabledAt);
  userError(t, await t.throwsAsync(accounts.disableUser('nobody')), /no user "nobody"/);
  userError(t, await t.throwsAsync(accounts.setPassword('paula', 'short')), /at least 10/);
});

/** `cspine-edge dashboard user …` as the CLI runs it, the password on stdin. */
function userCommand(args: string[], configFile: string, stdin = ''): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const script = `import { dashboardUser } from './src/commands/dashboard-user.ts';
    try { process.exitCode = await dashboardUser.run(process.argv.slice(1)); }
    catch (error) { process.stderr.write(String(error.code ?? '') + ' ' + error.message + '\\n'); process.exitCode = 1; }`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '--eval', script, ...args, '--config', configFile], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
  child.stdin.end(stdin);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

test('the dashboard user command adds, lists, changes passwords and disables, reading passwords from stdin', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cspine-users-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const configFile = path.join(dir, 'dashboard.yaml');
  fs.writeFileSync(configFile, `dashboard:\n  postgres:\n    url: ${postgres.url()}\n`);

  const added = await userCommand(['add', 'quinn', '--role', 'clinician', '--password-stdin'], configFile, `${PASSWORD}\n`);
  t.is(added.code, 0, added.stderr);
  t.regex(added.stdout, /user quinn added as clinician/);
  t.is(await accounts.authenticate('quinn', PASSWORD), 'clinician');

  const short = await userCommand(['add', 'rita', '--role', 'viewer', '--password-stdin'], configFile, 'too short\n');
  t.is(short.code, 1);
  t.regex(short.stderr, /E_DASHBOARD_USER_INVALID a password needs at least 10 characters/);

  const noRole = await userCommand(['add', 'rita', '--password-stdin'], configFile, `${PASSWORD}\n`);
  t.not(noRole.code, 0);
  t.regex(noRole.stderr, /--role must be one of viewer, clinician, admin/);

  const changed = await userCommand(['password', 'quinn', '--password-stdin'], configFile, 'a brand new passphrase\r\n');
  t.is(changed.code, 0, changed.stderr);
  t.is(await accounts.authenticate('quinn', 'a brand new passphrase'), 'clinician');

  const disabled = await userCommand(['disable', 'quinn'], configFile);
  t.is(disabled.code, 0, disabled.stderr);
  const listed = await userCommand(['list'], configFile);
  t.regex(listed.stdout, /^user\s+role\s+created \(UTC\)\s+state$/m);
  t.regex(listed.stdout, /^quinn\s+clinician\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\s+disabled \d{4}-\d\d-\d\d$/m);
  t.false(listed.stdout.includes(PASSWORD));
});
