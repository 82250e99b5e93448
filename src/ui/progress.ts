/** A one-line progress bar on a terminal; silent when the stream is not a TTY (pipes, CI). */
export class ProgressBar {
  private done = 0;
  private readonly started = Date.now();

  constructor(
    private readonly total: number,
    private readonly out: NodeJS.WritableStream & { isTTY?: boolean; columns?: number } = process.stderr,
  ) {}

  tick(label: string): void {
    this.done++;
    if (this.out.isTTY !== true) return;
    const width = 30;
    const filled = Math.round((this.done / this.total) * width);
    const rate = this.done / Math.max((Date.now() - this.started) / 1000, 0.001);
    const eta = Math.round((this.total - this.done) / rate);
    const line = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${this.done}/${this.total} ${rate.toFixed(1)}/s eta ${eta}s ${label}`;
    this.out.write(`\r\x1b[2K${line.slice(0, (this.out.columns ?? 100) - 1)}`);
    if (this.done === this.total) this.out.write('\n');
  }
}
