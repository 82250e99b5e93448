import type { Anatomy, Vertebra } from './anatomy.js';
import { clipHalfPlane, compose, ellipse, rotationAbout, rounded, transform, transformPoint, translation, type Affine, type Polygon } from './geometry.js';
import type { Lesion } from './lesion.js';
import { corticalBone, type Shape } from './shape.js';

/**
 * The bones of the column, C1 to T1, each level on its own so an injury can move a whole
 * segment. Bodies are drawn in their own frame (+u posterior, +v caudal, origin at the
 * body's centre) and placed by that frame.
 */

export interface Level {
  /** 1 (C1) … 8 (T1). */
  level: number;
  shapes: Shape[];
  /** Outer outlines of the body and any fragment: where the label's box comes from. */
  body: Polygon[];
}

/** Local body frame → anatomy coordinates. */
export function frameOf(v: Vertebra): Affine {
  const cos = Math.cos(v.angle);
  const sin = Math.sin(v.angle);
  return { a: cos, b: sin, c: -sin, d: cos, e: v.cx, f: v.cy };
}

/** A dens leaning back this much is ordinary; it keeps C2 from looking like a post. */
const DENS_LEAN = 0.14;

export function buildSpine(anatomy: Anatomy, lesion: Lesion): Level[] {
  const levels: Level[] = [];
  const c2 = anatomy.vertebrae[0]!;
  levels.push({ level: 1, shapes: atlas(anatomy, c2), body: [] });
  for (const v of anatomy.vertebrae) {
    const frame = frameOf(v);
    const local = v.level === 2 ? axis(anatomy, v) : subaxialBody(anatomy, v, lesion.kind !== 'none' && lesion.kind !== 'translation' && lesion.level === v.level ? lesion : undefined);
    const shapes = [...local.shapes, ...posteriorElements(anatomy, v)].map((s) => ({ ...s, points: transform(s.points, frame) }));
    levels.push({ level: v.level, shapes, body: local.body.map((p) => transform(p, frame)) });
  }
  return levels;
}

/** Tip of the dens in anatomy coordinates: the head hinges here. */
export function densTip(anatomy: Anatomy): [number, number] {
  const c2 = anatomy.vertebrae[0]!;
  const [u, v] = densTipLocal(anatomy, c2);
  return transformPoint(u, v, frameOf(c2));
}

function densTipLocal(anatomy: Anatomy, v: Vertebra): [number, number] {
  return [densCentre(v) + DENS_LEAN * anatomy.densHeight, -v.height / 2 - anatomy.densHeight];
}

function densCentre(v: Vertebra): number {
  return v.depth * 0.06;
}

interface Local {
  shapes: Shape[];
  body: Polygon[];
}

/** A body's four corners in its own frame, [u, v]: what its outline rounds off and what a reader measures between. */
export interface BodyCorners {
  anteriorSuperior: [number, number];
  posteriorSuperior: [number, number];
  posteriorInferior: [number, number];
  anteriorInferior: [number, number];
}

/**
 * The corners of a body, its anterior-superior one lowered by a wedge's `anteriorDrop`. C2's
 * inferior endplate is taken flat across the body, under its lip.
 */
export function bodyCornerPoints(v: Vertebra, anteriorDrop = 0): BodyCorners {
  const d = v.depth / 2;
  const hp = v.height / 2;
  const ha = v.level === 2 ? hp : (v.height * v.anteriorRatio) / 2;
  return { anteriorSuperior: [-d, -ha + anteriorDrop], posteriorSuperior: [d, -hp], posteriorInferior: [d, hp], anteriorInferior: [-d, ha] };
}

function bodyCorners(v: Vertebra, anteriorDrop = 0): Polygon {
  const {
    anteriorSuperior: [, top],
    posteriorInferior: [d, hp],
    anteriorInferior: [, ha],
  } = bodyCornerPoints(v, anteriorDrop);
  // Mid-points give the slightly concave endplates and anterior waist of a real body.
  return [-d, top, 0, (top - hp) / 2 + 0.35, d, -hp, d, hp, 0, (ha + hp) / 2 - 0.35, -d, ha, -d + 0.5, (top + ha) / 2];
}

