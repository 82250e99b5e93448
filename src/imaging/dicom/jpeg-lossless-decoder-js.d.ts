// jpeg-lossless-decoder-js 2.x names a types file it does not ship; this is the part we use.
declare module 'jpeg-lossless-decoder-js' {
  export class Decoder {
    constructor(buffer?: ArrayBuffer, numBytes?: number);
    /** Decodes one JPEG Lossless (process 14) codestream; `numBytes` per sample (1 or 2). */
    decode(buffer: ArrayBuffer, offset: number, length: number, numBytes?: number): Uint8Array | Uint16Array | Int16Array;
  }
}
