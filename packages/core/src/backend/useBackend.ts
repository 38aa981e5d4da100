/**
 * Picks and initialises a TensorFlow.js backend: native TensorFlow (GPU or CPU) when installed,
 * otherwise wasm with Trellis's training kernels, otherwise the pure-JS cpu backend.
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { TrellisError } from '../errors.js';
import { installLazyFusedGradients } from './lazyFusedGradients.js';
import { registerWasmTrainingKernels, wasmTrainingKernelsRegistered } from './wasmKernels.js';

/** A backend {@link useBackend} can be asked for. */
export type BackendName = 'auto' | 'tensorflow-gpu' | 'tensorflow' | 'trellis-native' | 'wasm' | 'cpu';

/** Options for {@link useBackend}. */
export interface UseBackendOptions {
  /**
   * wasm only: number of compute threads. `1` (default) uses the single-threaded SIMD build, as
   * stock tfjs does in Node. `> 1` loads the multi-threaded SIMD build, which tfjs disables in Node;
   * Trellis works around that (see {@link useBackend}). Capped at 8 (tfjs's worker pool). Decided
   * when the wasm backend is first initialised in the process; later calls cannot change it.
   * trellis-native: threads of its one OpenMP pool (default: `TRELLIS_NATIVE_THREADS`, else all cores).
   */
  threads?: number;
  /**
   * trellis-native only: which library runs its matrix products — `'auto'` (its default), `'openblas'`,
   * `'onednn'` or `'openblas-threads'` (see `@trellis-ml/backend-native`). Other libraries round
   * differently, so a run's figures move in the last digits; the run record names the one used. Left
   * out, the addon keeps the choice it has (a process's first call: `'auto'`). Other backends ignore it
   * (with a note in {@link BackendInfo.notes}).
   */
  gemm?: GemmChoice;
}

/** The GEMM libraries 'trellis-native' can use ({@link UseBackendOptions.gemm}). */
export const GEMM_CHOICES = ['auto', 'openblas', 'onednn', 'openblas-threads'] as const;
/** One of {@link GEMM_CHOICES}. */
export type GemmChoice = (typeof GEMM_CHOICES)[number];

/**
 * The most compute threads any backend takes (far above any core count Trellis runs on). Larger counts
 * crash rather than run: an OpenMP pool of 100,000 threads segfaulted at its first parallel kernel, and a
 * count of 2^31 or more wraps around in a C int.
 */
export const MAX_BACKEND_THREADS = 1024;

/**
 * Checks a backend's options: `threads` a whole number from 1 to {@link MAX_BACKEND_THREADS}
 * (`BAD_THREADS`), `gemm` one of {@link GEMM_CHOICES} (`BAD_GEMM`); either may be left out.
 * {@link useBackend} and backend-native's `useNativeBackend` both call it.
 */
export function checkBackendOptions(options: UseBackendOptions): void {
  const { threads, gemm } = options;
  if (threads !== undefined && (!Number.isInteger(threads) || threads < 1)) {
    throw new TrellisError('BAD_THREADS', `threads ${threads} is not a whole number ≥ 1`, 'pass e.g. { threads: 2 } (on the command line, --threads 2), or leave it out');
  }
  if (threads !== undefined && threads > MAX_BACKEND_THREADS) {
    throw new TrellisError('BAD_THREADS', `threads ${threads} is more than the ${MAX_BACKEND_THREADS} any backend takes`,
      'pass at most the number of logical cores (e.g. { threads: 2 }; on the command line, --threads 2), or leave it out');
  }
  if (gemm !== undefined && !(GEMM_CHOICES as readonly string[]).includes(gemm)) {
    throw new TrellisError('BAD_GEMM', `gemm must be one of ${GEMM_CHOICES.join(', ')}, got '${String(gemm)}'`, "pass { gemm: 'auto' } (on the command line, --gemm auto), or leave it out");
  }
}

