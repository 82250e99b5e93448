import type { Logger } from '../logger.js';
import type { RuntimeEvents } from './events.js';

type Listener<K extends keyof RuntimeEvents> = (payload: RuntimeEvents[K]) => void;

/**
 * One typed, synchronous event bus for the running device. A listener that throws is logged
 * and the others still run: one broken subscriber never stops a result reaching the lamps.
 */
export class EventBus {
  private readonly listeners = new Map<keyof RuntimeEvents, Array<{ owner: object; listener: Listener<never> }>>();

  constructor(private readonly logger: Logger) {}

  /** `owner` lets a capability drop all of its subscriptions at stop with `off(owner)`. */
  on<K extends keyof RuntimeEvents>(event: K, owner: object, listener: Listener<K>): void {
    const list = this.listeners.get(event) ?? [];
    list.push({ owner, listener: listener as Listener<never> });
    this.listeners.set(event, list);
  }

  off(owner: object): void {
    for (const [event, list] of this.listeners) {
      this.listeners.set(
        event,
        list.filter((entry) => entry.owner !== owner),
      );
    }
  }

  emit<K extends keyof RuntimeEvents>(event: K, payload: RuntimeEvents[K]): void {
    for (const { listener } of [...(this.listeners.get(event) ?? [])]) {
      try {
        (listener as Listener<K>)(payload);
      } catch (error) {
        this.logger.error({ event, err: (error as Error).message }, 'event listener failed');
      }
    }
  }
}
