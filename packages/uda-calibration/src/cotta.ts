/**
 * CoTTA's weight arithmetic as small functions (Wang et al., CVPR 2022): the mean-teacher EMA update
 * and the stochastic restore of student weights to their source values. The student's loss is the
 * soft cross-entropy `−Σ_k q_k ln p_k` against the teacher's prediction — core's `softCrossEntropy`.
 */
import * as tf from '@tensorflow/tfjs-core';
import { check, type Rng } from '@trellis-ml/core';

/**
 * The mean-teacher update `θ_teacher ← α·θ_teacher + (1 − α)·θ_student`, for every name of
 * `teacher` (each must have a `student` tensor of the same shape; throws `VARIABLE_MISMATCH`
 * otherwise). `alpha` in [0, 1] (0 copies the student, 1 keeps the teacher).
 */
export function emaUpdate(teacher: Record<string, tf.Variable>, student: Record<string, tf.Tensor>, alpha: number): void {
  for (const [name, t] of Object.entries(teacher)) {
    const s = student[name];
    check(s !== undefined && s.shape.join() === t.shape.join(), 'VARIABLE_MISMATCH', `the student has no weight "${name}" of shape [${t.shape.join(', ')}] to average into the teacher`,
      'build the teacher as a copy of the student (same layers, same names)');
    // assign inside the tidy: the variable keeps the new values, the temporary tensor is freed.
    tf.tidy(() => t.assign(tf.add(tf.mul(t, alpha), tf.mul(s, 1 - alpha))));
  }
}

/**
 * The positions (ascending) among `size` weight elements that a stochastic restore resets: each
 * element independently with probability `p`. Draws the gaps between restored elements from
 * the geometric distribution (one uniform per restored element, not one per element), so a
 * restore of a large model at p = 0.01 costs about p·size draws. p = 0 restores nothing, p = 1
 * everything.
 */
export function restoreIndices(size: number, p: number, rng: Rng): Int32Array {
  check(p >= 0 && p <= 1, 'BAD_RESTORE_PROB', `the restore probability ${p} is outside [0, 1]`, 'pass e.g. 0.01 (CoTTA\'s default)');
  if (p === 0 || size === 0) return new Int32Array(0);
  if (p === 1) return Int32Array.from({ length: size }, (_, i) => i);
  const out: number[] = [];
  const logMiss = Math.log1p(-p);
  // Failures before the next success ~ Geometric(p): floor(ln U / ln(1 − p)), U uniform in (0, 1].
  for (let i = Math.floor(Math.log(1 - rng.next()) / logMiss); i < size; i += 1 + Math.floor(Math.log(1 - rng.next()) / logMiss)) out.push(i);
  return Int32Array.from(out);
}

/**
 * CoTTA's stochastic restore: every element of every variable in `weights` is reset to its value in
 * `source` (same names and shapes) with probability `p`, independently. Returns the number of
 * elements restored.
 */
export function stochasticRestore(weights: Record<string, tf.Variable>, source: Record<string, tf.Tensor>, p: number, rng: Rng): number {
  let restored = 0;
  for (const [name, v] of Object.entries(weights)) {
    const src = source[name];
    check(src !== undefined && src.shape.join() === v.shape.join(), 'VARIABLE_MISMATCH', `no source value of shape [${v.shape.join(', ')}] for the weight "${name}"`,
      'restore towards a copy of the same model');
    const idx = restoreIndices(v.size, p, rng);
    if (idx.length === 0) continue;
    restored += idx.length;
    const mask = new Uint8Array(v.size);
    for (const i of idx) mask[i] = 1;
    // tf.where, not v + m·(src − v): a restored element gets the source value bit for bit.
    tf.tidy(() => v.assign(tf.where(tf.tensor(mask, v.shape, 'bool'), src, v)));
  }
  return restored;
}
