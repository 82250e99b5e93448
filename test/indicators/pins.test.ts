import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { planIndicators } from '../../src/indicators/select.js';
import { boardModel, PinError, resolvePin, sysfsChips } from '../../src/indicators/pins.js';
import { configSchema } from '../../src/config/schema.js';
import { loadLibgpiod } from '../../src/indicators/gpio-chardev.js';
import { SysfsOutputs } from '../../src/indicators/gpio-sysfs.js';
import { CspineError, ErrorCode } from '../../src/errors.js';
import { fakeSysfs } from '../helpers/gpio.js';
import { tempDir } from '../helpers/fixtures.js';

const BOARDS = {
  'Pi 4, kernel 6.1': {
    model: 'Raspberry Pi 4 Model B Rev 1.5',
    chips: [
      { base: 0, label: 'pinctrl-bcm2711', ngpio: 58 },
      { base: 504, label: 'raspberrypi-exp-gpio', ngpio: 8 },
    ],
    bcm17: 17,
  },
  'Pi 4, kernel 6.6': {
    model: 'Raspberry Pi 4 Model B Rev 1.5',
    chips: [
      { base: 512, label: 'pinctrl-bcm2711', ngpio: 58 },
      { base: 570, label: 'raspberrypi-exp-gpio', ngpio: 8 },
    ],
    bcm17: 529,
  },
  'Pi 5, kernel 6.6': {
    model: 'Raspberry Pi 5 Model B Rev 1.0',
    chips: [
      { base: 512, label: 'gpio-brcmstb@107d508500', ngpio: 32 },
      { base: 544, label: 'gpio-brcmstb@107d508520', ngpio: 4 },
      { base: 571, label: 'pinctrl-rp1', ngpio: 54 },
    ],
    bcm17: 588,
  },
};

for (const [name, board] of Object.entries(BOARDS)) {
  test(`${name}: BCM 17 resolves to GPIO ${board.bcm17} from the tree, never to a raw 17`, (t) => {
    const paths = fakeSysfs(tempDir(t), board.model, board.chips);
    const chips = sysfsChips(paths.sysfsRoot);
    t.is(chips.length, board.chips.length);
    const line = resolvePin('green lamp', { bcm: 17 }, chips, boardModel(paths.modelFile));
    t.is(line.sysfs, board.bcm17);
    t.is(line.offset, 17);
    t.regex(line.chip, /^pinctrl-/);
  });
}

