/** Display values 0…1 → integer samples of the requested depth, rounded and clamped. */
export function quantise(pixels: Float32Array, bits: 8 | 16): Uint8Array | Uint16Array {
  const max = bits === 8 ? 255 : 65535;
  const out = bits === 8 ? new Uint8Array(pixels.length) : new Uint16Array(pixels.length);
  for (let i = 0; i < pixels.length; i++) {
    const v = pixels[i]!;
    out[i] = v <= 0 ? 0 : v >= 1 ? max : Math.round(v * max);
  }
  return out;
}