/** What backend is running, as reported by {@link useBackend} and {@link describeBackend}. */
export interface BackendInfo {
  /** `tf.getBackend()`: 'tensorflow', 'wasm' or 'cpu' (or another registered backend). */
  name: string;
  /** What was asked for. */
  requested: BackendName | string;
  /** `@tensorflow/tfjs-core` version. */
  tfjsVersion: string;
  /** Compute threads the backend uses (wasm: the XNNPACK pool; cpu: 1; tensorflow: TF's pool). */
  threads: number;
  /**
   * Which kernels run: 'stock' (tfjs's own), 'trellis-wasm' (wasm plus Trellis's training kernels,
   * see `registerWasmTrainingKernels`), 'native' (TensorFlow C++ through tfjs-node).
   */
  kernels: 'stock' | 'trellis-wasm' | 'native' | 'trellis-native';
  /**
   * The native libraries behind the kernels, where the backend reports them ('trellis-native': oneDNN's
   * version, OpenBLAS's build and the kernels it runs, the GEMM choice, and `OPENBLAS_CORETYPE` when
   * set): GEMM results round differently with other kernels, so a run's figures depend on them.
   */
  libraries?: string;
  /** For 'auto' (or a failed wasm start): the backends tried first that could not be used. */
  fellBackFrom?: string[];
  /** Why each of `fellBackFrom` was skipped, and any other caveat. */
  notes?: string[];
}

const NODE_PACKAGES = {
  'tensorflow-gpu': '@tensorflow/tfjs-node-gpu',
  tensorflow: '@tensorflow/tfjs-node',
} as const;

let lastRequested: string | undefined;
/** Threads TensorFlow's own pool uses (its default: one per logical core), set when tfjs-node loads. */
let nativeThreads = 1;
/** What 'trellis-native' reported of its libraries when it was made current. */
let nativeLibraries: string | undefined;

function isNode(): boolean {
  return typeof process !== 'undefined' && process.versions?.node != null;
}

function isModuleMissing(err: unknown, pkg: string): boolean {
  const e = err as { code?: string; message?: string } | undefined;
  const code = e?.code ?? '';
  const msg = e?.message ?? String(err);
  return (
    (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND' || /Cannot find (module|package)/.test(msg)) &&
    msg.includes(pkg)
  );
}

/** Dynamic import through a variable, so TypeScript and bundlers do not try to resolve it. */
async function importOptional(pkg: string): Promise<unknown> {
  const specifier: string = pkg;
  return import(specifier);
}

async function useNative(which: 'tensorflow-gpu' | 'tensorflow'): Promise<void> {
  const pkg = NODE_PACKAGES[which];
  try {
    await importOptional(pkg);
  } catch (err) {
    if (isModuleMissing(err, pkg)) {
      throw new TrellisError(
        'BACKEND_NOT_INSTALLED',
        `Backend '${which}' is not installed (the package ${pkg} was not found).`,
        `Install it with \`npm install ${pkg}@${tf.version_core}\` (downloads a prebuilt TensorFlow library, so it needs internet` +
          (which === 'tensorflow-gpu' ? ', and an NVIDIA GPU with CUDA/cuDNN' : '') +
          `), or use useBackend('wasm') which needs nothing extra.`,
        { backend: which, package: pkg },
      );
    }
    throw new TrellisError(
      'BACKEND_LOAD_FAILED',
      `Backend '${which}' is installed but failed to load: ${(err as Error)?.message ?? String(err)}`,
      which === 'tensorflow-gpu'
        ? "Check the CUDA/cuDNN libraries match what @tensorflow/tfjs-node-gpu expects, or use useBackend('tensorflow') or useBackend('wasm')."
        : `Reinstall ${pkg} (its native addon may not match this Node version), or use useBackend('wasm').`,
      { backend: which, package: pkg },
    );
  }
  const ok = await tf.setBackend('tensorflow');
  if (!ok) {
    throw new TrellisError(
      'BACKEND_INIT_FAILED',
      `Backend '${which}' loaded but TensorFlow.js could not initialise it.`,
      "See the warning TensorFlow.js printed above, or use useBackend('wasm').",
      { backend: which },
    );
  }
  await tf.ready();
  const os = await import('node:os');
  nativeThreads = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
}

/** Directory of an installed package (Node only). */
async function packageDir(pkg: string): Promise<string | null> {
  if (!isNode()) return null;
  try {
    const { createRequire } = await import('node:module');
    const path = await import('node:path');
    const require = createRequire(import.meta.url);
    return path.dirname(require.resolve(`${pkg}/package.json`));
  } catch {
    return null;
  }
}

interface WasmPackage {
  setWasmPaths(prefix: string): void;
  setThreadsCount(n: number): void;
}

/**
 * Node 20 cannot run tfjs's threaded wasm build as shipped: tfjs turns it off in Node
 * (`WASM_HAS_MULTITHREAD_SUPPORT` is false when `IS_NODE`), its pthread workers are created from a
 * `blob:` URL (Node's `Worker` only takes file paths), the worker loads the Emscripten script from a
 * Blob the same way, and the C++ side caps the pool at (logical cores / 2). This sets the flag,
 * writes the worker script to a temp file (the worker then loads the Emscripten script from
 * the package's `wasm-out/`), and makes `os.cpus()` report enough cores while the module starts.
 * Returns the function restoring what it patched.
 */
async function prepareNodeThreads(wasmDir: string, threads: number): Promise<() => void> {
  const fs = await import('node:fs');
  const os = await import('node:os');
  const path = await import('node:path');
  const { createRequire } = await import('node:module');
  const require = createRequire(import.meta.url);
  const outDir = path.join(wasmDir, 'wasm-out');
  const mainScript = path.join(outDir, 'tfjs-backend-wasm-threaded-simd.js');
  const { wasmWorkerContents } = require(path.join(outDir, 'tfjs-backend-wasm-threaded-simd.worker.js')) as {
    wasmWorkerContents: string;
  };
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'trellis-wasm-'));
  const workerFile = path.join(tmp, 'pthread-worker.cjs');
  const prelude =
    `// Written by @trellis-ml/core useBackend('wasm', {threads}): tfjs's pthread worker, loading the\n` +
    `// Emscripten script from a file instead of a Blob (Node's Worker cannot load blob: URLs).\n` +
    `URL.createObjectURL = () => ${JSON.stringify(mainScript)};\nURL.revokeObjectURL = () => {};\n`;
  // tfjs keeps the worker source in a template string whose "\n" escapes became newlines.
  fs.writeFileSync(workerFile, prelude + wasmWorkerContents.replace(/\n/g, '\\n'));
  // The 8 pool workers load it while the module starts; remove it when the process ends.
  process.once('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));

  const env = tf.env();
  env.set('WASM_HAS_MULTITHREAD_SUPPORT', true);
  const urlApi = URL as unknown as { createObjectURL: (b: unknown) => string };
  const createObjectURL = urlApi.createObjectURL;
  urlApi.createObjectURL = () => workerFile;
  const osMod = os.default as unknown as { cpus: () => unknown[] };
  const cpus = osMod.cpus;
  const real = cpus.call(osMod);
  if (real.length < 2 * threads) {
    osMod.cpus = () => Array.from({ length: 2 * threads }, (_, i) => real[i % Math.max(1, real.length)]);
  }
  return () => {
    urlApi.createObjectURL = createObjectURL;
    osMod.cpus = cpus;
  };
}

