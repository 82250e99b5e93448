import readline from 'node:readline';
import type { Config } from '../config/schema.js';
import { Accounts, isRole, MIN_PASSWORD_LENGTH, ROLES, type Role } from '../dashboard/database/accounts.js';
import { CspineError, ErrorCode } from '../errors.js';
import { commandLogger, operand, textTable, utcSeconds, withDashboardDatabase } from './dashboard-cli.js';
import { commandConfig, CONFIG_OPTION, defineCommand, UsageError } from './options.js';

/** One line from a pipe, without its line ending: `printf '%s\n' "$PW" | … --password-stdin`. */
export async function readLine(input: NodeJS.ReadableStream): Promise<string> {
  const lines = readline.createInterface({ input, crlfDelay: Infinity, terminal: false });
  try {
    for await (const line of lines) return line;
    return '';
  } finally {
    lines.close();
  }
}

/** Asks on the terminal without echoing what is typed. */
function askHidden(question: string): Promise<string> {
  const input = process.stdin;
  process.stderr.write(question);
  input.setRawMode(true);
  input.setEncoding('utf8');
  input.resume();
  return new Promise((resolve, reject) => {
    let typed = '';
    const finish = () => {
      input.off('data', onData);
      input.setRawMode(false);
      input.pause();
      process.stderr.write('\n');
    };
    const onData = (chunk: string) => {
      for (const character of chunk) {
        if (character === '\r' || character === '\n') {
          finish();
          resolve(typed);
          return;
        }
        if (character === '\u0003' || character === '\u0004') {
          finish();
          reject(new UsageError('cancelled'));
          return;
        }
        typed = character === '\u007f' || character === '\b' ? typed.slice(0, -1) : typed + character;
      }
    };
    input.on('data', onData);
  });
}

/** Never from the command line, where ps and the shell history would show it. */
async function newPassword(fromStdin: boolean): Promise<string> {
  if (fromStdin) return readLine(process.stdin);
  if (!process.stdin.isTTY) throw new UsageError('give the password on stdin with --password-stdin (or run in a terminal to be asked)');
  const first = await askHidden(`new password (at least ${MIN_PASSWORD_LENGTH} characters): `);
  const second = await askHidden('again: ');
  if (first !== second) throw new CspineError(ErrorCode.DASHBOARD_USER_INVALID, 'the two passwords differ; nothing was changed');
  return first;
}

function userTable(users: Awaited<ReturnType<Accounts['listUsers']>>): string {
  if (users.length === 0) return 'no users yet: cspine-edge dashboard user add NAME --role admin\n';
  const rows = users.map((user) => [user.name, user.role, utcSeconds(user.createdAt), user.disabledAt ? `disabled ${user.disabledAt.slice(0, 10)}` : 'active']);
  return textTable(['user', 'role', 'created (UTC)', 'state'], rows);
}

function requiredRole(role: string | undefined): Role {
  if (!isRole(role)) throw new UsageError(`--role must be one of ${ROLES.join(', ')}`);
  return role;
}

interface UserAction {
  action: string;
  positionals: string[];
  role: string | undefined;
  passwordStdin: boolean;
}

export async function dashboardUserCommand(config: Config, { action, positionals, role, passwordStdin }: UserAction): Promise<number> {
  if (!['add', 'list', 'disable', 'password'].includes(action)) throw new UsageError(`unknown action "${action}": add, list, disable or password`);
  // Checked before the database is opened: a usage error should not wait for a connection.
  if (action === 'add') requiredRole(role);
  await withDashboardDatabase(config, commandLogger(config), async (database) => {
    const accounts = new Accounts(database, config.dashboard.http.sessionHours);
    switch (action) {
      case 'add': {
        const name = operand(positionals, 1, 'user name');
        const userRole = requiredRole(role);
        await accounts.addUser(name, userRole, await newPassword(passwordStdin));
        process.stdout.write(`user ${name} added as ${userRole}\n`);
        break;
      }
      case 'list':
        process.stdout.write(userTable(await accounts.listUsers()));
        break;
      case 'disable': {
        const name = operand(positionals, 1, 'user name');
        await accounts.disableUser(name);
        process.stdout.write(`user ${name} disabled; their sessions are closed\n`);
        break;
      }
      case 'password': {
        const name = operand(positionals, 1, 'user name');
        await accounts.setPassword(name, await newPassword(passwordStdin));
        process.stdout.write(`password of ${name} changed; their sessions are closed\n`);
        break;
      }
    }
  });
  return 0;
}

export const dashboardUser = defineCommand({
  synopsis: `dashboard user add NAME --role ${ROLES.join('|')} [--password-stdin]
       cspine-edge dashboard user list
       cspine-edge dashboard user disable NAME
       cspine-edge dashboard user password NAME [--password-stdin]`,
  about: `The dashboard's users (docs/dashboard.md#users-and-roles). A viewer sees everything, a clinician
also acknowledges RED results, an admin too. Passwords (at least ${MIN_PASSWORD_LENGTH} characters) are
asked twice on a terminal, or read as one line from stdin; never from the command line.
Disabling a user or changing a password closes the user's sessions.`,
  options: { role: { type: 'string' }, 'password-stdin': { type: 'boolean', default: false }, ...CONFIG_OPTION },
  optionHelp: `  --role ROLE               ${ROLES.join(', ')} (add)
  --password-stdin          read the password as one line from stdin (add, password)`,
  operands: true,
  run: ({ values, positionals }) =>
    dashboardUserCommand(commandConfig(values), {
      action: operand(positionals, 0, 'action (add, list, disable or password)'),
      positionals,
      role: values.role,
      passwordStdin: values['password-stdin'],
    }),
});
