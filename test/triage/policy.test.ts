import test from 'ava';
import { rejectionTriage, resolveThresholds, triage, DEFAULT_THRESHOLDS } from '../../src/triage/policy.js';

const labels = ['normal', 'fracture', 'dislocation'];

test('GREEN only when P(normal) reaches the threshold', (t) => {
  t.is(triage(labels, [0.95, 0.03, 0.02], DEFAULT_THRESHOLDS).level, 'GREEN');
  t.is(triage(labels, [0.89, 0.06, 0.05], DEFAULT_THRESHOLDS).level, 'AMBER');
  t.is(triage(labels, [0.95, 0.03, 0.02], { greenMinNormal: 0.97, redMinAbnormal: 0.6 }).level, 'AMBER');
});

test('RED for a confident abnormal class, naming it', (t) => {
  const fracture = triage(labels, [0.1, 0.8, 0.1], DEFAULT_THRESHOLDS);
  t.is(fracture.level, 'RED');
  t.regex(fracture.reason, /fracture suspected \(P=80\.0%\)/);
  t.regex(triage(labels, [0.05, 0.05, 0.9], DEFAULT_THRESHOLDS).reason, /dislocation/);
});

test('low confidence is AMBER "review"', (t) => {
  const result = triage(labels, [0.45, 0.5, 0.05], DEFAULT_THRESHOLDS);
  t.is(result.level, 'AMBER');
  t.regex(result.reason, /review/);
});

test('malformed probabilities are never GREEN', (t) => {
  for (const probabilities of [[Number.NaN, 0, 0], [1.2, -0.2, 0], [0.99, 0.5, 0.5], [0.99, 0.01]]) {
    t.is(triage(labels, probabilities, DEFAULT_THRESHOLDS).level, 'AMBER', JSON.stringify(probabilities));
  }
});

test('config beats manifest beats built-in thresholds', (t) => {
  t.deepEqual(resolveThresholds({ greenMinNormal: 0.99 }, { greenMinNormal: 0.95, redMinAbnormal: 0.7 }), { greenMinNormal: 0.99, redMinAbnormal: 0.7 });
  t.deepEqual(resolveThresholds({}, undefined), DEFAULT_THRESHOLDS);
});

test('rejections are AMBER and say whether to retake', (t) => {
  t.deepEqual(rejectionTriage('E_IMAGE_CORRUPT'), { level: 'AMBER', reason: 'unreadable image — retake' });
  const processing = rejectionTriage('E_INFERENCE_FAILED');
  t.is(processing.level, 'AMBER');
  t.regex(processing.reason, /processing error/);
});

test('a DICOM header that says it is not a c-spine lateral makes any result AMBER, with that reason', (t) => {
  const green = [0.97, 0.02, 0.01];
  const red = [0.05, 0.9, 0.05];
  const chest = triage(labels, green, DEFAULT_THRESHOLDS, { bodyPartExamined: 'CHEST', viewPosition: 'PA' });
  t.is(chest.level, 'AMBER');
  t.regex(chest.reason, /not a cervical-spine lateral \(BodyPartExamined CHEST, ViewPosition PA\)/);
  t.is(triage(labels, red, DEFAULT_THRESHOLDS, { bodyPartExamined: 'CSPINE', viewPosition: 'AP' }).level, 'AMBER');
  t.regex(triage(labels, red, DEFAULT_THRESHOLDS, { bodyPartExamined: 'CSPINE', viewPosition: 'AP' }).reason, /ViewPosition AP/);
  // A c-spine lateral, or a header that says nothing, leaves the model's answer alone.
  t.is(triage(labels, green, DEFAULT_THRESHOLDS, { bodyPartExamined: 'CSPINE', viewPosition: 'LL' }).level, 'GREEN');
  t.is(triage(labels, green, DEFAULT_THRESHOLDS, { bodyPartExamined: null, viewPosition: null }).level, 'GREEN');
  t.is(triage(labels, red, DEFAULT_THRESHOLDS, { bodyPartExamined: 'HWS', viewPosition: 'RL' }).level, 'RED');
});
