/**
 * The retraining harness (spec §7.1, §10.4): continue training a deployed model on shifted data
 * until its accuracy on a shifted test set reaches a target, evaluating every fraction of an
 * epoch, and measure what that cost — optimiser steps, epochs, energy, CO2e, gradient norms and
 * parameter change.
 */
import * as tf from '@tensorflow/tfjs-core';
import { evaluate, Rng, Trainer, TrellisError, type Dataset, type ModelAdapter, type TrainerPlugin } from '@trellis-ml/core';
import { EnergyTracker, type EnergyReport, type TrackerOptions } from './tracker.js';

/** Options of {@link retrainToTarget}. */
export interface RetrainOptions {
  /** Target accuracy on `test`, in [0, 1]. */
  target: number;
  /** Epoch cap; a run that hits it is censored. */
  maxEpochs: number;
  /** Evaluate every this fraction of an epoch (default 0.25). */
  evalEvery?: number;
  /** Plateau cutoffs: once accuracy first comes within `accDiff` of the target, stop (censored) after `evals` more evaluations. */
  cutoffs?: Array<{ accDiff: number; evals: number }>;
  /** Optimizer factory (default Adam 1e-3, fresh per run). */
  optimizer?: () => tf.Optimizer;
  batchSize?: number;
  /**
   * Tracker (or its options) measuring the training passes (evaluation excluded). A stopped tracker is started
   * afresh (its totals and log cleared) and stopped at the end; a running one keeps running, and
   * `energyIncludingEval` is then the difference over this call.
   */
  tracker?: EnergyTracker | TrackerOptions;
  seed: number;
  /** Extra Trainer plugins. */
  plugins?: TrainerPlugin[];
  /** Called after each evaluation. */
  onEval?: (e: { step: number; epoch: number; accuracy: number }) => void;
}

/** What a retraining run cost. */
export interface RetrainCost {
  /** Optimiser steps until the first evaluation at or above the target (or until stopping). */
  steps: number;
  /** `max(1, ⌈steps / stepsPerEpoch⌉)` — the lab's whole-epoch count. */
  epochs: number;
  /** `steps / stepsPerEpoch`. */
  epochsFractional: number;
  stepsPerEpoch: number;
  /** True when the run stopped at the cap or a plateau cutoff without reaching the target. */
  censored: boolean;
  reached: boolean;
  stopReason: 'target' | 'cap' | 'cutoff';
  initialAcc: number;
  finalAcc: number;
  /** Energy of the training passes only (as the lab's CodeCarbon decorator). */
  energy: EnergyReport;
  /** Energy of the whole call, evaluations included (the tracker's own total). */
  energyIncludingEval: EnergyReport;
  /** Energy of each epoch's training passes. */
  energyPerEpoch: EnergyReport[];
  /** Global gradient L2 norm of each epoch's last mini-batch (for the epoch where the run stopped: its last trained mini-batch). */
  gradNormPerEpoch: number[];
  /** Mean over tensors of ‖θ − θ₀‖₂ / √numel at each epoch end. */
  paramChangePerEpoch: number[];
  evals: Array<{ step: number; accuracy: number }>;
  wallS: number;
}

/** Sums energy reports of disjoint intervals. */
export function addReports(reports: EnergyReport[], template: EnergyReport): EnergyReport {
  const sum = (f: (r: EnergyReport) => number): number => reports.reduce((s, r) => s + f(r), 0);
  const durationS = sum((r) => r.durationS);
  const d = durationS > 0 ? durationS : 1;
  const cpuKWh = sum((r) => r.cpuKWh);
  const gpuKWh = sum((r) => r.gpuKWh);
  const ramKWh = sum((r) => r.ramKWh);
  return {
    ...template, durationS, cpuS: sum((r) => r.cpuS), cpuKWh, gpuKWh, ramKWh, kWh: sum((r) => r.kWh), kgCO2e: sum((r) => r.kgCO2e),
    avgPowerW: { cpu: (cpuKWh * 3.6e6) / d, gpu: (gpuKWh * 3.6e6) / d, ram: (ramKWh * 3.6e6) / d }, samples: sum((r) => r.samples),
    raplReadFailures: sum((r) => r.raplReadFailures ?? 0),
  };
}

/**
 * Throws `BAD_OPTION` unless `evalEvery` is a finite number > 0 and each cutoff has a finite `accDiff` ≥ 0 and a
 * whole `evals` ≥ 0: a NaN `evalEvery` used to evaluate only at epoch ends and a negative one after every step, a
 * NaN `accDiff` never stopped the run, and a negative `evals` stopped it at the first evaluation.
 */