interface WasmModuleLike {
  tfjs?: { getThreadsCount(): number };
  PThread?: { unusedWorkers: Array<{ unref(): void }>; runningWorkers: Array<{ unref(): void }> };
}

function wasmModule(): WasmModuleLike | null {
  const b = tf.engine().registry['wasm'] as unknown as { wasm?: WasmModuleLike } | undefined;
  return b?.wasm ?? null;
}

function wasmThreads(): number {
  try {
    return wasmModule()?.tfjs?.getThreadsCount() ?? 1;
  } catch {
    return 1;
  }
}

/** The most threads the wasm backend's pool is given; a larger `threads` is lowered to it, with a note. */
const WASM_MAX_THREADS = 8;

async function useWasm(threads: number, notes: string[]): Promise<void> {
  const wasm = (await import('@tensorflow/tfjs-backend-wasm')) as unknown as WasmPackage;
  registerWasmTrainingKernels();
  const initialised = tf.engine().registry['wasm'] != null;
  const dir = await packageDir('@tensorflow/tfjs-backend-wasm');
  let restore: (() => void) | null = null;
  if (!initialised) {
    if (dir != null) {
      // Load the .wasm binaries from node_modules (no network, whichever bundle was resolved).
      const path = await import('node:path');
      wasm.setWasmPaths(path.join(dir, 'dist') + path.sep);
    }
    const n = Math.max(1, Math.min(WASM_MAX_THREADS, Math.floor(threads)));
    if (n < threads) notes.push(`the wasm backend runs at most ${WASM_MAX_THREADS} threads; threads=${threads} became ${n}`);
    if (n > 1 && isNode() && dir != null) restore = await prepareNodeThreads(dir, n);
    wasm.setThreadsCount(n);
  } else if (threads !== wasmThreads()) {
    notes.push(`the wasm backend was already initialised with ${wasmThreads()} thread(s); threads=${threads} ignored`);
  }
  let ok = false;
  try {
    ok = await tf.setBackend('wasm');
    if (ok) await tf.ready();
  } finally {
    restore?.();
  }
  if (!ok) {
    throw new TrellisError(
      'BACKEND_INIT_FAILED',
      'The wasm backend failed to initialise.',
      "See the warning TensorFlow.js printed above; useBackend('cpu') always works.",
      { backend: 'wasm', threads },
    );
  }
  // Let the process exit while the pthread workers idle.
  const pt = wasmModule()?.PThread;
  if (pt != null) for (const w of [...pt.unusedWorkers, ...pt.runningWorkers]) w.unref?.();
}

