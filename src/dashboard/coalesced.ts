/**
 * Runs `work` once per burst of wake-ups: a wake-up while it runs makes it run once more
 * afterwards, never twice at once.
 */
export class Coalesced {
  private wanted = false;
  private running: Promise<void> | undefined;

  constructor(private readonly work: () => Promise<void>) {}

  wake(): void {
    this.wanted = true;
    this.running ??= this.drain().finally(() => (this.running = undefined));
  }

  async settled(): Promise<void> {
    await this.running;
  }

  private async drain(): Promise<void> {
    while (this.wanted) {
      this.wanted = false;
      await this.work();
    }
  }
}
