/**
 * The testkit without its vitest helpers: `import { checkPluginConformance } from '@trellis-ml/testkit/check'`
 * runs the conformance checks, the resume check and their helpers (and {@link trellisErrorOf}) from plain Node (a script, another test
 * runner, a worker), where `vitest` is not installed or must not be loaded. Everything of the package entry
 * except `describePluginConformance`, which registers vitest tests and so imports vitest.
 *
 * @module
 */
export * from './conformance.js';
export * from './resume.js';
export * from './hostReads.js';
export * from './errors.js';
