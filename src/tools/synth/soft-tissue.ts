import type { Anatomy, Vertebra } from './anatomy.js';
import { ellipse, rounded, transformPoint, type Affine, type Polygon } from './geometry.js';
import { band, corticalBone, feathered, type Shape } from './shape.js';
import { densTip, frameOf } from './spine.js';

/**
 * What is not bone of the column: the neck's soft tissue, the air column in front of the
 * spine, the hyoid and the shoulders. Only the air column follows a displaced segment
 * (`motion` gives the displacement of a level, if any): the pharynx lies on the spine.
 */
export function buildSoftTissue(anatomy: Anatomy, motion: (level: number) => Affine | undefined = () => undefined): Shape[] {
  const vs = anatomy.vertebrae;
  const [tipX, tipY] = densTip(anatomy);
  const t1 = vs[vs.length - 1]!;
  const front = (v: Vertebra, dv: number, ahead: number): [number, number] => transformPoint(-v.depth / 2 - ahead, dv, frameOf(v));
  const behind = (v: Vertebra, dv: number, aft: number): [number, number] => transformPoint(v.depth / 2 + aft, dv, frameOf(v));
  const shapes: Shape[] = [];

  // The neck: skin in front of the throat, skin at the nape; above the jaw the head fills the width.
  const chinY = tipY + anatomy.mandibleDrop + 12;
  const throat = vs.filter((v) => v.cy > chinY + 4).map((v) => front(v, 0, anatomy.throatDepth + (v.level - 4) * 1.5));
  const nape = vs.map((v) => behind(v, 0, anatomy.napeDepth + (v.level - 4) * 2.5));
  const neck: Polygon = [-600, tipY - 600, 600, tipY - 600];
  neck.push(nape[0]![0] + 25, tipY - 70);
  for (const [x, y] of nape) neck.push(x, y);
  neck.push(600, t1.cy + 60, 600, t1.cy + 600, -600, t1.cy + 600, -600, t1.cy + 70, throat[throat.length - 1]![0] - 25, t1.cy + 35);
  for (let i = throat.length - 1; i >= 0; i--) neck.push(throat[i]![0], throat[i]![1]);
  neck.push(throat[0]![0] - 15, chinY - 2, -600, chinY - 8);
  shapes.push({ points: rounded(neck, 40), density: anatomy.softDensity, layer: 'soft' });

  // The head is wider than the neck: more tissue in the beam above the jaw.
  const head = rounded([-600, tipY - 600, 600, tipY - 600, 600, tipY - 30, tipX + 60, tipY - 22, tipX + 25, tipY - 8, tipX - 20, tipY + 5, tipX - 60, chinY - 5, -600, chinY], 30);
  shapes.push(...feathered(head, anatomy.headDensity, 'soft', 0, -5));

  // Air column: close to C2–C4 (prevertebral tissue is thin there), further off below C5.
  const wall: [number, number][] = [];
  const lumen: [number, number][] = [];
  for (const v of vs) {
    const gap = v.level <= 4 ? anatomy.prevertebral : v.level >= 6 ? anatomy.retrotracheal : (anatomy.prevertebral + anatomy.retrotracheal) / 2;
    const moved = motion(v.level);
    const place = (p: [number, number]): [number, number] => (moved === undefined ? p : transformPoint(p[0], p[1], moved));
    for (const dv of [-v.height / 2, v.height / 2]) {
      wall.push(place(front(v, dv, gap)));
      lumen.push(place(front(v, dv, gap + anatomy.airwayWidth * (v.level >= 6 ? 0.8 : 1))));
    }
  }
  const top = wall[0]!;
  const airway: Polygon = [top[0] - 12, top[1] - 40, top[0] - 2, top[1] - 10];
  for (const [x, y] of wall) airway.push(x, y);
  const last = wall[wall.length - 1]!;
  const lastLumen = lumen[lumen.length - 1]!;
  airway.push(last[0] - 4, last[1] + 80, lastLumen[0] - 8, lastLumen[1] + 80);
  for (let i = lumen.length - 1; i >= 0; i--) airway.push(lumen[i]![0], lumen[i]![1]);
  airway.push(top[0] - anatomy.airwayWidth - 20, top[1] - 40);
  shapes.push({ points: rounded(airway, 6), density: -0.38 * anatomy.softDensity, layer: 'soft' });

  const c3 = vs[1]!;
  const [hx, hy] = front(c3, c3.height / 2 + 2, anatomy.hyoidOffset);
  shapes.push(...corticalBone(rounded([hx - 7, hy - 2, hx + 5, hy - 3.5, hx + 5, hy + 0.5, hx - 7, hy + 2], 1.5), 0.9, anatomy.cortexDensity * 0.7, anatomy.coreDensity * 0.5));

  // Shoulders: a broad dense mass across the cervico-thoracic junction.
  const [sx, sy] = transformPoint(0, anatomy.shoulderLevel, frameOf(t1));
  const shoulder = rounded([-600, sy + 40, sx - 60, sy + 12, sx - 10, sy, sx + 40, sy + 3, sx + 110, sy + 22, 600, sy + 50, 600, sy + 600, -600, sy + 600], 40);
  shapes.push(...feathered(shoulder, anatomy.shoulderDensity * 0.6, 'soft', 0, 4));
  shapes.push(...corticalBone(ellipse(sx - 25, sy + 45, 30, 26), 2.5, anatomy.shoulderDensity * 0.3, anatomy.shoulderDensity * 0.22));
  shapes.push(...corticalBone(ellipse(sx + 12, sy + 54, 30, 26), 2.5, anatomy.shoulderDensity * 0.3, anatomy.shoulderDensity * 0.22));
  const clavicle = band(
    [
      [sx + 20, sy + 6],
      [sx - 30, sy + 16],
      [sx - 90, sy + 20],
    ],
    9,
  );
  shapes.push(...corticalBone(rounded(clavicle, 3), 1.5, anatomy.shoulderDensity * 0.5, anatomy.shoulderDensity * 0.25));
  return shapes;
}