const BODY_RADII = [1.8, 4, 1.6, 1.6, 4, 1.8, 4];

type Fracture = Extract<Lesion, { kind: 'cortical-break' | 'wedge' | 'avulsion' }>;

/** How far a wedge lowers the anterior-superior corner, mm. */
export function wedgeDrop(v: Vertebra, lesion: Extract<Lesion, { kind: 'wedge' }>): number {
  return lesion.reduction * (v.height * v.anteriorRatio);
}

/**
 * How far the fragment moved, mm, from the transform that draws it: a cortical break's lower
 * fragment by its step-off along the endplate, an avulsed corner by its centroid's travel.
 */
export function fragmentDisplacement(v: Vertebra, lesion: Extract<Lesion, { kind: 'cortical-break' | 'avulsion' }>): number {
  // −u is anterior in the body's frame.
  if (lesion.kind === 'cortical-break') return -breakSlip(lesion).e;
  const { piece, away } = avulsionCut(v, lesion, rounded(bodyCorners(v), BODY_RADII));
  const [x, y] = centroid(piece);
  const [mx, my] = transformPoint(x, y, away);
  return Math.hypot(mx - x, my - y);
}

function subaxialBody(anatomy: Anatomy, v: Vertebra, lesion: Fracture | undefined): Local {
  const { cortexThickness: t, cortexDensity: rim, coreDensity: core } = anatomy;
  if (lesion?.kind === 'wedge') {
    const ha = v.height * v.anteriorRatio;
    const outline = rounded(bodyCorners(v, wedgeDrop(v, lesion)), BODY_RADII);
    const d = v.depth / 2 - t;
    const topA = -ha / 2 + lesion.reduction * ha + t;
    const topP = -v.height / 2 + t;
    // Crushed trabeculae pack together under the endplate: a denser band.
    const band = [-d, topA, d, topP, d, topP + 2.4, -d, topA + 3];
    return { shapes: [...corticalBone(outline, t, rim, core), { points: band, density: core * 0.55, layer: 'bone' }], body: [outline] };
  }
  const outline = rounded(bodyCorners(v), BODY_RADII);
  if (lesion === undefined) return { shapes: corticalBone(outline, t, rim, core), body: [outline] };
  if (lesion.kind === 'cortical-break') {
    // A line across the body; the fragment below it slips forward by `step`.
    const nx = -Math.sin(lesion.angle);
    const ny = Math.cos(lesion.angle);
    const c = ny * lesion.position * v.height;
    const upper = split(outline, t, rim, core, nx, ny, c - lesion.gap / 2);
    const lower = split(outline, t, rim, core, -nx, -ny, -(c + lesion.gap / 2));
    const slip = breakSlip(lesion);
    const moved = lower.shapes.map((s) => ({ ...s, points: transform(s.points, slip) }));
    return { shapes: [...upper.shapes, ...moved], body: [...upper.body, ...lower.body.map((p) => transform(p, slip))] };
  }
  const cut = avulsionCut(v, lesion, outline);
  const rest = split(outline, t, rim, core, cut.nx, cut.ny, cut.c - 0.35);
  const fragment = transform(cut.piece, cut.away);
  // The fragment is mostly cortex, hence brighter than the body it came from.
  return { shapes: [...rest.shapes, { points: fragment, density: rim * 1.1, layer: 'bone' }], body: [...rest.body, fragment] };
}

/** A cortical break moves the fragment below the line forward, and a little down. */
function breakSlip(lesion: Extract<Lesion, { kind: 'cortical-break' }>): Affine {
  return translation(-lesion.step, 0.25 * lesion.step);
}

/**
 * Avulsion: the antero-inferior corner is cut off along nx·u + ny·v = c (the body keeps the
 * side below c) and pulled away, forward and down, turning as it goes.
 */
