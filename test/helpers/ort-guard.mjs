// Preloaded (NODE_OPTIONS=--import=...) into a CLI under test: a process that loads ONNX Runtime
// with a command line long enough to crash it (src/commands/relaunch.ts) exits 99 at once, so a
// test sees the mistake even on a machine whose stack is big enough to survive it.
import { commandLineBytes, ORT_SAFE_COMMAND_LINE_BYTES } from '../../dist/commands/relaunch.js';

const dlopen = process.dlopen;
process.dlopen = function guardedDlopen(module, filename, ...rest) {
  if (/onnxruntime/.test(filename) && commandLineBytes() > ORT_SAFE_COMMAND_LINE_BYTES) {
    process.stderr.write(`ort-guard: ONNX Runtime loaded with a ${commandLineBytes()}-byte command line\n`);
    process.exit(99);
  }
  return dlopen.call(this, module, filename, ...rest);
};
