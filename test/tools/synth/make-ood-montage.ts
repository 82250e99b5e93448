/**
 * Regenerates docs/images/ood-categories.png: `npx tsx test/tools/synth/make-ood-montage.ts`.
 * Examples of every `cspine-edge synth-ood` category (seed 1), labelled category / variant.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { renderOodMontage } from '../../../src/tools/synth/ood/montage.js';

const target = fileURLToPath(new URL('../../../docs/images/ood-categories.png', import.meta.url));
const png = await renderOodMontage({ seed: 1 });
writeFileSync(target, png);
process.stdout.write(`${target}: ${png.length} bytes\n`);