test('Jetson AGX Orin: header pins resolve by chip label and line, on both GPIO controllers', (t) => {
  const paths = fakeSysfs(tempDir(t), 'NVIDIA Jetson AGX Orin Developer Kit', [
    { base: 316, label: 'tegra234-gpio-aon', ngpio: 32 },
    { base: 348, label: 'tegra234-gpio', ngpio: 164 },
  ]);
  const chips = sysfsChips(paths.sysfsRoot);
  const model = boardModel(paths.modelFile);
  t.like(resolvePin('green lamp', { header: 7 }, chips, model), { chip: 'tegra234-gpio', offset: 106, sysfs: 454 });
  t.like(resolvePin('amber lamp', { header: 16, activeLow: true }, chips, model), { chip: 'tegra234-gpio-aon', offset: 9, sysfs: 325, activeLow: true });
  t.like(resolvePin('red lamp', { chip: 'tegra234-gpio', line: 85 }, chips, model), { sysfs: 433 });
  const bcm = t.throws(() => resolvePin('red lamp', { bcm: 17 }, chips, model), { instanceOf: PinError });
  t.regex(bcm.message, /^red lamp is configured as BCM 17, but no Raspberry Pi GPIO controller .*\(chips: tegra234-gpio-aon, tegra234-gpio;/);
  t.throws(() => resolvePin('buzzer', { header: 1 }, chips, model), { message: /header pin 1 .* is not a GPIO/ });
});

test('mistakes are named: header numbers off a Jetson, a line past the chip, an unknown chip', (t) => {
  const paths = fakeSysfs(tempDir(t), 'Raspberry Pi 5 Model B Rev 1.0', [{ base: 571, label: 'pinctrl-rp1', ngpio: 54 }]);
  const chips = sysfsChips(paths.sysfsRoot);
  const model = boardModel(paths.modelFile);
  t.throws(() => resolvePin('green lamp', { header: 7 }, chips, model), { message: /Jetson AGX Orin only .*Raspberry Pi 5/ });
  t.throws(() => resolvePin('green lamp', { chip: 'pinctrl-rp1', line: 60 }, chips, model), { message: /line 60 is outside pinctrl-rp1, which has 54 lines/ });
  t.throws(() => resolvePin('green lamp', { chip: 'nope', line: 1 }, chips, model), { message: /no GPIO chip labelled nope/ });
});

test('auto picks sysfs where the tree exists and says why; simulated where there is no GPIO at all', (t) => {
  const settings = configSchema.parse({ indicators: { pins: { button: { bcm: 23, activeLow: true } } } }).indicators;
  const pi5 = fakeSysfs(tempDir(t), 'Raspberry Pi 5 Model B Rev 1.0', [{ base: 571, label: 'pinctrl-rp1', ngpio: 54 }]);
  const plan = planIndicators(settings, pi5);
  t.is(plan.backend, 'sysfs');
  t.regex(plan.reason, /sysfs GPIO via onoff .*Raspberry Pi 5/);
  t.deepEqual([...plan.lamps].map(([lamp, line]) => [lamp, line.sysfs]), [['green', 588], ['amber', 598], ['red', 593]]);
  t.like(plan.button, { sysfs: 594, activeLow: true });

  const bare = tempDir(t);
  const none = planIndicators(settings, { sysfsRoot: path.join(bare, 'no-sysfs'), devDir: path.join(bare, 'no-dev'), modelFile: path.join(bare, 'no-model') });
  t.is(none.backend, 'simulated');
  t.regex(none.reason, /no .*no-sysfs and no .*gpiochip\*/);
});

test('without sysfs but with /dev/gpiochip*, auto takes the character device (libgpiod)', (t) => {
  const root = tempDir(t);
  const devDir = path.join(root, 'dev');
  fs.mkdirSync(devDir);
  fs.writeFileSync(path.join(devDir, 'gpiochip0'), '');
  const settings = configSchema.parse({}).indicators;
  // This machine has no real GPIO chips, so resolving the pins is where it stops: the error
  // shows the character device was chosen and what it found there.
  const error = t.throws(() => planIndicators(settings, { sysfsRoot: path.join(root, 'no-sysfs'), devDir, modelFile: path.join(root, 'no-model') }));
  t.regex(error.message, loadLibgpiod() ? /BCM 17, but no Raspberry Pi GPIO controller .*\(chips: none;/ : /node-libgpiod is not installed: apt-get install libgpiod-dev/);
});

test('a pin the service may not use is named, with the fix', (t) => {
  const line = { chip: 'pinctrl-rp1', offset: 17, sysfs: 588, activeLow: false, describe: 'BCM 17' };
  const error = t.throws(() => new SysfsOutputs(new Map([['green', line]])));
  t.regex(error.message, /^GPIO 588 \(BCM 17, pinctrl-rp1 line 17\) for the green output is not accessible \(E[A-Z]+\)/);
  t.regex(error.message, /usermod -aG gpio cspine/);
  t.regex(error.message, /deploy\/99-cspine-gpio\.rules/);
  t.regex(error.message, /udevadm trigger --action=add/, 'a plain trigger replays "change", which the rule does not act on');
  t.is((error as CspineError).code, ErrorCode.GPIO_ACCESS_DENIED);
});

test('a pin given by chip label and line is named once', (t) => {
  const line = { chip: '9030000.pl061', offset: 0, sysfs: 504, activeLow: false, describe: '9030000.pl061 line 0' };
  const error = t.throws(() => new SysfsOutputs(new Map([['green', line]])));
  t.regex(error.message, /^GPIO 504 \(9030000\.pl061 line 0\) for the green output is not accessible/);
});
