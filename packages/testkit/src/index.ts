export * from './conformance.js';
export * from './describe.js';
export * from './resume.js';
