/**
 * Loading the compiled N-API addon (`build/Release/trellis_native.node`), or saying cleanly why
 * it could not be loaded.
 *
 * @module
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Activation codes shared with native/kernels.h. */
export const ACTIVATIONS = { linear: 0, relu: 1, relu6: 2, elu: 3, sigmoid: 4, leakyrelu: 5 } as const;

/** The functions the addon exports (see native/addon.cc). All buffers are float32, row-major, NHWC. */
export interface NativeAddon {
  /** out[b] = op(a[b]) · op(b[b]) (+ bias) (activation); a/b batch strides 0 broadcast. */
  matmul(
    a: Float32Array, b: Float32Array, out: Float32Array, batch: number, m: number, n: number, k: number,
    transposeA: boolean, transposeB: boolean, strideA: number, strideB: number, bias: Float32Array | null,
    activation: number, alpha: number,
  ): void;
  /**
   * mode 0: out = conv(a = x, b = filter) (+bias, act); 1: out = dx from (a = dy, b = filter);
   * 2: out = dFilter from (a = x, b = dy). params = [n, h, w, cin, kh, kw, cout, sh, sw, dh, dw,
   * padTop, padLeft, padBottom, padRight, outH, outW]. Returns an error message or undefined.
   */
  conv(
    mode: number, params: number[], a: Float32Array, b: Float32Array, out: Float32Array,
    bias: Float32Array | null, activation: number, alpha: number,
  ): string | undefined;
  /** mode 0 max, 1 avg, 2 max grad (a = dy, b = x), 3 avg grad (a = dy). params = [n, h, w, c, kh, kw, sh, sw, dh, dw, padTop, padLeft, outH, outW]. */
  pool(mode: number, params: number[], a: Float32Array, b: Float32Array | null, out: Float32Array): void;
  batchNorm(
    x: Float32Array, mean: Float32Array, variance: Float32Array, offset: Float32Array | null,
    scale: Float32Array | null, y: Float32Array, channels: number, eps: number,
  ): void;
  batchNormGrad(
    dy: Float32Array, x: Float32Array, mean: Float32Array, variance: Float32Array, scale: Float32Array | null,
    dx: Float32Array, sumDy: Float32Array, sumDyXm: Float32Array, channels: number, eps: number,
  ): void;
  /** tf.moments over all axes but the last (x as [rows, C]): writes mean and biased variance. */
  moments(x: Float32Array, mean: Float32Array, variance: Float32Array, channels: number): void;
  /** The gradient of {@link NativeAddon.moments}: dx = (dmean + 2·dvar·(x − mean)) / rows. */
  momentsGrad(x: Float32Array, mean: Float32Array, dmean: Float32Array, dvar: Float32Array, dx: Float32Array, channels: number): void;
  /** Elementwise binary op (0 add, 1 sub, 2 mul, 3 div, 4 max, 5 min, 6 squared difference, 7 2·a·b, 8 a where b > 0); modes 0 full, 1 scalar, 2 repeats every `inner`, 3 one value per row of `inner`. */
  binary(op: number, a: Float32Array, b: Float32Array, out: Float32Array, total: number, modeA: number, modeB: number, innerA: number, innerB: number): void;
  /** Elementwise unary op (0 sqrt, 1 square, 2 rsqrt, 3 neg, 4 exp, 5 log, 6 relu, 7 abs, 8 step(alpha), 9 reciprocal). */
  unary(op: number, x: Float32Array, out: Float32Array, alpha: number): void;
  /** x as [outer, inner]: leading → out[j] = scale·Σ_i x[i,j]; else out[i] = scale·Σ_j x[i,j]. */
  reduceSum(x: Float32Array, out: Float32Array, outer: number, inner: number, leading: boolean, scale: number): void;
  /** One fused Adam step; constants = float32 [b1, 1−b1, b2, 1−b2, 1−b1^t, 1−b2^t, eps, −lr]. */
  adam(value: Float32Array, m: Float32Array, v: Float32Array, g: Float32Array, outValue: Float32Array, outM: Float32Array, outV: Float32Array, constants: Float32Array): void;
  /**
   * One SGD step with tfjs's float32 arithmetic (no fused multiply-add); constants = [momentum, −lr, mode]:
   * mode 0 plain (`acc`, `outAcc` null), 1 momentum, 2 Nesterov. Each output is its own input (in
   * place) or shares no element with any input.
   */
  sgd(value: Float32Array, acc: Float32Array | null, g: Float32Array, outValue: Float32Array, outAcc: Float32Array | null, constants: Float32Array): void;
  /** out = x with its axes permuted: output axis d is x's axis perm[d] (row-major, rank 1–8; out must not be x). */
  transpose(x: Float32Array, out: Float32Array, shape: number[], perm: number[]): void;
  setThreads(n: number): void;
  getThreads(): number;
  /** 0 = OpenBLAS GEMM split over the OpenMP pool, 1 = oneDNN sgemm, 2 = OpenBLAS with its own threads, 3 = auto (default: oneDNN for a few large matrices, else 0). */
  setGemm(impl: number): void;
  /** Bytes the addon holds (scratchpad, reordered weights) and cached conv primitives. */
  stats(): { bytes: number; convCacheEntries: number };
  clearCache(): void;
  /** `sources`: `h` + SHA-256 of the sources it was built from (see {@link nativeSourcesHash}); '' or absent in older builds. */
  versions(): { dnnl: string; openblas: string; openblasCore: string; gemm: string; mallocTuned: string; sources?: string };
  /**
   * Advises transparent huge pages for the whole 2 MB pages inside `x` (madvise MADV_HUGEPAGE); values are
   * untouched. Returns the bytes advised (0 below 2 MB, off Linux, or when the kernel refuses).
   */
  adviseHugePages(x: Float32Array): number;
}

