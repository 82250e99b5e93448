import sharp, { type FitEnum } from 'sharp';
import { inputGeometry, type ModelManifest } from '../model/manifest.js';
import { uint16Samples, type DecodedImage } from './image.js';

const FIT: Record<ModelManifest['preprocess']['resize'], keyof FitEnum> = {
  stretch: 'fill',
  letterbox: 'contain',
  'center-crop': 'cover',
};

export interface PreprocessSpec {
  input: ModelManifest['input'];
  preprocess: ModelManifest['preprocess'];
}

/**
 * Gray pixels → the model's input tensor, exactly as the manifest says: resize (at the source
 * bit depth, so 16-bit detail survives until here), scale to 0..1, normalise, lay out.
 */
export async function preprocessImage(image: DecodedImage, spec: PreprocessSpec): Promise<Float32Array> {
  const { channels, height, width } = inputGeometry(spec.input);
  const sixteenBit = image.bitsPerSample === 16;
  const { data } = await sharp(image.pixels, { raw: { width: image.width, height: image.height, channels: 1 } })
    .resize(width, height, { fit: FIT[spec.preprocess.resize], position: 'centre', background: '#000000', kernel: 'lanczos3' })
    .toColourspace(sixteenBit ? 'grey16' : 'b-w')
    .extractChannel(0)
    .raw({ depth: sixteenBit ? 'ushort' : 'uchar' })
    .toBuffer({ resolveWithObject: true });

  const samples = sixteenBit ? uint16Samples(data) : data;
  const fullScale = sixteenBit ? 65535 : 255;
  const planeSize = width * height;
  const tensor = new Float32Array(planeSize * channels);
  const { mean, std } = spec.preprocess;
  for (let c = 0; c < channels; c++) {
    const m = mean.length === 1 ? mean[0]! : mean[c]!;
    const s = std.length === 1 ? std[0]! : std[c]!;
    for (let i = 0; i < planeSize; i++) {
      const value = (samples[i]! / fullScale - m) / s;
      tensor[spec.input.layout === 'NCHW' ? c * planeSize + i : i * channels + c] = value;
    }
  }
  return tensor;
}
