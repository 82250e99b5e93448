/**
 * A chest, PA view: the dark lungs with domed diaphragms and sharp costophrenic angles,
 * the heart and mediastinum between them (heart bulging to the patient's left), the
 * thoracic spine faint behind it, twelve pairs of ribs (dense posterior arcs, fainter
 * anterior ends), clavicles, scapulae and the humeral heads, and lung vessels branching
 * from the hila. Millimetres; origin at the sternal notch, patient's right on the image's
 * left, as a PA film is viewed.
 */
import { ellipse, type Polygon } from '../../geometry.js';
import type { Rng } from '../../prng.js';
import { band, corticalBone, type Shape } from '../../shape.js';
import { outline, quadratic, type Point } from './bones.js';
import type { XrayScene } from './xray.js';

export function buildChest(rng: Rng): XrayScene {
  const size = rng.uniform(0.9, 1.1);
  const s = (x: number, y: number): Point => [x * size, y * size];
  const wide = rng.uniform(0.92, 1.08);
  const soft = rng.uniform(0.6, 0.75);
  const shapes: Shape[] = [];

  // The trunk with shoulders and neck; it continues past the frame below and at the sides.
  const trunk: Polygon[] = [
    outline([s(-55, -200), s(55, -200), s(60, -40), s(165 * wide, -15), s(215 * wide, 40), s(215 * wide, 500), s(-215 * wide, 500), s(-215 * wide, 40), s(-165 * wide, -15), s(-60, -40)], 30 * size),
  ];

  const diaphragmRight = rng.uniform(225, 255);
  const diaphragmLeft = diaphragmRight + rng.uniform(5, 20);
  const heart = rng.uniform(0.9, 1.15);
  // Lungs: air in place of tissue, so negative attenuation on the soft layer.
  const air = -soft * rng.uniform(0.55, 0.7);
  const rightLung = outline(
    [
      s(-32, -25), s(-55, -45), s(-85, -30), s(-125 * wide, 20), s(-148 * wide, 110), s(-152 * wide, diaphragmRight + 35),
      s(-120 * wide, diaphragmRight - 5), s(-80, diaphragmRight - 22), s(-45, diaphragmRight - 5), s(-38, 190), s(-30, 120), s(-26, 30),
    ],
    12 * size,
  );
  const leftLung = outline(
    [
      s(30, -25), s(55, -45), s(85, -30), s(125 * wide, 20), s(148 * wide, 110), s(152 * wide, diaphragmLeft + 35),
      s(120 * wide, diaphragmLeft - 5), s(85 * heart, diaphragmLeft - 15), s(95 * heart, 205), s(70 * heart, 150), s(45, 95), s(42, 60), s(28, 20),
    ],
    12 * size,
  );
  shapes.push({ points: rightLung, density: air, layer: 'soft' }, { points: leftLung, density: air, layer: 'soft' });
  // Breast or pectoral shadows over the lower zones: a little more tissue.
  for (const side of [-1, 1]) shapes.push({ points: ellipse(side * 95 * size, 200 * size, 60 * size, 45 * size, 0, 32), density: soft * rng.uniform(0.05, 0.15), layer: 'soft' });
  // Heart and aortic knob: denser than the chest wall around them.
  shapes.push({ points: ellipse(25 * size, 185 * size, 70 * heart * size, 55 * size, -0.35, 40), density: soft * 0.12, layer: 'soft' });
  shapes.push({ points: ellipse(38 * size, 55 * size, 14 * size, 12 * size, 0, 24), density: soft * 0.1, layer: 'soft' });
  // A gastric bubble under the left dome.
  if (rng.chance(0.7)) shapes.push({ points: ellipse(75 * size, (diaphragmLeft + 30) * size, 22 * size, 14 * size, 0, 24), density: air * 0.5, layer: 'soft' });

  vessels(shapes, rng, size, soft);
  spine(shapes, size);
  ribs(shapes, rng, size, wide);
  shoulders(shapes, rng, size, wide);

  return {
    skin: trunk,
    skinDensity: soft,
    skinFade: 10,
    shapes,
    extent: { x: -180 * wide * size, y: -70 * size, w: 360 * wide * size, h: 400 * size },
  };
}

/** Pulmonary vessels: tapering branches from each hilum, brightest centrally. */
function vessels(shapes: Shape[], rng: Rng, size: number, soft: number): void {
  for (const side of [-1, 1]) {
    const hilum: Point = [side * 55 * size, 120 * size];
    for (let k = 0; k < 10; k++) {
      const angle = side * rng.uniform(0.4, 2.7);
      branch(shapes, rng, hilum, angle, rng.uniform(30, 50) * size, 3.5 * size, soft * 0.12, 0);
    }
  }
}

