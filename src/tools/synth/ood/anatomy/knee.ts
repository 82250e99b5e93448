/**
 * A knee, AP view: the distal femur flaring into its two condyles with the intercondylar
 * notch, the joint space, the tibial plateau with its spines, the fibular head on the
 * lateral side, and the patella seen through the femur. Millimetres; origin at the joint
 * centre, lateral side towards +x.
 */
import { ellipse } from '../../geometry.js';
import type { Rng } from '../../prng.js';
import { corticalBone, type Shape } from '../../shape.js';
import { outline, tubularBone, type Point } from './bones.js';
import type { XrayScene } from './xray.js';

export function buildKnee(rng: Rng): XrayScene {
  const size = rng.uniform(0.88, 1.12);
  const s = (x: number, y: number): Point => [x * size, y * size];
  const gap = rng.uniform(4, 8);
  const cortex = rng.uniform(0.6, 0.75);
  const core = rng.uniform(0.25, 0.32);
  const shapes: Shape[] = [];

  // Femur from above the frame down to its condyles.
  const femur = outline(
    [
      s(-15, -320), s(-16, -90), s(-24, -55), s(-40, -30), s(-42, -12), s(-36, -2), s(-24, 0), s(-12, -4), s(-7, -16),
      s(7, -16), s(12, -4), s(24, 0), s(36, -2), s(42, -12), s(40, -30), s(24, -55), s(16, -90), s(15, -320),
    ],
    5 * size,
  );
  shapes.push(...corticalBone(femur, 3.5 * size, cortex, core));
  // The thick diaphyseal cortex: a brighter band each side of the shaft.
  for (const side of [-1, 1]) shapes.push({ points: outline([s(side * 15, -320), s(side * 10, -320), s(side * 11, -95), s(side * 16, -90)], 1), density: cortex * 0.4, layer: 'bone' });

  const plateau = gap;
  const tibia = outline(
    [
      s(-40, plateau + 1), s(-12, plateau), s(-6, plateau - 5), s(-2, plateau - 1), s(2, plateau - 1), s(6, plateau - 5), s(12, plateau),
      s(40, plateau + 1), s(38, plateau + 14), s(22, plateau + 40), s(16, plateau + 75), s(15, 320), s(-15, 320), s(-16, plateau + 75), s(-24, plateau + 40), s(-39, plateau + 14),
    ],
    4 * size,
  );
  shapes.push(...corticalBone(tibia, 3 * size, cortex, core));
  // Fibula: head just below the lateral plateau, slim shaft, partly behind the tibia.
  const fibulaHead: Point = s(40, plateau + 24);
  shapes.push(...tubularBone(s(36, 320), fibulaHead, { base: 12 * size, shaft: 12 * size, head: 22 * size }, 0.25, cortex * 0.9, core));
  // Patella through the femur: an extra, fainter oval.
  const patellaY = rng.uniform(-45, -25);
  shapes.push(...corticalBone(ellipse(rng.uniform(-3, 6) * size, patellaY * size, 21 * size, 25 * size, 0, 32), 2 * size, cortex * 0.45, core * 0.5));

  // Thigh and calf: soft tissue a little wider over the joint, running out of the frame.
  const leg = outline([s(-62, -400), s(62, -400), s(56, -40), s(52, 40), s(48, 400), s(-48, 400), s(-52, 40), s(-56, -40)], 20 * size);
  return {
    skin: [leg],
    skinDensity: rng.uniform(0.45, 0.6),
    skinFade: 8,
    shapes,
    extent: { x: -85 * size, y: -130 * size, w: 170 * size, h: 240 * size },
  };
}
