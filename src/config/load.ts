import fs from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { ConfigError, ErrorCode } from '../errors.js';
import { configSchema, type Config } from './schema.js';

export const ENV_PREFIX = 'CSPINE_';
/** Not a setting: names the config file, like `--config`. */
export const CONFIG_FILE_ENV = 'CSPINE_CONFIG';

type Tree = Record<string, unknown>;

export interface LoadConfigOptions {
  /** Path of a YAML or JSON file; `CSPINE_CONFIG` is used when absent. */
  file?: string | undefined;
  env?: NodeJS.ProcessEnv;
}

/**
 * Embedded defaults, then the optional file, then `CSPINE_*` environment variables
 * (`CSPINE_CAPTURE__STABLE_WINDOW_MS=500` sets capture.stableWindowMs). Throws one
 * ConfigError listing every problem by its path.
 */
export function loadConfig(options: LoadConfigOptions = {}): Config {
  const env = options.env ?? process.env;
  const file = options.file ?? env[CONFIG_FILE_ENV];
  const merged = moveRenamedKeys(mergeDeep(file ? readConfigFile(file) : {}, environmentOverrides(env)));
  const parsed = configSchema.safeParse(merged);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((issue) => {
    const where = issue.path.length > 0 ? issue.path.join('.') : '(top level)';
    return `${where}: ${issue.message}`;
  });
  throw new ConfigError(
    ErrorCode.CONFIG_INVALID,
    `invalid configuration${file ? ` (file ${file} and CSPINE_* environment)` : ' (CSPINE_* environment)'}:\n  ${problems.join('\n  ')}`,
    problems,
  );
}

function readConfigFile(file: string): Tree {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(ErrorCode.CONFIG_FILE_UNREADABLE, `cannot read config file ${file}: ${(error as Error).message}`, [], {
      cause: error,
    });
  }
  let value: unknown;
  try {
    value = parseYaml(text);
  } catch (error) {
    throw new ConfigError(ErrorCode.CONFIG_INVALID, `config file ${file} is not valid YAML/JSON: ${(error as Error).message}`, [
      `(file): ${(error as Error).message}`,
    ]);
  }
  if (value === null || value === undefined) return {};
  if (!isTree(value)) {
    throw new ConfigError(ErrorCode.CONFIG_INVALID, `config file ${file} must hold a mapping of settings`, ['(top level): expected a mapping']);
  }
  return value;
}

/** Settings that moved, old path → new path: old config files keep working, with a warning. */
const RENAMED_KEYS: Array<[from: string[], to: string[]]> = [[['sync', 'siteSecretFile'], ['privacy', 'siteSecretFile']]];

function moveRenamedKeys(tree: Tree): Tree {
  for (const [from, to] of RENAMED_KEYS) {
    const parent = from.slice(0, -1).reduce<unknown>((node, key) => (isTree(node) ? node[key] : undefined), tree);
    const key = from[from.length - 1]!;
    if (!isTree(parent) || !(key in parent)) continue;
    const value = parent[key];
    delete parent[key];
    const target = to.slice(0, -1).reduce<Tree>((node, step) => (isTree(node[step]) ? (node[step] as Tree) : (node[step] = {})), tree);
    target[to[to.length - 1]!] ??= value;
    process.emitWarning(`${from.join('.')} is now ${to.join('.')}; please rename it in your configuration`, { code: 'CSPINE_CONFIG_RENAMED' });
  }
  return tree;
}

/** `CSPINE_A_B__C_D=v` → `{aB: {cD: v}}`; values are JSON when they parse as JSON, text otherwise. */
export function environmentOverrides(env: NodeJS.ProcessEnv): Tree {
  const tree: Tree = {};
  for (const [name, raw] of Object.entries(env)) {
    if (!name.startsWith(ENV_PREFIX) || name === CONFIG_FILE_ENV || raw === undefined) continue;
    const path = name
      .slice(ENV_PREFIX.length)
      .split('__')
      .map((part) => part.toLowerCase().replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase()));
    let node = tree;
    for (const key of path.slice(0, -1)) {
      const next = node[key];
      node = isTree(next) ? next : (node[key] = {});
    }
    node[path[path.length - 1]!] = parseScalar(raw);
  }
  return tree;
}

function parseScalar(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

function mergeDeep(base: Tree, override: Tree): Tree {
  const out: Tree = { ...base };
  for (const [key, value] of Object.entries(override)) {
    const current = out[key];
    out[key] = isTree(current) && isTree(value) ? mergeDeep(current, value) : value;
  }
  return out;
}

function isTree(value: unknown): value is Tree {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const SECRET_KEY = /(password|secret|token|apikey|privatekey)$/i;

/** The effective config with secrets replaced, for `cspine-edge config` and start-up logs. */
export function maskSecrets(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(maskSecrets);
  if (!isTree(value)) return value;
  return Object.fromEntries(
    Object.entries(value).map(([key, child]) => [key, SECRET_KEY.test(key) && child !== undefined ? '********' : maskSecrets(child)]),
  );
}