function checkRetrainSchedule(options: RetrainOptions): void {
  const e = options.evalEvery;
  if (e !== undefined && !(typeof e === 'number' && Number.isFinite(e) && e > 0)) {
    throw new TrellisError('BAD_OPTION', `evalEvery ${typeof e === 'string' ? `"${e}"` : String(e)} is not a positive fraction of an epoch`, 'pass evalEvery > 0, e.g. 0.25 (the default: four evaluations per epoch) or 1 (once per epoch)');
  }
  const cutoffs = options.cutoffs ?? [];
  if (!Array.isArray(cutoffs)) {
    throw new TrellisError('BAD_OPTION', `cutoffs ${String(cutoffs)} is not a list`, 'pass cutoffs: [{ accDiff: 0.01, evals: 8 }, …], or leave it out for none');
  }
  cutoffs.forEach((c, i) => {
    const ok = c !== null && typeof c === 'object' && typeof c.accDiff === 'number' && Number.isFinite(c.accDiff) && c.accDiff >= 0
      && Number.isInteger(c.evals) && c.evals >= 0;
    if (!ok) {
      throw new TrellisError('BAD_OPTION', `cutoff ${i} ${JSON.stringify(c) ?? String(c)} is not { accDiff: a number ≥ 0, evals: a whole number ≥ 0 }`,
        'pass e.g. { accDiff: 0.01, evals: 8 }: stop 8 evaluations after accuracy first comes within 0.01 of the target');
    }
  });
}

/**
 * Retrains `model` (in place) on `train` until its accuracy on `test` reaches `target`, with
 * evaluations every `evalEvery` epoch, and returns the measured cost.
 * @throws TrellisError `BAD_TARGET` / `BAD_EPOCHS` for a target outside (0, 1] or a `maxEpochs` that is not a whole
 * number ≥ 1, `BAD_OPTION` for an `evalEvery` that is not a number > 0 or a malformed cutoff.
 */