function branch(shapes: Shape[], rng: Rng, from: Point, angle: number, length: number, width: number, density: number, depth: number): void {
  const to: Point = [from[0] + Math.sin(angle) * length, from[1] - Math.cos(angle) * length];
  const mid: Point = [(from[0] + to[0]) / 2 + rng.uniform(-5, 5), (from[1] + to[1]) / 2 + rng.uniform(-5, 5)];
  shapes.push({ points: band(quadratic(from, mid, to, 6), width), density, layer: 'soft' });
  if (depth >= 3 || width < 1) return;
  for (let k = 0; k < 2; k++) branch(shapes, rng, to, angle + rng.uniform(-0.6, 0.6), length * rng.uniform(0.5, 0.7), width * 0.6, density * 0.8, depth + 1);
}

/** Thoracic bodies behind the mediastinum, with pedicles and spinous processes. */
function spine(shapes: Shape[], size: number): void {
  for (let k = 0; k < 14; k++) {
    const top = (-45 + k * 26) * size;
    const half = (17 + k * 0.8) * size;
    const body = outline([[-half, top], [half, top], [half * 0.95, top + 21 * size], [-half * 0.95, top + 21 * size]], 4 * size);
    shapes.push(...corticalBone(body, 1.5 * size, 0.16, 0.07));
    for (const side of [-1, 1]) shapes.push(...corticalBone(ellipse(side * half * 0.7, top + 6 * size, 3.5 * size, 5 * size, 0, 16), 1 * size, 0.12, 0.05));
    shapes.push({ points: ellipse(0, top + 16 * size, 3 * size, 6 * size, 0, 16), density: 0.06, layer: 'bone' });
  }
}

/**
 * Twelve ribs a side. Posterior ribs run out from the spine nearly level and curve down
 * the side wall; the anterior parts slope down and in and stop short of the sternum (the
 * costal cartilage does not show).
 */
function ribs(shapes: Shape[], rng: Rng, size: number, wide: number): void {
  const cortex = rng.uniform(0.3, 0.4);
  const core = rng.uniform(0.1, 0.15);
  for (let k = 0; k < 12; k++) {
    const y = (-35 + k * 24) * size;
    // Ribs lengthen from the small first rib to the seventh, then shorten again.
    const reach = Math.min(150, 70 + k * 16) * wide * size * (k > 8 ? 1 - (k - 8) * 0.05 : 1);
    const thick = (k === 0 ? 7 : 9) * size;
    // The lowest ribs lie over the upper abdomen, behind more tissue: fainter.
    const fade = k > 8 ? 0.6 : 1;
    for (const side of [-1, 1]) {
      const start: Point = [side * 22 * size, y];
      const lateral: Point = [side * reach, y + (20 + k * 3) * size];
      const posterior = quadratic(start, [side * reach * 0.8, y - 12 * size], lateral, 12);
      shapes.push(...corticalBone(band(posterior, thick), 1.4 * size, cortex * fade, core * fade));
      if (k < 10) {
        const end: Point = [side * (35 + k * 4) * size, y + (55 + k * 9) * size];
        const anterior = quadratic(lateral, [side * reach * 0.95, y + (50 + k * 6) * size], end, 10);
        shapes.push(...corticalBone(band(anterior, thick * 1.15), 1.2 * size, cortex * 0.45, core * 0.45));
      }
    }
  }
}

/** Clavicles, scapulae and humeral heads. */
function shoulders(shapes: Shape[], rng: Rng, size: number, wide: number): void {
  const cortex = rng.uniform(0.45, 0.6);
  const core = rng.uniform(0.18, 0.25);
  const lift = rng.uniform(-10, 15);
  for (const side of [-1, 1]) {
    const clavicle = [
      ...quadratic([side * 12 * size, -8 * size], [side * 60 * size, (-5 + lift / 2) * size], [side * 100 * wide * size, (-25 - lift) * size], 8),
      ...quadratic([side * 100 * wide * size, (-25 - lift) * size], [side * 125 * wide * size, (-38 - lift) * size], [side * 150 * wide * size, (-35 - lift) * size], 6).slice(1),
    ];
    shapes.push(...corticalBone(band(clavicle, 13 * size), 2 * size, cortex, core));
    const scapula = outline([[side * 115 * wide * size, -20 * size], [side * 170 * wide * size, -25 * size], [side * 160 * wide * size, 40 * size], [side * 125 * wide * size, 150 * size]], 10 * size);
    shapes.push(...corticalBone(scapula, 2 * size, cortex * 0.45, core * 0.5));
    shapes.push(...corticalBone(ellipse(side * 185 * wide * size, 0, 28 * size, 30 * size, 0, 32), 2.5 * size, cortex, core));
    shapes.push(...corticalBone(band([[side * 185 * wide * size, 20 * size], [side * 195 * wide * size, 200 * size]], 24 * size), 3.5 * size, cortex * 0.8, core * 0.6));
  }
}
