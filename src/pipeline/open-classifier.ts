import path from 'node:path';
import type { Config } from '../config/schema.js';
import { decodeLimitsFor } from '../imaging/model-resolution.js';
import { InferenceEngine } from '../model/inference.js';
import { loadModelPackage } from '../model/model-package.js';
import { loadTrustedKeys } from '../model/signature.js';
import { appliedThresholds } from '../triage/policy.js';
import { Classifier } from './classifier.js';

/** The configured model package, verified (signed by a trusted key, when model.trustedKeys lists any) and warmed up, behind a ready classifier. */
export async function openClassifier(config: Config, modelDir = path.resolve(config.model.dir, config.model.id), variant = config.model.variant): Promise<Classifier> {
  const model = await loadModelPackage(modelDir, variant, { trustedKeys: loadTrustedKeys(config.model.trustedKeys) });
  const engine = await InferenceEngine.open(model, config.model);
  return new Classifier(engine, { limits: decodeLimitsFor(config.imaging, model.manifest.input), thresholds: appliedThresholds(config.triage, model.manifest.triage), quality: config.quality, orientationSearch: config.triage.orientationSearch, orientationMaxScore: config.triage.orientationMaxScore });
}
