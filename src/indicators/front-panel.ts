import type { Config } from '../config/schema.js';
import type { Logger } from '../logger.js';
import type { Capability, CapabilityHealth } from '../runtime/capability.js';
import type { DeviceStatus } from '../runtime/device-state.js';
import type { DeviceState } from '../runtime/events.js';
import type { EventBus } from '../runtime/event-bus.js';
import type { HistoryStore } from '../store/store.js';
import { ButtonGestures } from './button.js';
import type { ButtonInput } from './gpio-access.js';
import type { Indicators, LampState } from './indicators.js';

/** What the lamps show for a device state: the lamps follow the state, never the reverse. */
export function lampStateOf(state: DeviceState): LampState {
  switch (state.state) {
    case 'starting':
      return { level: 'IDLE', reason: 'starting' };
    case 'ready':
      return { level: 'IDLE', reason: `ready — model ${state.model.id}` };
    case 'processing':
      return { level: 'PROCESSING', reason: state.waiting > 0 ? `${state.file} (${state.waiting} more waiting)` : state.file };
    case 'result':
      return { ...state.triage, ...(state.label === undefined ? {} : { label: state.label }) };
    case 'acknowledged':
      return { level: 'IDLE', reason: 'acknowledged' };
    case 'fault':
      // The lamp line gets the first sentence; the log has the whole story.
      return { level: 'FAULT', reason: `${state.fault.code}: ${state.fault.message.split(/\n|\. /)[0]!}` };
    case 'stopping':
      return { level: 'IDLE', reason: 'stopping' };
  }
}

export interface FrontPanelDeps {
  indicators: Indicators;
  button: ButtonInput | undefined;
  settings: Config['indicators'];
  status: DeviceStatus;
  store: HistoryStore;
  bus: EventBus;
  logger: Logger;
}

/**
 * The lamps and the acknowledge button. Started first and stopped last, so the crew sees
 * "starting" at once, FAULT when start-up fails, and every lamp off once the device stops.
 */
export class FrontPanel implements Capability {
  readonly name = 'lamps';
  private gestures: ButtonGestures | undefined;

  constructor(private readonly deps: FrontPanelDeps) {}

  async start(): Promise<void> {
    const { indicators, status, bus, button, settings } = this.deps;
    indicators.show(lampStateOf(status.current));
    bus.on('deviceStateChanged', this, (state) => indicators.show(lampStateOf(state)));
    if (settings.lampTestAtStart) await indicators.lampTest();
    if (button) {
      const gestures = new ButtonGestures({
        debounceMs: settings.debounceMs,
        longPressMs: settings.longPressMs,
        onShortPress: () => this.acknowledge(),
        onLongPress: () => this.showLastResult(),
      });
      this.gestures = gestures;
      button.watch((pressed) => gestures.input(pressed));
    }
  }

  async stop(): Promise<void> {
    this.deps.bus.off(this);
    this.gestures?.close();
    this.deps.button?.close();
    await this.deps.indicators.close();
  }

  health(): CapabilityHealth {
    const { indicators } = this.deps;
    return { status: 'ok', detail: `${indicators.backend}: ${indicators.current?.level ?? 'off'}${this.deps.button ? '; button watched' : ''}` };
  }

  /** Short press: the crew has seen the result. Lamps back to idle; the time is recorded. */
  acknowledge(): void {
    const { status, store, logger } = this.deps;
    const shown = status.current;
    if (shown.state !== 'result') {
      logger.info({ state: shown.state }, 'acknowledge pressed with no result showing; ignored');
      return;
    }
    store.history.acknowledge(shown.sha256);
    status.acknowledge();
    logger.info({ sha256: shown.sha256, triage: shown.triage.level }, 'result acknowledged');
  }

  /** Long press: show the last result again (unless the device is at FAULT). */
  showLastResult(): void {
    this.deps.status.showLastResult();
  }
}
