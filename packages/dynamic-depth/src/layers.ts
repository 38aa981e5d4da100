import * as tf from '@tensorflow/tfjs-core';
import type { Rng } from '@trellis-ml/core';

/**
 * What a part of a depth-switchable network sees during a forward pass.
 */
export interface ForwardContext {
  /** Training mode: batch-norm uses batch statistics and updates the running ones. */
  training: boolean;
  /** Which stored batch-norm statistics an inference pass reads (a depth id, or `shared`). */
  statsKey: string;
  /** Which stored statistics a training pass updates (the depths whose forward pass this is). */
  updateKeys: readonly string[];
  /** Overrides the running-average momentum (recalibration uses a cumulative mean: `i/(i+1)`). */
  statsMomentum?: number;
}

/** A named collection of variables, filled as a network is built. */
export class VariableStore {
  readonly trainable: Record<string, tf.Variable> = {};
  readonly state: Record<string, tf.Variable> = {};

  /** Adds a trainable variable from host values. */
  weight(name: string, values: Float32Array, shape: number[]): tf.Variable {
    const init = tf.tensor(values, shape, 'float32');
    const v = tf.variable(init, true);
    init.dispose();
    this.trainable[name] = v;
    return v;
  }

  /** Adds a non-trainable variable (running statistics). */
  stat(name: string, fill: number, shape: number[]): tf.Variable {
    const init = tf.fill(shape, fill);
    const v = tf.variable(init, false);
    init.dispose();
    this.state[name] = v;
    return v;
  }

  /** Number of trainable scalars whose names start with `prefix`. */
  paramsUnder(prefix: string): number {
    let n = 0;
    for (const [k, v] of Object.entries(this.trainable)) if (k.startsWith(prefix)) n += v.size;
    return n;
  }
}

function glorot(rng: Rng, fanIn: number, fanOut: number, size: number): Float32Array {
  const limit = Math.sqrt(6 / (fanIn + fanOut));
  return rng.uniformArray(size, -limit, limit);
}

/** A dense layer `h W + b` (FLOPs: 2·in·out per example). */
export class Dense {
  readonly kernel: tf.Variable;
  readonly bias: tf.Variable;
  readonly flops: number;

  constructor(store: VariableStore, name: string, inDim: number, outDim: number, rng: Rng, zeroInit = false) {
    const values = zeroInit ? new Float32Array(inDim * outDim) : glorot(rng, inDim, outDim, inDim * outDim);
    this.kernel = store.weight(`${name}/kernel`, values, [inDim, outDim]);
    this.bias = store.weight(`${name}/bias`, new Float32Array(outDim), [outDim]);
    this.flops = 2 * inDim * outDim;
  }

  apply(h: tf.Tensor): tf.Tensor {
    return tf.add(tf.matMul(h as tf.Tensor2D, this.kernel as tf.Tensor2D), this.bias);
  }
}

/** Layer normalisation over the last axis (no running statistics, safe under depth switching). */
export class LayerNorm {
  readonly gamma: tf.Variable;
  readonly beta: tf.Variable;

  constructor(store: VariableStore, name: string, dim: number) {
    this.gamma = store.weight(`${name}/gamma`, new Float32Array(dim).fill(1), [dim]);
    this.beta = store.weight(`${name}/beta`, new Float32Array(dim), [dim]);
  }

  apply(h: tf.Tensor): tf.Tensor {
    const { mean, variance } = tf.moments(h, -1, true);
    return tf.add(tf.mul(tf.div(tf.sub(h, mean), tf.sqrt(tf.add(variance, 1e-5))), this.gamma), this.beta);
  }
}

/** A 3×3 (or k×k) convolution without bias, `same` padding (FLOPs: 2·Hout·Wout·k²·Cin·Cout). */
export class Conv {
  readonly kernel: tf.Variable;

  constructor(store: VariableStore, name: string, readonly inC: number, readonly outC: number, readonly stride: number, rng: Rng, readonly k = 3) {
    this.kernel = store.weight(`${name}/kernel`, glorot(rng, k * k * inC, k * k * outC, k * k * inC * outC), [k, k, inC, outC]);
  }

  flops(outH: number, outW: number): number {
    return 2 * outH * outW * this.k * this.k * this.inC * this.outC;
  }

  apply(h: tf.Tensor): tf.Tensor {
    return tf.conv2d(h as tf.Tensor4D, this.kernel as tf.Tensor4D, this.stride, 'same');
  }
}

/**
 * Batch normalisation whose γ/β are shared by every depth while its running mean and variance are
 * stored per statistics key (switchable BN): a training pass normalises with the batch moments and
 * updates the statistics of `ctx.updateKeys`; an inference pass reads those of `ctx.statsKey`.
 */
export class SwitchableBatchNorm {
  readonly gamma: tf.Variable;
  readonly beta: tf.Variable;
  readonly stats = new Map<string, { mean: tf.Variable; variance: tf.Variable }>();

  constructor(store: VariableStore, readonly name: string, channels: number, keys: readonly string[], readonly momentum = 0.9) {
    this.gamma = store.weight(`${name}/gamma`, new Float32Array(channels).fill(1), [channels]);
    this.beta = store.weight(`${name}/beta`, new Float32Array(channels), [channels]);
    for (const key of keys) {
      this.stats.set(key, {
        mean: store.stat(`${name}/${key}/moving_mean`, 0, [channels]),
        variance: store.stat(`${name}/${key}/moving_variance`, 1, [channels]),
      });
    }
  }

  apply(h: tf.Tensor, ctx: ForwardContext): tf.Tensor {
    const axes = h.shape.map((_, i) => i).slice(0, -1);
    if (ctx.training) {
      const { mean, variance } = tf.moments(h, axes);
      for (const key of ctx.updateKeys) {
        const s = this.stats.get(key);
        if (!s) continue;
        const m = ctx.statsMomentum ?? this.momentum;
        tf.tidy(() => {
          s.mean.assign(tf.add(tf.mul(s.mean, m), tf.mul(mean, 1 - m)));
          s.variance.assign(tf.add(tf.mul(s.variance, m), tf.mul(variance, 1 - m)));
        });
      }
      return this.normalize(h, mean, variance);
    }
    const s = this.stats.get(ctx.statsKey);
    if (!s) throw new Error(`batch-norm ${this.name} has no statistics "${ctx.statsKey}"`);
    return this.normalize(h, s.mean, s.variance);
  }

  private normalize(h: tf.Tensor, mean: tf.Tensor, variance: tf.Tensor): tf.Tensor {
    return tf.add(tf.mul(tf.div(tf.sub(h, mean), tf.sqrt(tf.add(variance, 1e-3))), this.gamma), this.beta);
  }
}
