// Preloaded with --import into a CLI under test: reports the process's peak memory at exit.
// VmHWM, not getrusage's maxrss: on Linux maxrss also counts the parent's memory that the
// child had mapped between fork and exec, so a big test runner would inflate it.
import fs from 'node:fs';

process.on('exit', () => {
  let kib = process.resourceUsage().maxRSS;
  try {
    const match = /^VmHWM:\s+(\d+) kB$/m.exec(fs.readFileSync('/proc/self/status', 'utf8'));
    if (match) kib = Number(match[1]);
  } catch {
    // not Linux: keep maxRSS
  }
  process.stderr.write(`\nmaxrss_kib=${kib}\n`);
});
