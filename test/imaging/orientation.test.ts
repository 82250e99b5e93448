import test from 'ava';
import type { DecodedImage } from '../../src/imaging/image.js';
import { reorient, turnTensor } from '../../src/imaging/orientation.js';

// 3 wide, 2 high:   1 2 3
//                   4 5 6
const image: DecodedImage = { format: 'png', width: 3, height: 2, bitsPerSample: 8, pixels: Uint8Array.of(1, 2, 3, 4, 5, 6) };

test('reorient turns clockwise and inverts at full scale', (t) => {
  const quarter = reorient(image, { rotated: 90, inverted: false });
  t.deepEqual([quarter.width, quarter.height], [2, 3]);
  t.deepEqual([...quarter.pixels], [4, 1, 5, 2, 6, 3]);
  t.deepEqual([...reorient(image, { rotated: 180, inverted: false }).pixels], [6, 5, 4, 3, 2, 1]);
  t.deepEqual([...reorient(image, { rotated: 270, inverted: false }).pixels], [3, 6, 2, 5, 1, 4]);
  t.deepEqual([...reorient(image, { rotated: 0, inverted: true }).pixels], [254, 253, 252, 251, 250, 249]);
  const deep: DecodedImage = { ...image, bitsPerSample: 16, pixels: Uint16Array.of(0, 1, 2, 3, 4, 65535) };
  t.deepEqual([...reorient(deep, { rotated: 180, inverted: true }).pixels], [0, 65531, 65532, 65533, 65534, 65535]);
});

test('turning a square tensor matches turning the image, in both layouts', (t) => {
  const square: DecodedImage = { format: 'png', width: 3, height: 3, bitsPerSample: 8, pixels: Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8, 9) };
  for (const rotated of [90, 180, 270] as const) {
    const expected = [...reorient(square, { rotated, inverted: false }).pixels];
    // Two channels: the second is the first plus 10.
    const nchw = Float32Array.from([...square.pixels, ...[...square.pixels].map((v) => v + 10)]);
    t.deepEqual([...turnTensor(nchw, 3, 2, 'NCHW', rotated)], [...expected, ...expected.map((v) => v + 10)], `NCHW ${rotated}`);
    const nhwc = Float32Array.from([...square.pixels].flatMap((v) => [v, v + 10]));
    t.deepEqual([...turnTensor(nhwc, 3, 2, 'NHWC', rotated)], expected.flatMap((v) => [v, v + 10]), `NHWC ${rotated}`);
  }
});
