// Preloaded with --import into a CLI under test: reports the process's peak memory at exit.
process.on('exit', () => {
  process.stderr.write(`\nmaxrss_kib=${process.resourceUsage().maxRSS}\n`);
});