// One entry per function of NativeAddon: the Record type makes a function added to the interface without
// an entry here a compile error.
const ADDON_FUNCTION_SET: Record<keyof NativeAddon, true> = {
  matmul: true, conv: true, pool: true, batchNorm: true, batchNormGrad: true, moments: true, momentsGrad: true,
  binary: true, unary: true, reduceSum: true, adam: true, sgd: true, transpose: true, setThreads: true, getThreads: true,
  setGemm: true, stats: true, clearCache: true, versions: true, adviseHugePages: true,
};

/** Every function of {@link NativeAddon}: an addon built from an older version lacks some and is not used. */
export const ADDON_FUNCTIONS = Object.keys(ADDON_FUNCTION_SET) as ReadonlyArray<keyof NativeAddon>;

/** Result of trying to load the addon. */
export interface AddonLoad {
  addon: NativeAddon | null;
  /** Why it is null. */
  reason?: string;
  /** Where it was looked for. */
  path: string;
}

let cached: AddonLoad | null = null;

/** The package root (this file lives in src/ or dist/). */
function packageRoot(): string {
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
}

/**
 * `h` + the SHA-256 of the sources the addon is compiled from (native/*.cc and *.h by name, then
 * binding.gyp), from native/sources-hash.cjs, the script the build runs to compile the same value into
 * the addon (`versions().sources`); null when the package has no native/ folder.
 */
export function nativeSourcesHash(root: string = packageRoot()): string | null {
  try {
    const script = createRequire(import.meta.url)(path.join(root, 'native', 'sources-hash.cjs')) as { sourcesHash(root: string): string };
    return script.sourcesHash(root);
  } catch {
    return null;
  }
}

/**
 * Tries to load the addon from `given` (a relative path is taken from the working directory; no
 * caching; never throws): `{ addon, path }` or `{ addon: null, path, reason }` where the reason names
 * the command that fixes it, and `path` is the absolute path tried. With `options.sources` (what
 * {@link nativeSourcesHash} gives), a build from other sources is refused too: it may have every
 * function and still lack a kernel this version calls.
 */
