import type * as tfl from '@tensorflow/tfjs-layers';
import { LayersModelAdapter, type ModelAdapter } from '@trellis-ml/core';

/**
 * Analytic multiply-accumulates (MACs) of one forward pass of one example through a layers model:
 * dense `in·out`; conv2d `H_out·W_out·k_h·k_w·C_in·C_out`; conv2dTranspose `H_in·W_in·k_h·k_w·C_in·C_out`
 * (each input pixel scatters a k×k×C_out patch); depthwise conv `H_out·W_out·k_h·k_w·C_in`, for any
 * padding, stride and data format (the sizes are read from the layer's input and output shapes). Biases,
 * activations, pooling, global pooling and batch norm are not counted (as torchscan's MACs). FLOPs ≈ 2·MACs.
 */
export function countMacs(model: tfl.LayersModel): number {
  let macs = 0;
  for (const layer of model.layers) {
    const cls = layer.getClassName();
    const cfg = layer.getConfig() as Record<string, unknown>;
    const input = layer.input as tfl.SymbolicTensor | tfl.SymbolicTensor[];
    const inShape = (Array.isArray(input) ? input[0]!.shape : input.shape) as Array<number | null>;
    const outShape = (Array.isArray(layer.outputShape[0]) ? layer.outputShape[0] : layer.outputShape) as Array<number | null>;
    const dims = (s: Array<number | null>): number[] => s.slice(1).map((d) => d ?? 1);
    if (cls === 'Dense') {
      const i = dims(inShape);
      macs += (i[i.length - 1] ?? 0) * (cfg.units as number) * i.slice(0, -1).reduce((p, d) => p * d, 1);
    } else if (cls === 'Conv2D' || cls === 'Conv2DTranspose' || cls === 'DepthwiseConv2D') {
      const [kh, kw] = cfg.kernelSize as number[];
      // [H, W, C] (channelsLast, the default) or [C, H, W] (channelsFirst)
      const hwc = (s: number[]): number[] => (cfg.dataFormat === 'channelsFirst' ? [s[1]!, s[2]!, s[0]!] : s);
      const i = hwc(dims(inShape));
      const o = hwc(dims(outShape));
      const cin = i[2]!;
      const cout = o[2]!;
      if (cls === 'Conv2D') macs += o[0]! * o[1]! * kh! * kw! * cin * cout;
      else if (cls === 'Conv2DTranspose') macs += i[0]! * i[1]! * kh! * kw! * cin * cout;
      else macs += o[0]! * o[1]! * kh! * kw! * cin * ((cfg.depthMultiplier as number | undefined) ?? 1);
    } else if (typeof (layer as unknown as { layers?: unknown }).layers !== 'undefined') {
      macs += countMacs(layer as unknown as tfl.LayersModel);
    }
  }
  return macs;
}

/** Forward MACs per example of a {@link ModelAdapter} (NaN for adapters that are not layers models). */
export function adapterMacs(model: ModelAdapter): number {
  return model instanceof LayersModelAdapter ? countMacs(model.model) : NaN;
}

/**
 * Number of parameters of a model adapter: all of them (`'all'`, default: trainable and not, e.g. batch
 * norm's moving statistics included) or only the trainable ones (`'trainable'`).
 */
export function adapterParams(model: ModelAdapter, which: 'all' | 'trainable' = 'all'): number {
  const vars = which === 'all' ? model.allVariables() : model.trainableVariables();
  return Object.values(vars).reduce((s, v) => s + v.size, 0);
}

/** Training MACs: forward + backward ≈ 3 × forward, per example seen (the convention of §6.2). */
export function trainingMacs(forwardMacsPerExample: number, examplesSeen: number): number {
  return 3 * forwardMacsPerExample * examplesSeen;
}

/** MACs of the class-similarity matrix from `n` codes of size `dim`: `n²/2 · dim` (the pairwise loop; the vectorised form costs `n·dim + C²·dim`). */
export function similarityMacs(n: number, dim: number): number {
  return (n * n / 2) * dim;
}

