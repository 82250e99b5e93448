import { maskSecrets } from '../config/load.js';
import { commandConfig, CONFIG_OPTION, defineCommand } from './options.js';

export const config = defineCommand({
  synopsis: 'config',
  about: 'Prints the effective configuration as JSON (defaults, the file, CSPINE_* variables), secrets masked; exit 78 listing every problem when it is invalid.',
  options: CONFIG_OPTION,
  run: ({ values }) => {
    process.stdout.write(`${JSON.stringify(maskSecrets(commandConfig(values)), null, 2)}\n`);
    return 0;
  },
});
