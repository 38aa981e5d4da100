import { readFile } from 'node:fs/promises';
import { claimFigures, interruptAndResume } from '@trellis-ml/testkit';
import { beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { experiment } from '../src/experiment.js';
import { useCpu } from './helpers.js';

beforeAll(useCpu);

// a tiny MLP-tier run with a 2 × 1 ReffAKD/KD grid, one LS and one Tf-KD cell, and two seeds of students
const TINY = {
  trainSize: 120, valSize: 40, testSize: 40, batchSize: 40, teacherHidden: '16', studentHidden: '8', teacherEpochs: 1, teacherMilestones: '9',
  studentEpochs: 1, studentMilestones: '9', aeEpochs: 1, samplesPerClass: 3, extras: false,
  grid: true, gridEpochs: 1, gridT: '1,4', gridAlpha: '0.5', gridEps: '0.1', gridTfkdAlpha: '0.1', temperatureSweepAlpha: '',
};

describe('trellis distill --resume', () => {
  it('an interrupted run trains the teacher and generators again, replays its finished grid cells and students, and ends with the uninterrupted run\'s figures', async () => {
    // 6 grid cells, then the students of seed 1: cut after the grid and two students
    const { whole, resumed, resumedLog, metrics, units, cleanup } = await interruptAndResume(experiment, { mode: 'quick', seed: 3, seeds: [3, 4], params: TINY }, { keep: 8 });
    onTestFinished(cleanup); // the runs' temporary directory
    expect(units.kept).toBe(8);
    expect(units.total).toBeGreaterThan(12);
    expect(resumedLog.join('\n')).toContain('8 finished grid cells and student runs are replayed');
    // the grid ran once: no grid line in the resumed run's log
    expect(resumedLog.filter((l) => l.includes('distill: grid '))).toEqual([]);
    const untimed = (r: typeof whole) => claimFigures(r, (id) => /time|pipeline-macs|track-macs/.test(id));
    expect(untimed(resumed).length).toBeGreaterThan(5);
    expect(untimed(resumed)).toEqual(untimed(whole));
    const figures = async (r: typeof whole) => {
      const s = JSON.parse(await readFile(r.summaryPath, 'utf8')) as Record<string, unknown>;
      return { grid: s.grid, tuned: s.tuned, accuracy: s.accuracy, matrix: s.matrix };
    };
    const [a, b] = [await figures(whole), await figures(resumed)];
    expect(a.accuracy).toBeDefined();
    expect(b).toEqual(a);
    expect(metrics.resumed).toHaveLength(metrics.whole.length);
  }, 300_000);
});
