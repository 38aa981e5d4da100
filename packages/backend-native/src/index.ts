/**
 * `@trellis-ml/backend-native`: an optional N-API addon running TensorFlow.js's heavy kernels on
 * OpenBLAS (GEMM) and oneDNN (convolutions), with native pooling and batch norm, as the
 * 'trellis-native' backend (tfjs's cpu backend with those kernels replaced).
 *
 * @packageDocumentation
 */
export {
  NATIVE_BACKEND_NAME,
  NativeBackend,
  loadNativeKernels,
  useNativeBackend,
  describeNativeBackend,
  nativeCallCounts,
  nativeMemoryStats,
} from './backend.js';
export type { NativeKernelsStatus, UseNativeBackendOptions, NativeBackendInfo } from './backend.js';
export { BATCH_NORM_GRAD_KERNEL } from './kernels.js';
export { loadAddon, tryLoadAddon, addonPath, nativeSourcesHash, ACTIVATIONS, ADDON_FUNCTIONS } from './addon.js';
export type { NativeAddon, AddonLoad } from './addon.js';
export { BufferPool } from './bufferPool.js';
export type { BufferPoolOptions, BufferPoolStats } from './bufferPool.js';
export { MOMENTS_KERNEL, MOMENTS_GRAD_KERNEL, installNativeMoments } from './moments.js';
