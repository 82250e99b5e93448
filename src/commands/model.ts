import path from 'node:path';
import type { Config } from '../config/schema.js';
import { evaluate, writeReport } from '../model/evaluate.js';
import { openClassifier } from '../pipeline/open-classifier.js';
import { ProgressBar } from '../ui/progress.js';

/** `cspine-edge model evaluate MODEL_DIR --data DIR [--out DIR]`. */
export async function modelEvaluateCommand(config: Config, options: { modelDir: string; dataDir: string; outDir?: string | undefined }): Promise<number> {
  const classifier = await openClassifier(config, path.resolve(options.modelDir));
  try {
    let progress: ProgressBar | undefined;
    const { report, samples } = await evaluate(classifier, options.dataDir, (_done, total, file) => {
      progress ??= new ProgressBar(total);
      progress.tick(path.basename(file));
    });
    const outDir = options.outDir ?? path.join(options.modelDir, 'evaluation');
    const files = await writeReport(report, samples, outDir, classifier.engine.model.manifest.labels);
    const { metrics } = report;
    process.stdout.write(
      [
        `accuracy ${(metrics.accuracy * 100).toFixed(2)}% over ${metrics.count} images (${report.data.rejected.length} rejected)`,
        ...metrics.perClass.map(
          (c) => `  ${c.label.padEnd(12)} sensitivity ${(c.recall * 100).toFixed(1)}%  specificity ${(c.specificity * 100).toFixed(1)}%  AUC ${Number.isNaN(c.rocAuc) ? 'n/a' : c.rocAuc.toFixed(4)}`,
        ),
        `ECE ${metrics.expectedCalibrationError.toFixed(4)}; CAM localisation ${report.camLocalisation ? `${(report.camLocalisation.share * 100).toFixed(1)}%` : 'n/a'}`,
        `wrote ${files.join(', ')}`,
        '',
      ].join('\n'),
    );
    return 0;
  } finally {
    await classifier.engine.close();
  }
}
