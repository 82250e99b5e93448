import { parseArgs, type ParseArgsConfig } from 'node:util';
import { loadConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';

/** A command line that cannot run: exit 64 with the message and the usage of the command it was for. */
export class UsageError extends Error {
  constructor(
    message: string,
    /** The command's own usage; the overall one when absent. */
    readonly usage?: string,
  ) {
    super(message);
    this.name = 'UsageError';
  }
}

/** One subcommand: parses its own arguments (after its name) and returns the exit status. */
export interface Command {
  readonly usage: string;
  run(argv: string[]): Promise<number>;
}

type OptionSpecs = NonNullable<ParseArgsConfig['options']>;

const HELP_OPTION = { help: { type: 'boolean', short: 'h', default: false } } as const;

/** For the commands that load the configuration; read it with {@link commandConfig}. */
export const CONFIG_OPTION = { config: { type: 'string' } } as const;

/** The usage lines of the options every command (--help) or every configured one (--config) has. */
export const COMMON_OPTION_HELP = {
  config: '  --config FILE             YAML or JSON settings (also CSPINE_CONFIG); CSPINE_* variables override',
  help: '  -h, --help                this text',
};

type ParsedCommandLine<O extends OptionSpecs> = ReturnType<typeof parseArgs<{ args: string[]; allowPositionals: true; options: O & typeof HELP_OPTION }>>;

interface CommandSpec<O extends OptionSpecs> {
  /** What follows `cspine-edge ` (the command, its operands and options); may run over lines. */
  synopsis: string;
  /** What it does, and what its exit status means where that is more than 0 or 1. */
  about: string;
  options: O;
  /** `  --name VALUE   meaning` lines for the options the command declares; --config and --help are added. */
  optionHelp?: string;
  /** Whether it takes operands (files, folders); without, any is a usage error. */
  operands?: boolean;
  run(commandLine: ParsedCommandLine<O>): Promise<number> | number;
}

/**
 * A command that parses its own options: `--help` prints its usage; an unknown option, a missing
 * value or a UsageError thrown by `run` is a usage error naming this command's usage.
 */
export function defineCommand<const O extends OptionSpecs>(spec: CommandSpec<O>): Command {
  const optionHelp = [spec.optionHelp, 'config' in spec.options ? COMMON_OPTION_HELP.config : undefined, COMMON_OPTION_HELP.help].filter(Boolean).join('\n');
  const usage = `usage: cspine-edge ${spec.synopsis}\n\n${spec.about}\n\noptions:\n${optionHelp}\n`;
  return {
    usage,
    async run(argv) {
      let commandLine;
      try {
        commandLine = parseArgs({ args: argv, allowPositionals: spec.operands ?? false, options: { ...spec.options, ...HELP_OPTION } as OptionSpecs });
      } catch (error) {
        if (isParseArgsError(error)) throw new UsageError(error.message, usage);
        throw error;
      }
      if (commandLine.values.help === true) {
        process.stdout.write(usage);
        return 0;
      }
      try {
        // parseArgs has checked the arguments against exactly these options.
        return await spec.run(commandLine as ParsedCommandLine<O>);
      } catch (error) {
        if (error instanceof UsageError && error.usage === undefined) throw new UsageError(error.message, usage);
        throw error;
      }
    },
  };
}

function isParseArgsError(error: unknown): error is TypeError {
  return error instanceof TypeError && 'code' in error && String(error.code).startsWith('ERR_PARSE_ARGS');
}

/** The configuration a command runs with: `--config FILE` (or CSPINE_CONFIG), then CSPINE_* variables. */
export function commandConfig(values: { config?: string | undefined }): Config {
  return loadConfig({ file: values.config });
}

/** `--name N` as a whole number of at least 1. */
export function positiveInteger(name: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`--${name} must be a positive whole number, not "${value}"`);
  return n;
}

/** `--name X` as a number in [min, max]. */
export function numberInRange(name: string, value: string, min: number, max: number): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < min || n > max) throw new UsageError(`--${name} must be a number from ${min} to ${max}, not "${value}"`);
  return n;
}

/** The synthesizers check their own settings and throw RangeError: on the command line that is a usage error. */
export async function rangeErrorsAsUsage(work: () => Promise<number>): Promise<number> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof RangeError) throw new UsageError(error.message);
    throw error;
  }
}
