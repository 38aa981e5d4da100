// Student reference in PyTorch: do the MLP tier's students (spec §10.3: MLP 784-64-10, SGD lr 0.05, momentum 0.9,
// weight decay 5e-4 on every parameter, batch 128, 15 epochs with lr ×0.2 after epochs 5, 9 and 12, standardised
// inputs, Glorot-uniform kernels and zero biases) show the same paired differences against CE in PyTorch (Debian's
// python3-torch) as in trellis, on the same examples and with the same soft labels? Both frameworks train CE, LS,
// teacher KD and ReffAKD-AE for every seed; the ReffAKD matrix P is the one trellis's generator builds from the
// run's autoencoder (same settings and seed as `distill --full`), the teacher (784-512-512-10, 10 epochs, ×0.2
// after 3, 6, 8) is trained once per framework with the base seed, and the method settings default to the ones the
// validation grid of `distill --full --seed 1` selects on the dataset (Fashion-MNIST: ReffAKD T=1 α=0.1, KD T=20
// α=0.1, LS ε=0.1; MNIST: ReffAKD T=1 α=0.1, KD T=1 α=0.9, LS ε=0.2). Prints each framework's final test accuracy
// per method and the paired differences against CE (mean ± sample std over seeds, and how many seeds are ≥ 0).
// Skips PyTorch when /usr/bin/python3 cannot import torch and numpy.
//   node packages/distill/bench/torch-reference.mjs [dataset fashion|mnist] [seeds 1,2,…] [frameworks torch,trellis]
//     [settings, e.g. reffakdT=4,reffakdAlpha=0.5,kdT=4,kdAlpha=0.5,ls=0.1] [backend trellis-native]     (build first)
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { meanStd, useBackend } from '@trellis-ml/core';
import { EXPERIMENT_CONFIGS } from '../dist/experimentConfig.js';
import { DISTILL_DATASETS } from '../dist/experimentDatasets.js';
import { configuredTuning, reffakdSettings } from '../dist/runSetup.js';
import { methodPlugins } from '../dist/methods.js';
import { loadExperimentData, tierModels, trainModel } from '../dist/training.js';
import { reffakdGenerator, teacherGenerator } from '../dist/index.js';

const dataset = process.argv[2] ?? 'fashion';
const seeds = (process.argv[3] ?? '1,2,3,4,5,6,7,8,9,10').split(',').map(Number);
const frameworks = (process.argv[4] ?? 'torch,trellis').split(',');
if (!(dataset in DISTILL_DATASETS)) throw new Error(`dataset ${dataset} is not one of ${Object.keys(DISTILL_DATASETS).join(', ')}`);
if (!seeds.every(Number.isInteger)) throw new Error(`seeds ${process.argv[3]} are not a comma-separated list of integers (e.g. 1,2,3)`);
// what the validation grid of `distill --full --seed 1` selects on each dataset (the run prints it as "distill: settings …")
const FULL_SELECTION = { fashion: 'reffakdT=1,reffakdAlpha=0.1,kdT=20,kdAlpha=0.1,ls=0.1', mnist: 'reffakdT=1,reffakdAlpha=0.1,kdT=1,kdAlpha=0.9,ls=0.2' };
const settings = Object.fromEntries((process.argv[5] || FULL_SELECTION[dataset]).split(',').filter(Boolean).map((kv) => kv.split('=')).map(([k, v]) => [k, Number(v)]));
const SETTING_KEYS = ['reffakdT', 'reffakdAlpha', 'kdT', 'kdAlpha', 'ls'];
for (const [k, v] of Object.entries(settings)) {
  if (!SETTING_KEYS.includes(k) || !Number.isFinite(v)) throw new Error(`setting ${k}=${v} is not a number for one of ${SETTING_KEYS.join(', ')}`);
}
await useBackend(process.argv[6] ?? 'trellis-native', { threads: 1 });

const cfg = { ...EXPERIMENT_CONFIGS.full, dataset, grid: false };
const tuned = configuredTuning({ ...cfg, ...settings, lsEpsilon: settings.ls ?? cfg.lsEpsilon });
const METHODS = ['CE', 'LS', 'KD (teacher)', 'ReffAKD-AE'];
const BASE_SEED = 1;
const C = 10;
const ds = DISTILL_DATASETS[dataset];
const { data, raw } = loadExperimentData(cfg, ds);

