import crypto from 'node:crypto';
import { promisify } from 'node:util';
import type pg from 'pg';
import { CspineError, ErrorCode } from '../../errors.js';

export const ROLES = ['viewer', 'clinician', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && (ROLES as readonly string[]).includes(value);
}

/** Roles that may acknowledge a RED result. */
export function mayAcknowledge(role: Role): boolean {
  return role === 'clinician' || role === 'admin';
}

/** Roles that may start, advance, halt and roll back model rollouts. */
export function mayManageUpdates(role: Role): boolean {
  return role === 'admin';
}

export const MIN_PASSWORD_LENGTH = 10;
const USER_NAME = /^[A-Za-z0-9._@-]{1,64}$/;

const scrypt = promisify(crypto.scrypt) as (password: string, salt: Buffer, keyLength: number, options: crypto.ScryptOptions) => Promise<Buffer>;

/**
 * scrypt at N=2^15, r=8, p=1 (32 MiB, ~0.1 s): the cost OWASP recommends for interactive
 * logins. The parameters travel with each hash, so raising them later leaves old hashes valid.
 */
const SCRYPT_COST = { N: 2 ** 15, r: 8, p: 1 };
const SALT_BYTES = 16;
const KEY_BYTES = 32;
/** Bounds on what a stored hash may ask for, so that a tampered row cannot exhaust memory. */
const MAX_SCRYPT_N = 2 ** 20;
const MAX_SCRYPT_RP = 64;

function scryptMemory(N: number, r: number): number {
  return 128 * N * r * 2;
}

/** `scrypt$N$r$p$salt$hash`, salt and hash in base64. */
export async function hashPassword(password: string): Promise<string> {
  const { N, r, p } = SCRYPT_COST;
  const salt = crypto.randomBytes(SALT_BYTES);
  const key = await scrypt(password, salt, KEY_BYTES, { N, r, p, maxmem: scryptMemory(N, r) });
  return ['scrypt', N, r, p, salt.toString('base64'), key.toString('base64')].join('$');
}

/** Compares in constant time; a malformed stored hash verifies nothing. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [scheme, n, r, p, salt, hash] = stored.split('$');
  const N = Number(n);
  const R = Number(r);
  const P = Number(p);
  if (scheme !== 'scrypt' || salt === undefined || hash === undefined) return false;
  if (!Number.isInteger(Math.log2(N)) || N < 2 || N > MAX_SCRYPT_N || !(R >= 1 && R <= MAX_SCRYPT_RP) || !(P >= 1 && P <= MAX_SCRYPT_RP)) return false;
  const expected = Buffer.from(hash, 'base64');
  if (expected.length === 0) return false;
  const key = await scrypt(password, Buffer.from(salt, 'base64'), expected.length, { N, r: R, p: P, maxmem: scryptMemory(N, R) });
  return crypto.timingSafeEqual(key, expected);
}

function sha256Hex(text: string): string {
  return crypto.createHash('sha256').update(text).digest('hex');
}

export interface UserSummary {
  name: string;
  role: Role;
  createdAt: string;
  disabledAt: string | null;
}

/** A signed-in user as a request sees it. */
export interface SessionUser {
  user: string;
  role: Role;
  csrfToken: string;
  expiresAt: string;
}

/** What login hands the browser: the token goes into the cookie and nowhere else. */
export interface OpenedSession extends SessionUser {
  token: string;
}

function userInvalid(message: string): CspineError {
  return new CspineError(ErrorCode.DASHBOARD_USER_INVALID, message);
}

function checkName(name: string): void {
  if (!USER_NAME.test(name)) throw userInvalid(`user name "${name}" must be 1 to 64 letters, digits, ".", "_", "@" or "-"`);
}

function checkPassword(password: string): void {
  if (password.length < MIN_PASSWORD_LENGTH) throw userInvalid(`a password needs at least ${MIN_PASSWORD_LENGTH} characters`);
}

/**
 * The dashboard's users and their sessions. Only the sha256 of a session token is stored, so a
 * copy of the database opens no session.
 */
export class Accounts {
  /**
   * Verified against when the user does not exist, so that a wrong name costs the same time as
   * a wrong password: same parameters as a real hash, random bytes that no password gives.
   */
  private readonly decoyHash = ['scrypt', SCRYPT_COST.N, SCRYPT_COST.r, SCRYPT_COST.p, crypto.randomBytes(SALT_BYTES).toString('base64'), crypto.randomBytes(KEY_BYTES).toString('base64')].join('$');