function avulsionCut(v: Vertebra, lesion: Extract<Lesion, { kind: 'avulsion' }>, outline: Polygon): { nx: number; ny: number; c: number; piece: Polygon; away: Affine } {
  const d = v.depth / 2;
  const ha = (v.height * v.anteriorRatio) / 2;
  const p1: [number, number] = [-d, ha - lesion.height * v.height];
  const p2: [number, number] = [-d + lesion.depth * v.depth, ha];
  let nx = p2[1] - p1[1];
  let ny = -(p2[0] - p1[0]);
  if (nx * (-d - p1[0]) + ny * (ha - p1[1]) < 0) {
    nx = -nx;
    ny = -ny;
  }
  const len = Math.hypot(nx, ny);
  nx /= len;
  ny /= len;
  const c = nx * p1[0] + ny * p1[1];
  const piece = clipHalfPlane(outline, -nx, -ny, -(c + 0.35));
  const [fx, fy] = centroid(piece);
  const away = compose(translation(lesion.shift * -0.7, lesion.shift * 0.7), rotationAbout(-lesion.turn, fx, fy));
  return { nx, ny, c, piece, away };
}

/** The part of a cortical body on the side nx·x + ny·y ≤ c; the cut face has no cortex. */
function split(outline: Polygon, t: number, rim: number, core: number, nx: number, ny: number, c: number): Local {
  const [outer, inner] = corticalBone(outline, t, rim, core);
  const cutOuter = clipHalfPlane(outer!.points, nx, ny, c);
  const cutInner = clipHalfPlane(inner!.points, nx, ny, c);
  return {
    shapes: [
      { ...outer!, points: cutOuter },
      { ...inner!, points: cutInner },
    ],
    body: [cutOuter],
  };
}

function centroid(points: Polygon): [number, number] {
  let x = 0;
  let y = 0;
  const n = points.length / 2;
  for (let i = 0; i < points.length; i += 2) {
    x += points[i]!;
    y += points[i + 1]!;
  }
  return n === 0 ? [0, 0] : [x / n, y / n];
}

/** C2: a body that rises into the dens, with the antero-inferior lip it usually has. */
function axis(anatomy: Anatomy, v: Vertebra): Local {
  const d = v.depth / 2;
  const h = v.height / 2;
  const w = anatomy.densWidth / 2;
  const uc = densCentre(v);
  const dh = anatomy.densHeight;
  const lip = anatomy.c2Lip;
  const lean = (vy: number): number => (vy < -h ? DENS_LEAN * (-h - vy) : 0);
  const corners: number[] = [];
  const radii: number[] = [];
  const add = (u: number, vy: number, r: number): void => {
    corners.push(u + lean(vy), vy);
    radii.push(r);
  };
  add(-d - lip * 0.6, h + lip, 1.2);
  add(-d, h - 3, 3);
  add(-d + 0.6, -h + 1.5, 3);
  add(uc - w + 0.6, -h - 1.5, 2);
  add(uc - w, -h - dh * 0.55, 3);
  const tipY = -h - dh + w;
  for (let i = 0; i <= 8; i++) {
    const a = Math.PI + (Math.PI * i) / 8;
    add(uc + w * Math.cos(a), tipY + w * Math.sin(a), 0);
  }
  add(uc + w, -h - dh * 0.55, 3);
  add(uc + w - 0.6, -h - 1.5, 2);
  add(d, -h + 1, 2.5);
  add(d, h, 1.8);
  add(0, h - 0.3, 4);
  const outline = rounded(corners, radii);
  return { shapes: corticalBone(outline, anatomy.cortexThickness, anatomy.cortexDensity, anatomy.coreDensity), body: [outline] };
}