/** What producing soft labels cost: analytic MACs and measured wall-clock. */
export interface GeneratorCost {
  /** Which source (e.g. `reffakd`, `teacher`, `label-smoothing`). */
  source: string;
  /** Parameters of the soft-label source (0 for a fixed matrix). */
  params: number;
  /** Forward MACs per example of the source (encoder or teacher; 0 for a fixed matrix). */
  forwardMacsPerExample: number;
  /** MACs spent fitting the source (autoencoder or teacher training). */
  fitMacs: number;
  /** Measured wall-clock of fitting, ms. */
  fitMs: number;
  /** MACs spent producing the labels (encoding + similarity matrix, or teacher inference). */
  labelMacs: number;
  /** Measured wall-clock of producing the labels, ms. */
  labelMs: number;
  /** Backend the times were measured on. */
  backend: string;
}

/** Total MACs and ms of a cost record (fit + labels). */
export function totalCost(c: GeneratorCost): { macs: number; ms: number } {
  return { macs: c.fitMacs + c.labelMacs, ms: c.fitMs + c.labelMs };
}

/** A pipeline's whole cost: the soft-label source plus the student's training. */
export interface PipelineCost {
  generator: { macs: number; ms: number };
  student: { macs: number; ms: number };
  total: { macs: number; ms: number };
}

/** Adds the student's training cost to a generator's cost. */
export function pipelineCost(generator: GeneratorCost, student: { forwardMacsPerExample: number; examplesSeen: number; ms: number }): PipelineCost {
  const g = totalCost(generator);
  const s = { macs: trainingMacs(student.forwardMacsPerExample, student.examplesSeen), ms: student.ms };
  return { generator: g, student: s, total: { macs: g.macs + s.macs, ms: g.ms + s.ms } };
}

/** One stage of a pipeline: what it cost, and the student's test accuracy after it (`null` before the student exists). */
export interface PipelineStage {
  /** The stage's name, e.g. `teacher training`, `student epoch 3`. */
  stage: string;
  /** Analytic MACs of the stage. */
  macs: number;
  /** Measured wall-clock of the stage, ms. */
  ms: number;
  /** Student test accuracy (fraction) after the stage, `null` for the soft-label stages. */
  accuracy: number | null;
}

/** A {@link PipelineStage} with the running totals up to and including it. */
export interface CumulativeStage extends PipelineStage {
  cumulativeMacs: number;
  cumulativeMs: number;
}

/** Running totals of MACs and wall-clock over a pipeline's stages, in the order given. */
export function cumulativeStages(stages: readonly PipelineStage[]): CumulativeStage[] {
  let macs = 0;
  let ms = 0;
  return stages.map((s) => {
    macs += s.macs;
    ms += s.ms;
    return { ...s, cumulativeMacs: macs, cumulativeMs: ms };
  });
}

/**
 * The stages of a distillation pipeline in order (spec §10.4 figure 4): fitting the soft-label source
 * (autoencoder or teacher training), producing the soft labels (encoding + matrix, or teacher
 * inference; left out when they cost nothing, e.g. a student trained on hard labels), then one stage
 * per student epoch with its training MACs (`3 × forward × examples per epoch`), measured time and
 * test accuracy; with running totals. `names` labels the two source stages.
 */
export function pipelineSeries(
  source: Pick<GeneratorCost, 'fitMacs' | 'fitMs' | 'labelMacs' | 'labelMs'>,
  student: { forwardMacsPerExample: number; examplesPerEpoch: number; epochMs: readonly number[]; epochAccuracy: readonly number[] },
  names: { fit: string; label: string },
): CumulativeStage[] {
  const stages: PipelineStage[] = [];
  if (source.fitMacs > 0 || source.fitMs > 0) stages.push({ stage: names.fit, macs: source.fitMacs, ms: source.fitMs, accuracy: null });
  if (source.labelMacs > 0 || source.labelMs > 0) stages.push({ stage: names.label, macs: source.labelMacs, ms: source.labelMs, accuracy: null });
  const epochMacs = trainingMacs(student.forwardMacsPerExample, student.examplesPerEpoch);
  student.epochAccuracy.forEach((accuracy, e) => stages.push({ stage: `student epoch ${e + 1}`, macs: epochMacs, ms: student.epochMs[e] ?? NaN, accuracy }));
  return cumulativeStages(stages);
}