  constructor(
    private readonly database: { readonly pool: pg.Pool },
    private readonly sessionHours: number,
  ) {}

  async addUser(name: string, role: Role, password: string): Promise<void> {
    checkName(name);
    checkPassword(password);
    const hash = await hashPassword(password);
    const { rowCount } = await this.database.pool.query('INSERT INTO users (name, password_hash, role) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING', [name, hash, role]);
    if (rowCount === 0) throw userInvalid(`user "${name}" already exists (to change a password: dashboard user password ${name})`);
  }

  async listUsers(): Promise<UserSummary[]> {
    const { rows } = await this.database.pool.query<{ name: string; role: Role; created_at: Date; disabled_at: Date | null }>(
      'SELECT name, role, created_at, disabled_at FROM users ORDER BY name',
    );
    return rows.map((row) => ({ name: row.name, role: row.role, createdAt: row.created_at.toISOString(), disabledAt: row.disabled_at?.toISOString() ?? null }));
  }

  /** Signs the user out everywhere and refuses later logins; the user's acknowledgements stay. */
  async disableUser(name: string): Promise<void> {
    const { rowCount } = await this.database.pool.query('UPDATE users SET disabled_at = coalesce(disabled_at, now()) WHERE name = $1', [name]);
    if (rowCount === 0) throw userInvalid(`no user "${name}"`);
    await this.database.pool.query('DELETE FROM sessions WHERE user_name = $1', [name]);
  }

  /** Also signs the user out everywhere: whoever knew the old password loses the session too. */
  async setPassword(name: string, password: string): Promise<void> {
    checkPassword(password);
    const hash = await hashPassword(password);
    const { rowCount } = await this.database.pool.query('UPDATE users SET password_hash = $2 WHERE name = $1', [name, hash]);
    if (rowCount === 0) throw userInvalid(`no user "${name}"`);
    await this.database.pool.query('DELETE FROM sessions WHERE user_name = $1', [name]);
  }

  /** The user's role when name and password match an enabled user; undefined otherwise, whichever part was wrong. */
  async authenticate(name: string, password: string): Promise<Role | undefined> {
    const { rows } = await this.database.pool.query<{ password_hash: string; role: Role; disabled_at: Date | null }>(
      'SELECT password_hash, role, disabled_at FROM users WHERE name = $1',
      [name],
    );
    const user = rows[0];
    const matches = await verifyPassword(password, user?.password_hash ?? this.decoyHash);
    return user && matches && user.disabled_at === null ? user.role : undefined;
  }

  async openSession(name: string, role: Role): Promise<OpenedSession> {
    const token = crypto.randomBytes(32).toString('base64url');
    const csrfToken = crypto.randomBytes(32).toString('base64url');
    // Logins are rare: a good moment to sweep sessions nobody will use again.
    await this.database.pool.query('DELETE FROM sessions WHERE expires_at <= now()');
    const { rows } = await this.database.pool.query<{ expires_at: Date }>(
      `INSERT INTO sessions (token_hash, user_name, csrf_token, expires_at)
       VALUES ($1, $2, $3, now() + make_interval(secs => $4)) RETURNING expires_at`,
      [sha256Hex(token), name, csrfToken, this.sessionHours * 3600],
    );
    return { token, user: name, role, csrfToken, expiresAt: rows[0]!.expires_at.toISOString() };
  }

  /** The session's user, or undefined when the token is unknown, expired or its user disabled. */
  async session(token: string): Promise<SessionUser | undefined> {
    const { rows } = await this.database.pool.query<{ user_name: string; role: Role; csrf_token: string; expires_at: Date }>(
      `SELECT s.user_name, u.role, s.csrf_token, s.expires_at
         FROM sessions s JOIN users u ON u.name = s.user_name
        WHERE s.token_hash = $1 AND s.expires_at > now() AND u.disabled_at IS NULL`,
      [sha256Hex(token)],
    );
    const row = rows[0];
    return row && { user: row.user_name, role: row.role, csrfToken: row.csrf_token, expiresAt: row.expires_at.toISOString() };
  }

  async closeSession(token: string): Promise<void> {
    await this.database.pool.query('DELETE FROM sessions WHERE token_hash = $1', [sha256Hex(token)]);
  }
}
