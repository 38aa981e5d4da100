import { check, TrellisError } from '@trellis-ml/core';
import type { DepthConfig } from './depthConfig.js';
import { DepthNet, readDepthNetMeta, type ArchitectureSpec, type BnMode, type HeadMode } from './depthNet.js';
import { resNetCNN } from './resnetCnn.js';
import { residualMLP } from './residualMlp.js';

/** The head mode of an architecture spec (specs without one have a shared head). */
function headModeOf(arch: ArchitectureSpec): HeadMode {
  return arch.headMode === 'per-depth' ? 'per-depth' : 'shared';
}

function customSelection(arch: ArchitectureSpec): { custom: Record<string, number[]> } {
  const configs = arch.configs as DepthConfig[];
  return { custom: Object.fromEntries(configs.map((c) => [c.id, [...c.activeBlocks]])) };
}

/**
 * Builds a fresh network from a saved architecture spec (`residual-mlp` or `resnet-cnn`),
 * initialised from `seed`. Used to load checkpoints and to build Teammate B and the Leader.
 */
export function buildFromArchitecture(arch: ArchitectureSpec, seed: number): DepthNet {
  check(arch !== null && typeof arch === 'object', 'UNKNOWN_ARCHITECTURE', `the architecture spec is ${String(arch)}, not { kind, … }`,
    'pass a network\'s `architecture` (or the one saved in depth-net.json)');
  if (arch.kind === 'residual-mlp') {
    return residualMLP({
      inputShape: arch.inputShape as number[], width: arch.width as number, blocks: arch.blocks as number,
      numClasses: arch.numClasses as number, norm: arch.norm as 'layer' | 'none', blockSelection: customSelection(arch), seed,
      // specs saved before the option existed were zero-initialised
      zeroInitResidual: arch.zeroInitResidual !== false,
      headMode: headModeOf(arch),
    });
  }
  if (arch.kind === 'resnet-cnn') {
    return resNetCNN({
      inputShape: arch.inputShape as [number, number, number], stageChannels: arch.stageChannels as number[],
      blocksPerStage: arch.blocksPerStage as number[], numClasses: arch.numClasses as number, bnMode: arch.bnMode as BnMode,
      blockSelection: customSelection(arch), seed, headMode: headModeOf(arch),
    });
  }
  throw new TrellisError('UNKNOWN_ARCHITECTURE', `no builder for architecture kind "${arch.kind}"`,
    'build the network yourself (e.g. with fromBlocks) and call model.load(dir), or pass `build` to the plugin');
}

/**
 * The Leader's architecture: the Teammates' one, `widthMultiplier` times wider and with
 * `extraBlocks` more blocks (in the last stage), with only its full depth in the menu.
 */
export function leaderArchitecture(arch: ArchitectureSpec, options: { widthMultiplier?: number; extraBlocks?: number } = {}): ArchitectureSpec {
  check(arch !== null && typeof arch === 'object', 'UNKNOWN_ARCHITECTURE', `the Teammates' architecture spec is ${String(arch)}, not { kind, … }`,
    'pass the Teammates\' `architecture`');
  check(options !== null && typeof options === 'object', 'BAD_OPTION', `the Leader options are ${String(options)}`, 'pass { widthMultiplier?, extraBlocks? } or nothing');
  const m = options.widthMultiplier ?? 1;
  const extra = options.extraBlocks ?? 0;
  // a negative multiplier or a fractional block count used to give an architecture no builder could make
  check(Number.isFinite(m) && m > 0, 'BAD_OPTION', `the Leader's widthMultiplier ${String(m)} is not a number > 0`, 'pass widthMultiplier such as 1.5 (1 = the Teammates\' width)');
  check(Number.isInteger(extra) && extra >= 0, 'BAD_OPTION', `the Leader's extraBlocks ${String(extra)} is not a whole number ≥ 0`, 'pass extraBlocks such as 2 (0 = the Teammates\' depth)');
  if (arch.kind === 'residual-mlp') {
    const blocks = (arch.blocks as number) + extra;
    // the Leader runs at its full depth only, so it has one (shared) head whatever the Teammates have
    const { headMode: _teammatesHeads, ...shared } = arch;
    return { ...shared, width: Math.round((arch.width as number) * m), blocks, configs: [{ id: `d${blocks}`, activeBlocks: Array.from({ length: blocks }, (_, i) => i) }] };
  }
  if (arch.kind === 'resnet-cnn') {
    const per = [...(arch.blocksPerStage as number[])];
    per[per.length - 1] = per[per.length - 1]! + extra;
    const net = resNetCNN({
      inputShape: arch.inputShape as [number, number, number], stageChannels: (arch.stageChannels as number[]).map((c) => Math.round(c * m)),
      blocksPerStage: per, numClasses: arch.numClasses as number, bnMode: arch.bnMode as BnMode, configs: [per], seed: 0,
    });
    const spec = net.architecture;
    net.dispose();
    return spec;
  }
  throw new TrellisError('UNKNOWN_ARCHITECTURE', `cannot derive a Leader from architecture kind "${arch.kind}"`,
    'pass `build` to the plugin to construct the Leader yourself');
}

/** Builds the saved architecture in `dir` and loads its weights: one call restores a model serving every depth. */
export async function loadDepthNet(dir: string): Promise<DepthNet> {
  const meta = await readDepthNetMeta(dir);
  const net = buildFromArchitecture(meta.architecture, 0);
  try {
    await net.load(dir);
  } catch (e) {
    net.dispose();
    throw e;
  }
  return net;
}

/**
 * A copy of `net` with its own variables (weights, per-depth batch-norm statistics and the set of
 * recalibrated depths): e.g. a frozen teacher taken from a network before it is fine-tuned. Works for
 * the architectures {@link buildFromArchitecture} builds (UNKNOWN_ARCHITECTURE otherwise).
 */
export function cloneDepthNet(net: DepthNet): DepthNet {
  const copy = buildFromArchitecture(net.architecture, 0);
  const from = net.allVariables();
  const to = copy.allVariables();
  for (const [k, v] of Object.entries(to)) {
    const src = from[k];
    if (!src || src.shape.join(',') !== v.shape.join(',')) {
      copy.dispose();
      throw new TrellisError('ARCHITECTURE_MISMATCH', `cannot copy variable "${k}": the network has ${src ? `shape [${src.shape.join(', ')}]` : 'no such variable'}`,
        'clone networks built by residualMLP or resNetCNN (or copy the weights yourself)');
    }
    v.assign(src);
  }
  for (const c of net.calibrated) copy.calibrated.add(c);
  return copy;
}
