/**
 * Plane geometry on flat point lists [x0, y0, x1, y1, …]. Flat arrays keep the shapes of
 * one phantom (a few thousand points) cheap to build, transform and rasterise.
 */

export type Polygon = number[];

/** x' = a·x + c·y + e, y' = b·x + d·y + f. */
export interface Affine {
  a: number;
  b: number;
  c: number;
  d: number;
  e: number;
  f: number;
}

export const IDENTITY: Affine = { a: 1, b: 0, c: 0, d: 1, e: 0, f: 0 };

/** `outer ∘ inner`: apply `inner` first. */
export function compose(outer: Affine, inner: Affine): Affine {
  return {
    a: outer.a * inner.a + outer.c * inner.b,
    b: outer.b * inner.a + outer.d * inner.b,
    c: outer.a * inner.c + outer.c * inner.d,
    d: outer.b * inner.c + outer.d * inner.d,
    e: outer.a * inner.e + outer.c * inner.f + outer.e,
    f: outer.b * inner.e + outer.d * inner.f + outer.f,
  };
}

export function translation(x: number, y: number): Affine {
  return { a: 1, b: 0, c: 0, d: 1, e: x, f: y };
}

/** Rotation by `angle` radians about (cx, cy); positive turns +x towards +y. */
export function rotationAbout(angle: number, cx: number, cy: number): Affine {
  const cos = Math.cos(angle);
  const sin = Math.sin(angle);
  return { a: cos, b: sin, c: -sin, d: cos, e: cx - cos * cx + sin * cy, f: cy - sin * cx - cos * cy };
}

export function transform(points: Polygon, m: Affine): Polygon {
  const out = new Array<number>(points.length);
  for (let i = 0; i < points.length; i += 2) {
    const x = points[i]!;
    const y = points[i + 1]!;
    out[i] = m.a * x + m.c * y + m.e;
    out[i + 1] = m.b * x + m.d * y + m.f;
  }
  return out;
}

export function transformPoint(x: number, y: number, m: Affine): [number, number] {
  return [m.a * x + m.c * y + m.e, m.b * x + m.d * y + m.f];
}

export function ellipse(cx: number, cy: number, rx: number, ry: number, angle = 0, segments = 40): Polygon {
  const cos = Math.cos(angle);
  const sin = Math.sin(angle);
  const out: Polygon = [];
  for (let i = 0; i < segments; i++) {
    const t = (2 * Math.PI * i) / segments;
    const x = rx * Math.cos(t);
    const y = ry * Math.sin(t);
    out.push(cx + cos * x - sin * y, cy + sin * x + cos * y);
  }
  return out;
}

/**
 * Rounds every corner with a quadratic Bézier whose control point is the corner itself,
 * so bones get the soft outlines they have on film instead of drafting-table corners.
 * `radius` is capped at 45 % of each adjacent edge so short edges do not fold over.
 */
export function rounded(corners: Polygon, radius: number | readonly number[], steps = 4): Polygon {
  const n = corners.length / 2;
  const out: Polygon = [];
  for (let i = 0; i < n; i++) {
    const px = corners[((i + n - 1) % n) * 2]!;
    const py = corners[((i + n - 1) % n) * 2 + 1]!;
    const x = corners[i * 2]!;
    const y = corners[i * 2 + 1]!;
    const nx = corners[((i + 1) % n) * 2]!;
    const ny = corners[((i + 1) % n) * 2 + 1]!;
    const wanted = typeof radius === 'number' ? radius : (radius[i] ?? 0);
    const toPrev = Math.hypot(px - x, py - y);
    const toNext = Math.hypot(nx - x, ny - y);
    const r = Math.min(wanted, 0.45 * toPrev, 0.45 * toNext);
    if (r <= 0 || toPrev === 0 || toNext === 0) {
      out.push(x, y);
      continue;
    }
    const ax = x + ((px - x) * r) / toPrev;
    const ay = y + ((py - y) * r) / toPrev;
    const bx = x + ((nx - x) * r) / toNext;
    const by = y + ((ny - y) * r) / toNext;
    for (let s = 0; s <= steps; s++) {
      const t = s / steps;
      const u = 1 - t;
      out.push(u * u * ax + 2 * u * t * x + t * t * bx, u * u * ay + 2 * u * t * y + t * t * by);
    }
  }
  return out;
}