export async function retrainToTarget(model: ModelAdapter, train: Dataset, test: Dataset, options: RetrainOptions): Promise<RetrainCost> {
  if (!(options.target > 0 && options.target <= 1)) {
    throw new TrellisError('BAD_TARGET', `target accuracy ${options.target} is not in (0, 1]`, 'pass the target as a fraction, e.g. 0.96');
  }
  if (!(Number.isInteger(options.maxEpochs) && options.maxEpochs >= 1)) {
    throw new TrellisError('BAD_EPOCHS', `maxEpochs ${options.maxEpochs} is not a positive integer`, 'pass maxEpochs ≥ 1');
  }
  checkRetrainSchedule(options);
  const t0 = Date.now();
  const batchSize = options.batchSize ?? 32;
  const stepsPerEpoch = train.numBatches(batchSize);
  const evalSteps = Math.max(1, Math.round((options.evalEvery ?? 0.25) * stepsPerEpoch));
  const tracker = options.tracker instanceof EnergyTracker ? options.tracker : new EnergyTracker({ timer: false, ...(options.tracker ?? {}) });
  let wantNorm = false;
  let lastNorm = NaN;
  const normPlugin: TrainerPlugin = {
    name: 'retrain-cost/grad-norm', apiVersion: 1, order: 'post',
    transformGradients(grads) {
      if (wantNorm) {
        lastNorm = tf.tidy(() => Math.sqrt(Object.values(grads).reduce((s, g) => s + (tf.sum(tf.square(g)).dataSync()[0] ?? 0), 0)));
      }
      return grads;
    },
  };
  const trainer = new Trainer({ model, seed: options.seed, batchSize, optimizer: options.optimizer ? options.optimizer() : tf.train.adam(1e-3), plugins: [...(options.plugins ?? []), normPlugin] });
  const theta0 = new Map(Object.entries(model.trainableVariables()).map(([k, v]) => [k, v.dataSync().slice() as Float32Array]));
  const paramChange = (): number => {
    let s = 0;
    let c = 0;
    for (const [k, v] of Object.entries(model.trainableVariables())) {
      const a = v.dataSync();
      const b = theta0.get(k)!;
      let d = 0;
      for (let i = 0; i < a.length; i++) d += (a[i]! - b[i]!) ** 2;
      s += Math.sqrt(d) / Math.sqrt(a.length);
      c++;
    }
    return c ? s / c : 0;
  };
  const acc = (): number => evaluate(model, test, { batchSize: 256 }).accuracy;
  const evals: Array<{ step: number; accuracy: number }> = [];
  const initialAcc = acc();
  evals.push({ step: 0, accuracy: initialAcc });
  options.onEval?.({ step: 0, epoch: 0, accuracy: initialAcc });
  const segments: EnergyReport[] = [];
  const perEpoch: EnergyReport[] = [];
  const gradNorms: number[] = [];
  const changes: number[] = [];
  let step = 0;
  let stopReason: RetrainCost['stopReason'] = initialAcc >= options.target ? 'target' : 'cap';
  const cutoffCount = (options.cutoffs ?? []).map(() => -1);
  let finalAcc = initialAcc;
  const wasRunning = tracker.running;
  tracker.start();
  const before = wasRunning ? tracker.snapshot() : tracker.emptyReport();
  let all: EnergyReport | null = null;
  try {
    outer: for (let epoch = 0; epoch < options.maxEpochs && stopReason !== 'target'; epoch++) {
      const epochSegs: EnergyReport[] = [];
      tracker.startTask('retrain-segment');
      let b = 0;
      for (const batch of train.batches(batchSize, { rng: Rng.derive(options.seed, 'retrain-shuffle', epoch) })) {
        // the norm of the last mini-batch before each evaluation, so a run that stops mid-epoch records its last step's norm
        wantNorm = b === stepsPerEpoch - 1 || (step + 1) % evalSteps === 0;
        trainer.context.epoch = epoch;
        trainer.context.batchIndex = b++;
        await trainer.trainStep(batch);
        step++;
        tracker.tick();
        if (step % evalSteps === 0 || b === stepsPerEpoch) {
          epochSegs.push(tracker.stopTask('retrain-segment'));
          const a = acc();
          finalAcc = a;
          evals.push({ step, accuracy: a });
          options.onEval?.({ step, epoch, accuracy: a });
          await new Promise<void>((r) => setImmediate(r)); // let timers (tracker, progress, RPC) run
          let stop = (a >= options.target ? 'target' : null) as RetrainCost['stopReason'] | null;
          (options.cutoffs ?? []).forEach((c, i) => {
            if (cutoffCount[i]! < 0 && a >= options.target - c.accDiff) cutoffCount[i] = 0;
            else if (cutoffCount[i]! >= 0) cutoffCount[i]! += 1;
            if (!stop && cutoffCount[i]! >= c.evals) stop = 'cutoff';
          });
          if (stop) {
            stopReason = stop;
            if (b < stepsPerEpoch) {
              // drain the remaining batches of this epoch's generator without training
              perEpoch.push(addReports(epochSegs, epochSegs[0]!));
              segments.push(...epochSegs);
              changes.push(paramChange());
              gradNorms.push(lastNorm);
              break outer;
            }
          }
          if (b < stepsPerEpoch) tracker.startTask('retrain-segment');
        }
      }
      perEpoch.push(addReports(epochSegs, epochSegs[0]!));
      segments.push(...epochSegs);
      gradNorms.push(lastNorm);
      changes.push(paramChange());
      if ((stopReason as RetrainCost['stopReason']) !== 'cap') break;
    }
  } finally {
    if (!wasRunning) all = tracker.stop();
    trainer.dispose();
  }
  if (!all) {
    const now = tracker.snapshot();
    all = { ...now, durationS: now.durationS - before.durationS, cpuS: now.cpuS - before.cpuS, cpuKWh: now.cpuKWh - before.cpuKWh,
      gpuKWh: now.gpuKWh - before.gpuKWh, ramKWh: now.ramKWh - before.ramKWh, kWh: now.kWh - before.kWh, kgCO2e: now.kgCO2e - before.kgCO2e, samples: now.samples - before.samples,
      raplReadFailures: now.raplReadFailures - before.raplReadFailures };
  }
  const template = segments[0] ?? tracker.emptyReport();
  const reached = (stopReason as RetrainCost['stopReason']) === 'target';
  return {
    steps: step, epochs: Math.max(1, Math.ceil(step / stepsPerEpoch)), epochsFractional: step / stepsPerEpoch, stepsPerEpoch,
    censored: !reached, reached, stopReason, initialAcc, finalAcc,
    energy: addReports(segments, template), energyIncludingEval: all, energyPerEpoch: perEpoch, gradNormPerEpoch: gradNorms, paramChangePerEpoch: changes,
    evals, wallS: (Date.now() - t0) / 1000,
  };
}
