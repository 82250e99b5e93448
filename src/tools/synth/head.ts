import type { Anatomy } from './anatomy.js';
import { compose, rotationAbout, rounded, transform, translation, ellipse, type Affine } from './geometry.js';
import { band, corticalBone, feathered, type Shape } from './shape.js';
import { densTip } from './spine.js';

/**
 * Skull base, face and mandible: what sits at the top of a lateral c-spine film. Drawn in
 * a head frame whose origin is the dens tip, so a dislocation below carries the head along.
 */
export function buildHead(anatomy: Anatomy): Shape[] {
  const [tx, ty] = densTip(anatomy);
  const c2 = anatomy.vertebrae[0]!;
  const frame: Affine = compose(rotationAbout(c2.angle + anatomy.headAngle, tx, ty), translation(tx, ty));
  const g = anatomy.basionGap;
  const rim = anatomy.cortexDensity;
  const core = anatomy.coreDensity;
  const shapes: Shape[] = [];

  const opisthion = 30 + anatomy.occiputThickness;
  // Both halves of the skull overlap here, so the skull base is a broad dense region whose
  // lower edge runs from the face, over the foramen magnum, along the occiput.
  const vault = rounded(
    [-400, -g + 2, -60, -g, -20, -g - 12, 25, -g - 16, opisthion + 16, -g - 12, opisthion + 29, -g - 27, opisthion + 40, -g - 75, 400, -g - 120, 400, -400, -400, -400],
    10,
  );
  shapes.push(...feathered(vault, core * 0.8, 'bone', 0, -4));
  const occiput = band(
    [
      [opisthion - 2, -g - 1],
      [opisthion + 10, -g - 5],
      [opisthion + 20, -g - 13],
      [opisthion + 29, -g - 27],
      [opisthion + 36, -g - 48],
      [opisthion + 40, -g - 75],
      [opisthion + 42, -g - 120],
    ],
    anatomy.occiputThickness,
  );
  shapes.push(...corticalBone(occiput, 1.6, rim * 1.2, core * 1.2));

  const clivus = band(
    [
      [0, -g],
      [-7, -g - 16],
      [-16, -g - 36],
      [-28, -g - 70],
    ],
    10,
  );
  shapes.push(...corticalBone(rounded(clivus, 2), 1.5, rim * 0.7, core * 0.8));

  // Petrous ridges and mastoids: the brightest bone at the skull base.
  const petrous = rounded([-12, -g - 20, opisthion + 8, -g - 22, opisthion - 4, -g - 6, 12, -g - 8], 6);
  shapes.push({ points: petrous, density: rim * 0.8, layer: 'bone' });
  shapes.push({ points: ellipse(opisthion * 0.45, -g + 3, 7, 11, 0.25), density: core * 0.9, layer: 'bone' });

  const palate = band(
    [
      [-26, -g - 3],
      [-60, -g - 6],
      [-110, -g - 8],
    ],
    4.5,
  );
  shapes.push({ points: palate, density: rim * 0.6, layer: 'bone' });

  // Two hemimandibles, slightly apart: the double contour of a real lateral view.
  const mo = anatomy.mandibleOffset;
  const md = anatomy.mandibleDrop;
  for (const [dx, dy] of [
    [0, 0],
    [4, 3],
  ] as const) {
    const outline: number[] = [
      [-mo + 8, -g - 20], // condyle
      [-mo + 3, md - 14],
      [-mo, md], // angle
      [-mo - 30, md + 3],
      [-mo - 150, md - 8],
      [-mo - 150, md - 40],
      [-mo - 40, md - 27],
      [-mo - 24, md - 30],
      [-mo - 22, -g - 14], // coronoid
      [-mo - 8, -g - 6], // sigmoid notch
    ].flatMap(([x, y]) => [x! + dx, y! + dy]);
    shapes.push(...corticalBone(rounded(outline, [5, 8, 9, 8, 0, 0, 8, 8, 4, 5]), 2, rim * 0.35, core * 0.22));
  }
  return shapes.map((s) => ({ ...s, points: transform(s.points, frame) }));
}
