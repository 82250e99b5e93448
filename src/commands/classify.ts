// No ONNX Runtime here, not even indirectly: this module decides whether the process may load
// it (relaunch.ts); the classification itself is classify-files.ts, imported after that.
import { expandInputs, formatFileList, readFileList } from './classify-inputs.js';
import { commandConfig, CONFIG_OPTION, defineCommand, UsageError } from './options.js';
import { commandLineBytes, ORT_SAFE_COMMAND_LINE_BYTES, rerunWithInput } from './relaunch.js';

export const classify = defineCommand({
  synopsis: 'classify FILE|DIR... [--files-from LIST|-] [--json] [--model DIR] [--heatmap DIR]',
  about: `Classifies files without the service; one line per file, in order, on stdout. A DIR stands
for the files below it (recursively, sorted by name, without hidden files and partial uploads).
Exit status: 0 all classified, 2 any rejected, 1 internal failure (e.g. no usable model).`,
  operands: true,
  options: {
    'files-from': { type: 'string' },
    json: { type: 'boolean', default: false },
    model: { type: 'string' },
    heatmap: { type: 'string' },
    ...CONFIG_OPTION,
  },
  optionHelp: `  --files-from LIST|-       more FILEs and DIRs, one per line, from the file LIST or stdin (-),
                            after those on the command line; NUL-separated when the list holds
                            a NUL (find -print0)
  --json                    one JSON line per file (docs/errors.md has the codes)
  --model DIR               this model package instead of the configured one
  --heatmap DIR             write <name>.heatmap.jpg overlays here (models with a CAM output; imaging.heatmapFormat)`,
  run: async ({ values, positionals }) => {
    const listSource = values['files-from'];
    if (positionals.length === 0 && listSource === undefined) throw new UsageError('classify needs at least one FILE (or a DIR, or --files-from LIST)');
    const listed = listSource === undefined ? [] : await readList(listSource);
    const files = await expandInputs([...positionals, ...listed]);
    if (files.length === 0) {
      process.stderr.write('cspine-edge classify: no files to classify\n');
      return 0;
    }
    // A long command line would crash ONNX Runtime (relaunch.ts): the work goes to a child
    // process with a short one, the files on its stdin. Only operands make it long, and the
    // child has none, so it never relaunches in turn.
    if (positionals.length > 0 && commandLineBytes() > ORT_SAFE_COMMAND_LINE_BYTES) {
      const options = [
        ...(values.json ? ['--json'] : []),
        ...(values.model === undefined ? [] : [`--model=${values.model}`]),
        ...(values.heatmap === undefined ? [] : [`--heatmap=${values.heatmap}`]),
        ...(values.config === undefined ? [] : [`--config=${values.config}`]),
      ];
      return rerunWithInput(['classify', '--files-from', '-', ...options], formatFileList(files));
    }
    const config = commandConfig(values);
    const { classifyFiles } = await import('./classify-files.js');
    return classifyFiles(config, { files, json: values.json, modelDir: values.model, heatmapDir: values.heatmap });
  },
});

async function readList(source: string): Promise<string[]> {
  try {
    return await readFileList(source);
  } catch (error) {
    throw new UsageError(`cannot read --files-from ${source}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}
