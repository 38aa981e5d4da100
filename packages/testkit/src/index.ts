/**
 * The Trellis plugin conformance suite: {@link describePluginConformance} registers it in vitest, and
 * everything else (also importable without vitest from `@trellis-ml/testkit/check`) runs it from any code.
 *
 * @module
 */
export * from './check.js';
export * from './describe.js';