/** C1 seen from the side: the small anterior ring, the lateral masses, the posterior arch. */
function atlas(anatomy: Anatomy, c2: Vertebra): Shape[] {
  const frame = frameOf(c2);
  const [tipU, tipV] = densTipLocal(anatomy, c2);
  const w = anatomy.densWidth / 2;
  const r = anatomy.c1ArchRadius;
  const archV = tipV + 6;
  const densFront = tipU - w - DENS_LEAN * 6;
  const ring = ellipse(densFront - anatomy.adi - r * 0.85, archV, r * 0.85, r * 1.1);
  const back = tipU + w + c2.canal * 1.1;
  const length = anatomy.c1PosteriorLength;
  const arch = rounded([back, archV - 3.2, back + length, archV - 4.5, back + length + 3.5, archV - 0.5, back + length, archV + 4, back, archV + 2.8], [2, 3, 3, 3, 2]);
  const mass = ellipse(tipU + 2, archV + 1.5, 9.5, 6.5, -0.1);
  const local: Shape[] = [
    ...corticalBone(ring, 1.4, anatomy.cortexDensity, anatomy.coreDensity * 0.5),
    ...corticalBone(arch, 1.2, anatomy.cortexDensity * 0.9, anatomy.coreDensity * 0.8),
    { points: mass, density: anatomy.coreDensity * 0.55, layer: 'bone' },
  ];
  return local.map((s) => ({ ...s, points: transform(s.points, frame) }));
}

/** Pedicle, articular pillar, lamina and spinous process, fainter than the body. */
function posteriorElements(anatomy: Anatomy, v: Vertebra): Shape[] {
  const back = v.depth / 2;
  const h = v.height / 2;
  const s = v.facetSlope;
  const rim = anatomy.cortexDensity * 0.55;
  const core = anatomy.coreDensity * 0.6;
  const shapes: Shape[] = [];

  const pedicle = rounded([back - 1.5, -h + 0.8, back + 5, -h + 1.2, back + 5, -h + 0.45 * v.height, back - 1.5, -h + 0.45 * v.height], 1.2);
  shapes.push({ points: pedicle, density: anatomy.coreDensity * 0.45, layer: 'bone' });

  // Pillars stack like shingles; the thin gap between neighbours is the facet joint.
  const uA = back + 1.5;
  const uP = uA + v.pillarWidth;
  const uM = (uA + uP) / 2;
  const half = (v.height + v.discBelow - 1.6) / 2;
  const raise = v.level === 2 ? 3 : 0;
  const pillar = rounded(
    [uA, -half - raise + s * (uA - uM), uP, -half + s * (uP - uM), uP, half + s * (uP - uM), uA, half + s * (uA - uM)],
    1.6,
  );
  shapes.push(...corticalBone(pillar, 1, rim, core));

  const spineU = back + v.canal;
  // The lamina runs from the back of the pillar to the spinolaminar line, where the spinous process starts.
  const lamina = [uP - 3, -0.3 * v.height + s * (uP - uM), spineU + 1, -0.2 * v.height + 1, spineU + 1, 0.35 * v.height + 2, uP - 3, 0.3 * v.height + s * (uP - uM)];
  shapes.push({ points: rounded(lamina, 2), density: anatomy.coreDensity * 0.6, layer: 'bone' });

  const dirX = Math.cos(v.spinousAngle);
  const dirY = Math.sin(v.spinousAngle);
  const base = v.spinousBase / 2;
  const tipHalf = v.level >= 7 ? 3.2 : v.level === 2 ? 4 : 2.3;
  const tipX = spineU - 1 + v.spinousLength * dirX;
  const tipY = 1 + v.spinousLength * dirY;
  const spinous = rounded(
    [
      spineU - 2, 1 - base,
      tipX + tipHalf * dirY, tipY - tipHalf * dirX,
      tipX + tipHalf * 1.1 * dirX, tipY + tipHalf * 1.1 * dirY,
      tipX - tipHalf * dirY, tipY + tipHalf * dirX,
      spineU - 2, 1 + base,
    ],
    [1, 2.5, 3, 2.5, 1],
  );
  shapes.push(...corticalBone(spinous, 1.1, anatomy.cortexDensity * 0.8, anatomy.coreDensity * 0.8));
  return shapes;
}
