/**
 * Trainer plugins of retrain-cost: the energy/carbon tracker as a plugin that measures every
 * epoch, writes per-epoch energy into the epoch logs and hands each epoch's report back to the loop.
 */
import type { TrainerContext, TrainerPlugin } from '@trellis-ml/core';
import { EnergyTracker, type EnergyReport, type TrackerOptions } from './tracker.js';

/** Options of {@link energyTrackerPlugin}. */
export interface EnergyPluginOptions {
  /**
   * Use this tracker (else one is created from `tracker` options). The plugin stops only a tracker it started
   * (at fit end, or on `dispose` after a fit that threw); one already running at fit start is left running.
   */
  tracker?: EnergyTracker | TrackerOptions;
  /** Called after each epoch with that epoch's report (returned into the loop). */
  onEpoch?: (epoch: number, report: EnergyReport) => void;
  /** Plugin name (default `energy`). */
  name?: string;
}

/** Serializable state: per-epoch reports (so a resumed run keeps its history). */
export interface EnergyPluginState {
  epochs: Array<{ epoch: number; report: EnergyReport }>;
}

/** The plugin plus access to its tracker and per-epoch reports. */
export interface EnergyTrackerPlugin extends TrainerPlugin<EnergyPluginState> {
  readonly tracker: EnergyTracker;
  /** Reports of finished epochs, in order. */
  readonly epochs: Array<{ epoch: number; report: EnergyReport }>;
}

/**
 * Measures the energy and carbon of training: samples on every batch end (throttled to the
 * tracker's interval), and logs `energy_kWh`, `energy_kgCO2e`, `energy_cpuW` and
 * `energy_metered` (1/0) per epoch. Evaluation done inside `fit` counts toward the epoch.
 */
export function energyTrackerPlugin(options: EnergyPluginOptions = {}): EnergyTrackerPlugin {
  const tracker = options.tracker instanceof EnergyTracker ? options.tracker : new EnergyTracker({ timer: false, ...(options.tracker ?? {}) });
  const epochs: Array<{ epoch: number; report: EnergyReport }> = [];
  let startedHere = false;
  const task = (e: number): string => `epoch-${e}`;
  return {
    name: options.name ?? 'energy',
    apiVersion: 1,
    order: 'post',
    tracker,
    epochs,
    onFitStart() {
      if (!tracker.running) {
        tracker.start();
        startedHere = true;
      }
    },
    onEpochStart(ctx: TrainerContext) {
      tracker.startTask(task(ctx.epoch));
    },
    onBatchEnd() {
      tracker.tick();
    },
    onEpochEnd(ctx: TrainerContext) {
      const report = tracker.stopTask(task(ctx.epoch));
      epochs.push({ epoch: ctx.epoch, report });
      ctx.logs.energy_kWh = report.kWh;
      ctx.logs.energy_kgCO2e = report.kgCO2e;
      ctx.logs.energy_cpuW = report.avgPowerW.cpu;
      ctx.logs.energy_metered = report.energyKind === 'metered' ? 1 : 0;
      options.onEpoch?.(ctx.epoch, report);
    },
    onFitEnd() {
      if (startedHere) {
        tracker.stop();
        startedHere = false;
      }
    },
    getState(): EnergyPluginState {
      return { epochs: epochs.map((e) => ({ epoch: e.epoch, report: { ...e.report } })) };
    },
    setState(s: EnergyPluginState) {
      epochs.splice(0, epochs.length, ...s.epochs);
    },
    dispose() {
      // only a tracker this plugin started (a fit that threw before onFitEnd): a user's own running tracker is theirs to stop
      if (startedHere && tracker.running) tracker.stop();
      startedHere = false;
    },
  };
}