interface NativePackage {
  useNativeBackend(options?: { threads?: number; gemm?: GemmChoice }): Promise<{ loaded: boolean; reason?: string; threads?: number; versions?: Record<string, string> }>;
}

/** One line naming the native libraries of 'trellis-native' (see {@link BackendInfo.libraries}). */
export function nativeLibrariesLine(versions: Record<string, string>, env: Record<string, string | undefined>): string {
  const parts: string[] = [];
  if (versions['dnnl']) parts.push(`oneDNN ${versions['dnnl']}`);
  if (versions['openblas']) parts.push(`${versions['openblas']}${versions['openblasCore'] ? ` (${versions['openblasCore']} kernels)` : ''}`);
  if (versions['gemm']) parts.push(`gemm ${versions['gemm']}`);
  if (env['OPENBLAS_CORETYPE']) parts.push(`OPENBLAS_CORETYPE=${env['OPENBLAS_CORETYPE']}`);
  return parts.join('; ');
}

const NATIVE_PACKAGE = '@trellis-ml/backend-native';
const NATIVE_FIX = 'apt-get install -y libopenblas-dev libdnnl-dev && npm run build:native -w @trellis-ml/backend-native';

/** The optional native kernels (OpenBLAS + oneDNN) of `@trellis-ml/backend-native`, as backend 'trellis-native'. */
async function useTrellisNative(threads: number | undefined, gemm: GemmChoice | undefined): Promise<void> {
  let mod: NativePackage;
  try {
    mod = (await importOptional(NATIVE_PACKAGE)) as NativePackage;
  } catch (err) {
    if (isModuleMissing(err, NATIVE_PACKAGE)) {
      throw new TrellisError('BACKEND_NOT_INSTALLED', `Backend 'trellis-native' is not installed (the package ${NATIVE_PACKAGE} was not found).`,
        `Install it (npm install ${NATIVE_PACKAGE}) and build its kernels: ${NATIVE_FIX}; or use useBackend('wasm').`, { backend: 'trellis-native' });
    }
    throw err;
  }
  // threads left out: the package's own default (TRELLIS_NATIVE_THREADS, else all cores)
  const r = await mod.useNativeBackend({
    ...(threads !== undefined ? { threads } : {}),
    ...(gemm !== undefined ? { gemm } : {}),
  });
  if (!r.loaded) {
    const disabled = process.env['TRELLIS_NATIVE_DISABLE'] === '1';
    throw new TrellisError('BACKEND_NOT_INSTALLED', `Backend 'trellis-native' is not available: ${r.reason ?? 'the addon did not load'}`,
      disabled ? "Unset TRELLIS_NATIVE_DISABLE to use the native kernels; or use useBackend('wasm')."
        : `Build the native kernels: ${NATIVE_FIX}; or use useBackend('wasm').`, { backend: 'trellis-native' });
  }
  nativeThreads = r.threads ?? 1;
  nativeLibraries = r.versions ? nativeLibrariesLine(r.versions, process.env) : undefined;
}

async function useCpu(): Promise<void> {
  await import('@tensorflow/tfjs-backend-cpu');
  const ok = await tf.setBackend('cpu');
  if (!ok) throw new TrellisError('BACKEND_INIT_FAILED', 'The cpu backend failed to initialise.', 'Reinstall @tensorflow/tfjs-backend-cpu.');
  await tf.ready();
}

/**
 * Initialises a backend and makes it current.
 *
 * - `'tensorflow-gpu'` / `'tensorflow'`: `@tensorflow/tfjs-node-gpu` / `@tensorflow/tfjs-node` (optional,
 *   not a dependency); throws a {@link TrellisError} (`BACKEND_NOT_INSTALLED`) when asked explicitly
 *   and missing.
 * - `'wasm'`: `@tensorflow/tfjs-backend-wasm`, binaries read from node_modules, with
 *   {@link registerWasmTrainingKernels} (without them it cannot train convolutions).
 * - `'cpu'`: the pure-JS backend (slow, always works).
 * - `'trellis-native'`: the optional native kernels of `@trellis-ml/backend-native` (OpenBLAS and
 *   oneDNN through an N-API addon, built with `npm run build:native -w @trellis-ml/backend-native`);
 *   `threads`, else `TRELLIS_NATIVE_THREADS`, else all cores.
 * - `'auto'` (default): tensorflow-gpu → tensorflow → trellis-native → wasm → cpu, first one that works.
 */
