/**
 * One data-parallel worker of `trellis train --workers N` (started by core's `runDataParallel` from
 * {@link runTrain}): selects its backend; rank 0 runs `runTrain` (and hands its result back), the others `trainReplica`.
 */
import { dataParallelRank, dataParallelResult, useBackend } from '@trellis-ml/core';
import { runTrain, trainReplica, type TrainWorkerData } from './train.js';

const { rank, data } = dataParallelRank();
const { options, resumeDir } = data as TrainWorkerData;
await useBackend(options.backend ?? 'wasm', { threads: options.threads ?? 1, ...(options.gemm !== undefined ? { gemm: options.gemm } : {}) });
if (rank === 0) dataParallelResult(await runTrain(options));
else await trainReplica(options, resumeDir);