export function signedArea(points: Polygon): number {
  let area = 0;
  const n = points.length / 2;
  for (let i = 0; i < n; i++) {
    const j = (i + 1) % n;
    area += points[i * 2]! * points[j * 2 + 1]! - points[j * 2]! * points[i * 2 + 1]!;
  }
  return area / 2;
}

/**
 * Moves every edge `distance` inwards (miter offset, limited). Used for the cancellous
 * core inside a cortical shell; exact enough for the small offsets of a cortex.
 */
export function inset(points: Polygon, distance: number): Polygon {
  const n = points.length / 2;
  const inward = signedArea(points) > 0 ? 1 : -1;
  const out = new Array<number>(points.length);
  for (let i = 0; i < n; i++) {
    const p = (i + n - 1) % n;
    const q = (i + 1) % n;
    const x = points[i * 2]!;
    const y = points[i * 2 + 1]!;
    const n1 = edgeNormal(points[p * 2]!, points[p * 2 + 1]!, x, y, inward);
    const n2 = edgeNormal(x, y, points[q * 2]!, points[q * 2 + 1]!, inward);
    let mx = n1[0] + n2[0];
    let my = n1[1] + n2[1];
    const len = Math.hypot(mx, my);
    if (len < 1e-9) {
      mx = n1[0];
      my = n1[1];
    } else {
      mx /= len;
      my /= len;
    }
    const cosHalf = mx * n1[0] + my * n1[1];
    const scale = distance / Math.max(cosHalf, 0.5);
    out[i * 2] = x + mx * scale;
    out[i * 2 + 1] = y + my * scale;
  }
  return out;
}

function edgeNormal(x0: number, y0: number, x1: number, y1: number, inward: number): [number, number] {
  const dx = x1 - x0;
  const dy = y1 - y0;
  const len = Math.hypot(dx, dy) || 1;
  // For a counter-clockwise polygon (positive area, y down) the interior is on (-dy, dx).
  return [(-dy / len) * inward, (dx / len) * inward];
}

/**
 * Keeps the part of a convex polygon where nx·x + ny·y ≤ c (Sutherland–Hodgman against
 * one line). Fractures are cuts through a vertebral body, which is convex.
 */
export function clipHalfPlane(points: Polygon, nx: number, ny: number, c: number): Polygon {
  const out: Polygon = [];
  const n = points.length / 2;
  for (let i = 0; i < n; i++) {
    const j = (i + 1) % n;
    const x0 = points[i * 2]!;
    const y0 = points[i * 2 + 1]!;
    const x1 = points[j * 2]!;
    const y1 = points[j * 2 + 1]!;
    const d0 = nx * x0 + ny * y0 - c;
    const d1 = nx * x1 + ny * y1 - c;
    if (d0 <= 0) out.push(x0, y0);
    if ((d0 < 0 && d1 > 0) || (d0 > 0 && d1 < 0)) {
      const t = d0 / (d0 - d1);
      out.push(x0 + (x1 - x0) * t, y0 + (y1 - y0) * t);
    }
  }
  return out;
}

export interface Box {
  x: number;
  y: number;
  w: number;
  h: number;
}

/** Bounding box of several polygons, or undefined when they are all empty. */
export function bounds(polygons: readonly Polygon[]): Box | undefined {
  let minX = Infinity;
  let minY = Infinity;
  let maxX = -Infinity;
  let maxY = -Infinity;
  for (const points of polygons) {
    for (let i = 0; i < points.length; i += 2) {
      const x = points[i]!;
      const y = points[i + 1]!;
      if (x < minX) minX = x;
      if (x > maxX) maxX = x;
      if (y < minY) minY = y;
      if (y > maxY) maxY = y;
    }
  }
  if (minX > maxX) return undefined;
  return { x: minX, y: minY, w: maxX - minX, h: maxY - minY };
}
