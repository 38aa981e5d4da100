import { Rng, type Dataset } from '@trellis-ml/core';
import { loadFashionMnist, loadMnist } from '@trellis-ml/datasets';
import type { GroupReport } from './groupMetrics.js';
import { classGroups, classSetGroups, imbalanceByClass, pairedTransformedSet, transformedMinority } from './groups.js';
import type { FairPruneSettings, GroupDesign } from './settings.js';

/**
 * The data of the `trellis fair-prune` reproduction: the dataset splits, the seeded stratified training
 * subset, and the three group designs built on them (classes; minority classes 5–9 cut to 10%; a 5%
 * rotated-by-90° minority).
 */

const MINORITY_CLASSES = [5, 6, 7, 8, 9];

/** The flattened train and test splits of the reproduction's dataset, with its class names. @internal */
export interface StudyData {
  train: Dataset;
  test: Dataset;
  classNames: string[];
}

/** Loads the train and test splits of `dataset` (flattened) and its class names. @internal */
export function loadStudyData(dataset: FairPruneSettings['dataset']): StudyData {
  const load = dataset === 'mnist' ? loadMnist : loadFashionMnist;
  const train = load({ split: 'train', flatten: true });
  const test = load({ split: 'test', flatten: true });
  const classNames = dataset === 'mnist' ? ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']
    : ['T-shirt', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];
  return { train, test, classNames };
}

/** One group design's train and test sets with group ids, its group names and its focus groups. @internal */
export interface DesignData {
  train: Dataset;
  test: Dataset;
  numGroups: number;
  groupNames: string[];
  /** Groups whose accuracy drop is compared with the rest (the "minority or hard" groups). */
  focusGroups: (dense: GroupReport) => number[];
}

/** A seeded subset of `size` examples with an equal count per class (`data` itself when it is not larger). @internal */
export function stratifiedSubset(data: Dataset, size: number, seed: number): Dataset {
  if (size >= data.size) return data;
  const rng = Rng.derive(seed, 'subset');
  const perm = rng.permutation(data.size);
  const perClass = Math.floor(size / data.numClasses);
  const taken = new Array<number>(data.numClasses).fill(0);
  const keep: number[] = [];
  for (const i of perm) {
    const l = data.labels![i]!;
    if (taken[l]! < perClass) {
      taken[l] = taken[l]! + 1;
      keep.push(i);
    }
  }
  keep.sort((a, b) => a - b);
  return data.subset(keep);
}

/** Builds one group design on the training subset and the test split (`seed` draws the imbalance and the rotated minority). @internal */
export function buildDesign(design: GroupDesign, train: Dataset, test: Dataset, classNames: readonly string[], seed: number): DesignData {
  if (design === 'classes') {
    return {
      train: classGroups(train), test: classGroups(test), numGroups: train.numClasses, groupNames: [...classNames],
      // the hard groups: the three with the lowest dense test accuracy
      focusGroups: (dense) => dense.perGroup.map((g, a) => [g.accuracy, a] as const).sort((x, y) => x[0] - y[0]).slice(0, 3).map(([, a]) => a),
    };
  }
  if (design === 'minority-classes') {
    const keep: Record<number, number> = {};
    for (const c of MINORITY_CLASSES) keep[c] = 0.1;
    const imb = imbalanceByClass(train, keep, seed);
    return {
      train: classSetGroups(imb, MINORITY_CLASSES), test: classSetGroups(test, MINORITY_CLASSES), numGroups: 2,
      groupNames: ['majority classes 0-4', 'minority classes 5-9 (10% of data)'], focusGroups: () => [1],
    };
  }
  return {
    train: transformedMinority(train, { fraction: 0.05, transform: 'rot90', seed }), test: pairedTransformedSet(test, 'rot90'), numGroups: 2,
    groupNames: ['upright', 'rotated 90° (5% of data)'], focusGroups: () => [1],
  };
}
