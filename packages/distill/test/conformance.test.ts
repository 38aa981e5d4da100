import { Rng, mlp } from '@trellis-ml/core';
import { conformanceData, describePluginConformance } from '@trellis-ml/testkit';
import { beforeAll } from 'vitest';
import { classSimilarityMatrix, distillPlugin, labelSmoothingPlugin, matrixGenerator, samplePerClass, teacherGenerator, tfkdRegGenerator } from '../src/index.js';
import { useCpu } from './helpers.js';

beforeAll(useCpu);

/** A ReffAKD-style matrix from the conformance data's own features (pixel-feature control), fitted up front. */
function reffakdStyleMatrix(): number[][] {
  const data = conformanceData();
  const { indices } = samplePerClass(data.labels!, 3, 8, new Rng(42));
  const sample = data.subset(indices);
  const x = sample.x.map((v) => Math.max(0, v));
  return classSimilarityMatrix(x, 8, sample.labels!, 3);
}

describePluginConformance('distill (ReffAKD-style matrix source, soft-kl)', () =>
  distillPlugin({ source: matrixGenerator(reffakdStyleMatrix(), { isLogits: true }), method: { kind: 'soft-kl', T: 4 }, ceWeight: 0.5, kdWeight: 0.5 }));

describePluginConformance('distill (DKD, Tf-KD_reg source)', () =>
  distillPlugin({ source: tfkdRegGenerator({ numClasses: 3, tau: 20 }), method: { kind: 'dkd', alpha: 1, beta: 2, T: 4 }, ceWeight: 1, kdWeight: 1 }));

// the teacher model is the caller's (the plugin never disposes it), so it is built once, before the checks
let teacher: ReturnType<typeof mlp>;
beforeAll(() => {
  teacher = mlp({ inputShape: [8], hidden: [5], numClasses: 3, seed: 7 });
});
describePluginConformance('distill (teacher, DIST)', () =>
  distillPlugin({ source: teacherGenerator(teacher, { cache: 'epoch-invariant' }), method: { kind: 'dist', tau: 1 }, ceWeight: 1, kdWeight: 1 }));

describePluginConformance('label-smoothing', () => labelSmoothingPlugin({ epsilon: 0.1 }));