// the ReffAKD matrix, built as `distill --full --seed 1` builds it
const reffakd = reffakdGenerator(reffakdSettings(cfg, ds, BASE_SEED, C));
await reffakd.fit(raw.train);
const P = reffakd.matrix();
console.log(`${ds.title}: train ${data.train.size}, test ${data.test.size}; settings ReffAKD T=${tuned.reffakd.T} α=${tuned.reffakd.alpha}, KD T=${tuned.kd.T} α=${tuned.kd.alpha}, LS ε=${tuned.ls}; seeds ${seeds.join(',')}`);
console.log(`P diagonal ${P.map((r, i) => r[i].toFixed(4)).join(' ')}`);

// each framework's final test accuracies: { torch: { method: number[] by seed }, trellis: … }
const results = {};

// ---- PyTorch: one process trains the teacher, then every method for every seed, on the files written here
const TORCH = `
import sys, json, numpy as np, torch
import torch.nn.functional as F
torch.set_num_threads(1)
d = sys.argv[1]; cfg = json.loads(sys.argv[2])
load = lambda n, t: np.fromfile(d + '/' + n, t)
xtr = torch.tensor(load('train-x', np.float32).reshape(-1, 784)); ytr = torch.tensor(load('train-y', np.int32).astype(np.int64))
xte = torch.tensor(load('test-x', np.float32).reshape(-1, 784)); yte = torch.tensor(load('test-y', np.int32).astype(np.int64))
P = torch.tensor(load('P', np.float32).reshape(10, 10))
def net(hidden):
    dims = [784] + hidden + [10]; layers = []
    for i in range(len(dims) - 1):
        l = torch.nn.Linear(dims[i], dims[i + 1]); torch.nn.init.xavier_uniform_(l.weight); torch.nn.init.zeros_(l.bias)
        layers += [l, torch.nn.ReLU()]
    return torch.nn.Sequential(*layers[:-1])
def train(seed, hidden, epochs, milestones, loss_fn):
    torch.manual_seed(seed)
    m = net(hidden)
    opt = torch.optim.SGD(m.parameters(), lr=cfg['lr'], momentum=cfg['momentum'], weight_decay=cfg['weightDecay'])
    n = len(ytr)
    for e in range(epochs):
        for g in opt.param_groups: g['lr'] = cfg['lr'] * 0.2 ** sum(1 for s in milestones if e >= s)
        perm = torch.randperm(n)
        for i in range(0, n, cfg['batchSize']):
            b = perm[i:i + cfg['batchSize']]
            opt.zero_grad(); loss_fn(m(xtr[b]), b).backward(); opt.step()
    return m
def acc(m):
    with torch.no_grad(): return float((m(xte).argmax(1) == yte).float().mean())
def soft_kl(z, targets, T, alpha, y):
    kl = (targets * (torch.log(targets.clamp_min(1e-12)) - F.log_softmax(z / T, 1))).sum() / z.shape[0]
    return (1 - alpha) * F.cross_entropy(z, y) + alpha * T * T * kl
teacher = train(cfg['baseSeed'], cfg['teacherHidden'], cfg['teacherEpochs'], cfg['teacherMilestones'], lambda z, b: F.cross_entropy(z, ytr[b]))
with torch.no_grad(): zt = teacher(xtr)
t = cfg['tuned']; eps = t['ls']
losses = {
    'CE': lambda z, b: F.cross_entropy(z, ytr[b]),
    'LS': lambda z, b: -(((1 - eps) * F.one_hot(ytr[b], 10) + eps / 10) * F.log_softmax(z, 1)).sum(1).mean(),
    'KD (teacher)': lambda z, b: soft_kl(z, F.softmax(zt[b] / t['kd']['T'], 1), t['kd']['T'], t['kd']['alpha'], ytr[b]),
    'ReffAKD-AE': lambda z, b: soft_kl(z, P[ytr[b]], t['reffakd']['T'], t['reffakd']['alpha'], ytr[b]),
}
out = {'teacher': acc(teacher)}
for method in cfg['methods']:
    out[method] = [acc(train(s, cfg['studentHidden'], cfg['studentEpochs'], cfg['studentMilestones'], losses[method])) for s in cfg['seeds']]
    print(method, file=sys.stderr, flush=True)
print(json.dumps(out))
`;
const write = (dir, name, arr) => writeFileSync(join(dir, name), Buffer.from(arr.buffer, arr.byteOffset, arr.byteLength));
if (frameworks.includes('torch')) {
  if (spawnSync('/usr/bin/python3', ['-c', 'import torch, numpy'], { stdio: 'ignore' }).status !== 0) {
    console.log('PyTorch: /usr/bin/python3 cannot import torch and numpy (apt-get install python3-torch); skipped');
  } else {
    const dir = mkdtempSync(join(tmpdir(), 'distill-torch-'));
    try {
      write(dir, 'train-x', data.train.x); write(dir, 'train-y', Int32Array.from(data.train.labels));
      write(dir, 'test-x', data.test.x); write(dir, 'test-y', Int32Array.from(data.test.labels));
      write(dir, 'P', Float32Array.from(P.flat()));
      const pcfg = { ...cfg, tuned, seeds, methods: METHODS, baseSeed: BASE_SEED };
      const t0 = performance.now();
      // glibc's default trimming hands every batch's buffers back to the kernel (PyTorch's runs spent about half their time in
      // system calls with it, 87 of 169 s in one measurement)
      const env = { ...process.env, MALLOC_TRIM_THRESHOLD_: '2000000000', MALLOC_MMAP_THRESHOLD_: '2000000000' };
      const r = spawnSync('/usr/bin/python3', ['-c', TORCH, dir, JSON.stringify(pcfg)], { encoding: 'utf8', maxBuffer: 1 << 24, env });
      if (r.status !== 0) throw new Error(`PyTorch run failed:\n${r.stderr}`);
      const out = JSON.parse(r.stdout.trim().split('\n').pop());
      console.log(`torch: teacher ${(100 * out.teacher).toFixed(2)}%; ${((performance.now() - t0) / 1000).toFixed(0)} s`);
      delete out.teacher;
      results.torch = out;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
}

// ---- trellis: the full run's recipe and plugins (experimentStudents' runStudents, one method and seed at a time)
if (frameworks.includes('trellis')) {
  const t0 = performance.now();
  const models = tierModels(cfg, C);
  const teacherModel = models.teacher(BASE_SEED);
  const teacherRun = await trainModel(teacherModel, [], BASE_SEED, cfg.teacherEpochs, cfg.teacherMilestones, cfg, data, 'teacher', false);
  const teacher = teacherGenerator(teacherModel, { cache: 'epoch-invariant' });
  teacher.prepare(data.train);
  const out = {};
  for (const method of METHODS) {
    out[method] = [];
    for (const seed of seeds) {
      const model = models.student(seed);
      const r = await trainModel(model, methodPlugins(method, { reffakd, teacher }, tuned, C, seed, cfg.klReduction), seed, cfg.studentEpochs, cfg.studentMilestones, cfg, data, method, false);
      model.dispose();
      out[method].push(r.finalTest);
    }
  }
  console.log(`trellis: teacher ${(100 * teacherRun.finalTest).toFixed(2)}%; ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  teacher.dispose();
  teacherModel.dispose();
  results.trellis = out;
}
reffakd.dispose();

// ---- report: accuracy per method, paired differences against CE
const fmt = (xs) => `${meanStd(xs).mean.toFixed(2)} ± ${meanStd(xs).std.toFixed(2)}`;
for (const [fw, out] of Object.entries(results)) {
  console.log(`\n${fw}: final test accuracy, % (mean ± std over ${seeds.length} seeds); paired Δ vs CE, pp; seeds with Δ ≥ 0`);
  for (const method of METHODS) {
    const a = out[method].map((x) => 100 * x);
    const d = a.map((x, i) => x - 100 * out.CE[i]);
    const line = method === 'CE' ? '' : `   Δ ${meanStd(d).mean >= 0 ? '+' : ''}${fmt(d)} pp   ${d.filter((x) => x >= 0).length}/${d.length}`;
    console.log(`  ${method.padEnd(13)} ${fmt(a)}${line}`);
  }
}
