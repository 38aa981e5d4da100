export * from './conformance.js';
export * from './describe.js';
