// Dense reference: does the spec's §7.3 dense recipe (LeNet-300-100, Adam 1e-3, batch 128, 10 epochs on MNIST /
// 15 on Fashion-MNIST, the --full 55,000-example stratified training subset) reach the spec's §7.4 dense bands, in
// trellis and in PyTorch (Debian's python3-torch) on the same examples? Per seed and seed means, with the band checks
// `dense-accuracy-band` uses. PyTorch runs twice: with trellis's initialisation (Glorot-uniform kernels, zero biases)
// and with torch.nn.Linear's own (Kaiming-uniform, a = √5). PyTorch is skipped when /usr/bin/python3 cannot import torch.
// Args: [datasets, default mnist,fashion] [seeds, default 1,2,3] [backend, default trellis-native]
import * as tf from '@tensorflow/tfjs-core';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Trainer, mlp, useBackend } from '@trellis-ml/core';
import { classGroups, denseBandChecks, evaluateGroups } from '../dist/index.js';
import { FULL_TRAIN_SIZE } from '../dist/settings.js';
import { loadStudyData, stratifiedSubset } from '../dist/studyDesigns.js';

const datasets = (process.argv[2] ?? 'mnist,fashion').split(',');
const seeds = (process.argv[3] ?? '1,2,3').split(',').map(Number);
await useBackend(process.argv[4] ?? 'trellis-native', { threads: 1 });
const EPOCHS = { mnist: 10, fashion: 15 };

// One training run in PyTorch on the files the node side wrote: prints the overall and the 10 per-class test accuracies as JSON.
const TORCH = `
import sys, json, numpy as np, torch
torch.set_num_threads(1)
d, seed, epochs, init = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
load = lambda n, t: np.fromfile(d + '/' + n, t)
xtr = torch.tensor(load('train-x', np.float32).reshape(-1, 784)); ytr = torch.tensor(load('train-y', np.int32).astype(np.int64))
xte = torch.tensor(load('test-x', np.float32).reshape(-1, 784)); yte = load('test-y', np.int32)
torch.manual_seed(seed)
m = torch.nn.Sequential(torch.nn.Linear(784, 300), torch.nn.ReLU(), torch.nn.Linear(300, 100), torch.nn.ReLU(), torch.nn.Linear(100, 10))
if init == 'glorot':
    for l in m:
        if isinstance(l, torch.nn.Linear): torch.nn.init.xavier_uniform_(l.weight); torch.nn.init.zeros_(l.bias)
opt = torch.optim.Adam(m.parameters(), 1e-3)
n = len(ytr)
for _ in range(epochs):
    p = torch.randperm(n)
    for i in range(0, n, 128):
        b = p[i:i + 128]; opt.zero_grad(); torch.nn.functional.cross_entropy(m(xtr[b]), ytr[b]).backward(); opt.step()
with torch.no_grad(): pred = m(xte).argmax(1).numpy()
print(json.dumps({'overall': float((pred == yte).mean()), 'perClass': [float((pred[yte == c] == c).mean()) for c in range(10)]}))
`;
const torchOk = spawnSync('/usr/bin/python3', ['-c', 'import torch, numpy'], { stdio: 'ignore' }).status === 0;
if (!torchOk) console.log('PyTorch: /usr/bin/python3 cannot import torch and numpy (apt-get install python3-torch); trellis only');

const pct = (x) => (100 * x).toFixed(2);
const mean = (xs) => xs.reduce((s, x) => s + x, 0) / xs.length;
const write = (dir, name, arr) => writeFileSync(join(dir, name), Buffer.from(arr.buffer, arr.byteOffset, arr.byteLength));

// the examples PyTorch trains and tests on: one temporary directory, the test split written once per dataset
const dir = mkdtempSync(join(tmpdir(), 'dense-reference-'));
try {
  for (const dataset of datasets) {
    const data = loadStudyData(dataset);
    const test = classGroups(data.test);
    if (torchOk) { write(dir, 'test-x', test.x); write(dir, 'test-y', test.labels); }
    const runs = { trellis: [], 'torch (Glorot init)': [], 'torch (own init)': [] };
    for (const seed of seeds) {
      const train = classGroups(stratifiedSubset(data.train, FULL_TRAIN_SIZE, seed));
      const t0 = Date.now();
      const model = mlp({ inputShape: [784], hidden: [300, 100], numClasses: 10, seed });
      const trainer = new Trainer({ model, seed, batchSize: 128, optimizer: tf.train.adam(1e-3) });
      await trainer.fit(train, { epochs: EPOCHS[dataset] });
      trainer.dispose();
      const report = evaluateGroups(model, test, 10, { bootstrapBelow: 0 });
      runs.trellis.push({ overall: report.overall.accuracy, perClass: report.perGroup.map((g) => g.accuracy) });
      model.dispose();
      const line = [`${dataset} seed ${seed}: trellis ${pct(report.overall.accuracy)}% (${((Date.now() - t0) / 1000).toFixed(0)} s)`];
      if (torchOk) {
        write(dir, 'train-x', train.x); write(dir, 'train-y', train.labels);
        for (const [name, init] of [['torch (Glorot init)', 'glorot'], ['torch (own init)', 'torch']]) {
          const r = spawnSync('/usr/bin/python3', ['-c', TORCH, dir, String(seed), String(EPOCHS[dataset]), init], { encoding: 'utf8' });
          if (r.status !== 0) throw new Error(`PyTorch exited with ${r.status}: ${r.stderr.slice(-1000)}`);
          runs[name].push(JSON.parse(r.stdout.trim().split('\n').at(-1)));
          line.push(`${name} ${pct(runs[name].at(-1).overall)}%`);
        }
      }
      console.log(line.join(', '));
    }
    for (const [name, rows] of Object.entries(runs)) {
      if (!rows.length) continue;
      const perClass = rows[0].perClass.map((_, c) => mean(rows.map((r) => r.perClass[c])));
      const checks = denseBandChecks(dataset, mean(rows.map((r) => r.overall)), perClass);
      console.log(`${dataset} ${name}, seed means: ${checks.map((b) => `${b.what} ${pct(b.measured)}% ${b.holds ? 'in' : 'OUT'}`).join('; ')}`);
    }
  }
} finally { rmSync(dir, { recursive: true, force: true }); }