export function tryLoadAddon(given: string, options: { sources?: string | null } = {}): AddonLoad {
  // against the working directory, as existsSync reads it (require would take a relative path from
  // this file's folder, and one without ./ as a package name)
  const file = path.resolve(given);
  if (!existsSync(file)) {
    return {
      addon: null,
      path: file,
      reason:
        `the native addon is not built (${file} does not exist). To enable native kernels: ` +
        '`apt-get install -y libopenblas-dev libdnnl-dev && npm run build:native -w @trellis-ml/backend-native`',
    };
  }
  try {
    const require = createRequire(import.meta.url);
    const addon = require(file) as Record<string, unknown>;
    const missing = ADDON_FUNCTIONS.filter((name) => typeof addon[name] !== 'function');
    if (missing.length > 0) {
      return {
        addon: null,
        path: file,
        reason:
          `the native addon at ${file} was built from an older version of this package (it lacks ${missing.join(', ')}). ` +
          'Rebuild it: `npm run build:native -w @trellis-ml/backend-native`',
      };
    }
    const expected = options.sources;
    if (expected != null) {
      const built = (addon as unknown as NativeAddon).versions().sources || undefined;
      if (built !== expected) {
        return {
          addon: null,
          path: file,
          reason:
            `the native addon at ${file} was built from other sources than this package's native/ ` +
            `(${built == null ? 'a build that does not record them' : `built from ${built.slice(0, 13)}`}, the package has ${expected.slice(0, 13)}). ` +
            'Rebuild it: `npm run build:native -w @trellis-ml/backend-native`',
        };
      }
    }
    return { addon: addon as unknown as NativeAddon, path: file };
  } catch (err) {
    const msg = (err as Error)?.message ?? String(err);
    return {
      addon: null,
      path: file,
      reason:
        `the native addon failed to load: ${msg.split('\n')[0]}. If libopenblas0/libdnnl2 are missing, ` +
        'install them (`apt-get install -y libopenblas-dev libdnnl-dev`) and rebuild with ' +
        '`npm run build:native -w @trellis-ml/backend-native`.',
    };
  }
}

/** Where the addon is looked for: `TRELLIS_NATIVE_ADDON`, else build/Release/trellis_native.node. */
export function addonPath(): string {
  return process.env['TRELLIS_NATIVE_ADDON'] ?? path.join(packageRoot(), 'build', 'Release', 'trellis_native.node');
}

/**
 * Loads the addon once per process ({@link tryLoadAddon} on {@link addonPath}), refusing a build from
 * other sources than the package's (unless `TRELLIS_NATIVE_ADDON` names the build: then it is used as
 * it is, e.g. a previous build for a comparison). `TRELLIS_NATIVE_DISABLE=1` pretends it is absent.
 * Sets `OMP_WAIT_POLICY=passive` unless `OMP_WAIT_POLICY` or `GOMP_SPINCOUNT` is already set.
 */
export function loadAddon(): AddonLoad {
  if (cached != null) return cached;
  const file = addonPath();
  if (process.env['TRELLIS_NATIVE_DISABLE'] === '1') {
    cached = { addon: null, path: file, reason: 'disabled by TRELLIS_NATIVE_DISABLE=1 (unset it to use the native kernels)' };
    return cached;
  }
  // One OpenMP pool, idle threads sleeping instead of spinning: on a 2-core machine shared with
  // other work, spinning workers made small kernels 10-40x slower. OMP_WAIT_POLICY=active (or
  // GOMP_SPINCOUNT) set by the user wins; libgomp reads them when the addon loads it.
  if (process.env['OMP_WAIT_POLICY'] == null && process.env['GOMP_SPINCOUNT'] == null) {
    process.env['OMP_WAIT_POLICY'] = 'passive';
  }
  cached = tryLoadAddon(file, { sources: process.env['TRELLIS_NATIVE_ADDON'] == null ? nativeSourcesHash() : null });
  return cached;
}
