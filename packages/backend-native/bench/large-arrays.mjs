// First write of a fresh large Float32Array (125 MB: retrain-cost's 5,000 × 6,272 embedding buffer), plain
// `new Float32Array` against core's `largeFloat32Array`, which on trellis-native is advised transparent
// huge pages before anything writes it:
//   node packages/backend-native/bench/large-arrays.mjs [repeats=4] [floats=31373344]     (build first)
// Each repeat allocates and fills one of each, interleaved; the values are the same either way.
import { importDist } from '../../core/bench/reference-models.mjs';

const core = await importDist('core');
const native = await importDist('backend-native');
const repeats = Number(process.argv[2] ?? 4);
const floats = Number(process.argv[3] ?? 5002 * 6272);
const info = await native.useNativeBackend({ threads: 1 });
if (!info.loaded) throw new Error(info.reason);
const thp = await import('node:fs').then((fs) => { try { return fs.readFileSync('/sys/kernel/mm/transparent_hugepage/enabled', 'utf8').trim(); } catch { return 'unknown'; } });
console.log(`transparent huge pages: ${thp}; ${((floats * 4) / 2 ** 20).toFixed(0)} MB per array`);
for (let r = 0; r < repeats; r++) {
  let t = performance.now();
  const plain = new Float32Array(floats);
  plain.fill(1);
  const plainMs = performance.now() - t;
  t = performance.now();
  const large = core.largeFloat32Array(floats);
  large.fill(1);
  const largeMs = performance.now() - t;
  console.log(`repeat ${r + 1}: new Float32Array + fill ${plainMs.toFixed(0)} ms, largeFloat32Array + fill ${largeMs.toFixed(0)} ms`);
}
