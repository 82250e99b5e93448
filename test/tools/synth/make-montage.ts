/**
 * Regenerates docs/images/phantoms.png: `npx tsx test/tools/synth/make-montage.ts`.
 * Columns: normal, fracture, dislocation; dotted boxes are labels.csv's boxes (docs only).
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { renderMontage } from '../../../src/tools/synth/montage.js';

const target = fileURLToPath(new URL('../../../docs/images/phantoms.png', import.meta.url));
const png = await renderMontage({ seed: 16, rows: 2, boxes: true, greyLevels: 32 });
writeFileSync(target, png);
process.stdout.write(`${target}: ${png.length} bytes\n`);
