import { claim, type Claim, type Dataset } from '@trellis-ml/core';
import { FASHION_MNIST_CLASSES, MNIST_CLASSES, loadFashionMnist, loadMnist, type ImageLoaderOptions } from '@trellis-ml/datasets';
import type { ClassPair } from './similarity.js';

/** The datasets of the reproduction (spec §10: MNIST and Fashion-MNIST), the values of `--set dataset=`. */
export type DistillDatasetName = 'fashion' | 'mnist';

/** A claim whose threshold and wording depend on the dataset (spec §10.4 has one column per dataset). */
export interface DatasetClaim {
  /** Claim id (the same on both datasets unless the claim itself differs). */
  id: string;
  /** The claim's statement in the report and `summary.json`. */
  statement: string;
  /** Comparator of the measured value against `threshold`. */
  comparator: '>=' | '<=';
  /** The dataset's threshold. */
  threshold: number;
}

/** Everything of the reproduction that follows the dataset: data, class names, spec expectations and claim thresholds. */
export interface DistillDataset {
  /** The `--set dataset=` value. */
  name: DistillDatasetName;
  /** The dataset's id in the run record and `summary.json` (`dataset`). */
  id: 'fashion-mnist' | 'mnist';
  /** Display name (report, log). */
  title: string;
  /** Class names by label (similarity-matrix heat maps, top pairs). */
  classNames: readonly string[];
  /** The loader of `@trellis-ml/datasets` (`split`, `limit`, `flatten`). */
  load: (options: ImageLoaderOptions) => Dataset;
  /** Where the validation images come from (report intro). */
  splitText: string;
  /** Spec §10.1's approximate training-pixel mean / std (reference only: the run recomputes them). */
  specStats: { mean: number; std: number };
  /** The spec's expected similar pairs as `"a-b"` label keys with a < b. */
  expectedPairs: ReadonlySet<string>;
  /** `matrix-structure`: expected pairs among the top 5 of S (statement and threshold). */
  structure: DatasetClaim;
  /** `reffakd-ge-ce`: ReffAKD-AE − CE, pp. */
  reffakdGeCe: DatasetClaim;
  /** `reffakd-near-kd`: KD − ReffAKD, pp. */
  reffakdNearKd: DatasetClaim;
  /** The label-smoothing comparison: its measured value from the paired mean ReffAKD-AE − LS (pp). */
  ls: DatasetClaim & { measure: (reffakdMinusLs: number) => number };
}

/** `"a-b"` keys (a < b) of pairs given as `[a, b]`. */
const pairKeys = (pairs: Array<[number, number]>): ReadonlySet<string> => new Set(pairs.map(([a, b]) => `${Math.min(a, b)}-${Math.max(a, b)}`));

/** The two datasets of spec §10 (exported for tests). */
export const DISTILL_DATASETS: Readonly<Record<DistillDatasetName, DistillDataset>> = {
  fashion: {
    name: 'fashion',
    id: 'fashion-mnist',
    title: 'Fashion-MNIST',
    classNames: FASHION_MNIST_CLASSES,
    load: loadFashionMnist,
    splitText: 'the datasets package\'s fixed split; validation is the last 600 training images of each class',
    specStats: { mean: 0.286, std: 0.353 },
    // spec §2.3: T-shirt↔Shirt, Pullover↔Coat, Coat↔Shirt, Sandal↔Sneaker↔Ankle boot, Bag↔Pullover/Coat
    expectedPairs: pairKeys([[0, 6], [2, 4], [4, 6], [5, 7], [7, 9], [5, 9], [2, 8], [4, 8]]),
    structure: {
      id: 'matrix-structure', comparator: '>=', threshold: 3,
      statement: 'pairs the spec expects (T-shirt↔Shirt, Pullover↔Coat, Coat↔Shirt, Sandal↔Sneaker↔Ankle boot, Bag↔Pullover/Coat) among the top 5 of S',
    },
    reffakdGeCe: {
      id: 'reffakd-ge-ce', comparator: '>=', threshold: 0,
      statement: 'ReffAKD-AE student ≥ hard-label (CE) student: paired test-accuracy difference, pp (final epoch)',
    },
    reffakdNearKd: {
      id: 'reffakd-near-kd', comparator: '<=', threshold: 0.4,
      statement: 'ReffAKD-AE within the spec band (0.4 pp) of the teacher-KD student: KD − ReffAKD, pp',
    },
    ls: {
      id: 'reffakd-beats-ls', comparator: '>=', threshold: 0.2, measure: (d) => d,
      statement: 'ReffAKD-AE beats label smoothing by ≥ 0.2 pp (spec §12 target)',
    },
  },
  mnist: {
    name: 'mnist',
    id: 'mnist',
    title: 'MNIST',
    classNames: MNIST_CLASSES,
    load: loadMnist,
    splitText: 'the official 60,000/10,000 split; validation is the last training images in file order, as spec §10.1\'s last 6,000',
    specStats: { mean: 0.1307, std: 0.3081 },
    // spec §2.3 / §10.4: 4↔9, 7↔9, 3/5↔8, 2↔6
    expectedPairs: pairKeys([[4, 9], [7, 9], [3, 8], [5, 8], [2, 6]]),
    structure: {
      id: 'matrix-structure', comparator: '>=', threshold: 3,
      statement: 'pairs the spec expects on MNIST (§2.3: 4↔9, 7↔9, 3↔8, 5↔8, 2↔6) among the top 5 of S; ≥ 3 because §10.4 names three top pairs for MNIST (4↔9, 7↔9, 3/5↔8)',
    },
    reffakdGeCe: {
      id: 'reffakd-ge-ce', comparator: '>=', threshold: -0.05,
      statement: 'ReffAKD-AE student ≥ hard-label (CE) student within the spec\'s MNIST band (§10.4: ≥ −0.05 pp, expected 0…+0.25): paired test-accuracy difference, pp (final epoch)',
    },
    reffakdNearKd: {
      id: 'reffakd-near-kd', comparator: '<=', threshold: 0.3,
      statement: 'ReffAKD-AE within the spec\'s MNIST band (§10.4: 0.3 pp) of the teacher-KD student: KD − ReffAKD, pp',
    },
    ls: {
      id: 'reffakd-vs-ls', comparator: '<=', threshold: 0.2, measure: (d) => Math.abs(d),
      statement: '|ReffAKD-AE − label smoothing| ≤ 0.2 pp (spec §10.4 MNIST: a tie within ±0.2 pp expected; §12\'s ≥ 0.2 pp win over LS is a Fashion-MNIST target)',
    },
  },
};

/** How many of `pairs` (e.g. the top 5 of S) are among the dataset's expected similar pairs. */
export function expectedPairHits(pairs: readonly ClassPair[], dataset: DistillDataset): number {
  return pairs.filter((p) => dataset.expectedPairs.has(`${Math.min(p.a, p.b)}-${Math.max(p.a, p.b)}`)).length;
}

/**
 * The claim `c` of a dataset for a measured value. A value within 1e-9 of the threshold counts as the
 * threshold: the accuracy differences are whole test images (one image = −0.05 pp of 2,000), which
 * floating-point subtraction can put a hair outside an inclusive bound (−0.0500000000000056 < −0.05).
 */
export function datasetClaim(c: DatasetClaim, measured: number, seeds: number[], detail?: string): Claim {
  return claim(c.id, c.statement, Math.abs(measured - c.threshold) < 1e-9 ? c.threshold : measured, c.comparator, c.threshold, seeds, detail);
}