export async function useBackend(name: BackendName = 'auto', options: UseBackendOptions = {}): Promise<BackendInfo> {
  checkBackendOptions(options);
  const threads = options.threads ?? 1;
  const notes: string[] = [];
  const fellBackFrom: string[] = [];
  lastRequested = name;
  const attempt = async (which: Exclude<BackendName, 'auto'>): Promise<void> => {
    if (which === 'tensorflow-gpu' || which === 'tensorflow') return useNative(which);
    if (which === 'trellis-native') return useTrellisNative(options.threads, options.gemm);
    if (which === 'wasm') return useWasm(threads, notes);
    if (which === 'cpu') return useCpu();
    throw new TrellisError(
      'UNKNOWN_BACKEND',
      `Unknown backend '${String(which)}'.`,
      "Use one of 'auto', 'tensorflow-gpu', 'tensorflow', 'trellis-native', 'wasm', 'cpu'.",
    );
  };
  if (name !== 'auto') {
    await attempt(name);
  } else {
    const order = ['tensorflow-gpu', 'tensorflow', 'trellis-native', 'wasm', 'cpu'] as const;
    let done = false;
    for (const which of order) {
      try {
        await attempt(which);
        done = true;
        break;
      } catch (err) {
        if (which === 'cpu') throw err;
        fellBackFrom.push(which);
        notes.push(`${which}: ${err instanceof TrellisError ? err.problem : (err as Error)?.message ?? String(err)}`);
      }
    }
    if (!done) throw new Error('unreachable');
  }
  // Any backend: tfjs-layers' fused linear layers then differentiate only the inputs that need it.
  installLazyFusedGradients();
  const info = describeBackend();
  info.requested = name;
  if (options.gemm !== undefined && info.name !== 'trellis-native') notes.push(`gemm '${options.gemm}' ignored: only trellis-native has a GEMM choice`);
  if (fellBackFrom.length > 0) info.fellBackFrom = fellBackFrom;
  if (notes.length > 0) info.notes = notes;
  return info;
}

/** Describes the current backend (without changing it). */
export function describeBackend(): BackendInfo {
  const name = tf.getBackend();
  let threads = 1;
  let kernels: BackendInfo['kernels'] = 'stock';
  if (name === 'wasm') {
    threads = wasmThreads();
    if (wasmTrainingKernelsRegistered()) kernels = 'trellis-wasm';
  } else if (name === 'tensorflow') {
    kernels = 'native';
    threads = nativeThreads;
  } else if (name === 'trellis-native') {
    kernels = 'trellis-native';
    threads = nativeThreads;
  }
  const info: BackendInfo = { name, requested: lastRequested ?? name, tfjsVersion: tf.version_core, threads, kernels };
  if (name === 'trellis-native' && nativeLibraries) info.libraries = nativeLibraries;
  return info;
}

/**
 * Throws a {@link TrellisError} (`NO_BACKEND`) that says what to do when TensorFlow.js has no backend
 * ready, instead of the error TF.js raises from deep inside the first tensor ("No backend found in
 * registry", or "… has not yet been initialized" for a registered wasm backend nobody awaited).
 * Initialises the best registered synchronous backend the way creating a tensor would, and costs
 * nothing once a backend runs. Model builders, the Trainer and dataset batches call it first.
 *
 * @param action What needed the backend, for the message (e.g. `'mlp()'`).
 */
export function requireBackend(action: string): void {
  try {
    tf.backend();
  } catch (err) {
    const message = (err as Error)?.message ?? String(err);
    if (!/No backend found in registry|not yet been initialized|Could not initialize any backends/.test(message)) throw err;
    throw new TrellisError(
      'NO_BACKEND',
      `${action} needs a TensorFlow.js backend, and none is ready (TF.js says: ${message})`,
      "call `await useBackend('auto')` from @trellis-ml/core once, before building models or datasets' tensors " +
        "(or import '@tensorflow/tfjs-backend-cpu', or `await tf.setBackend(...)` for a backend you registered)",
      { action },
    );
  }
}
