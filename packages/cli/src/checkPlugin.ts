/**
 * `trellis check-plugin <module>`: the plugin conformance suite (`@trellis-ml/testkit`'s
 * `checkPluginConformance`) run on a plugin factory that a JavaScript module exports, for a plugin author who
 * wants the verdict without writing a test file.
 *
 * @module
 */
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { check, TrellisError, type TrainerPlugin } from '@trellis-ml/core';
import { checkPluginConformance, type ConformanceFixture, type ConformanceOptions, type ConformanceResult } from '@trellis-ml/testkit/check';

/** The export a module may add beside its factory: the conformance options to run it with. */
export const OPTIONS_EXPORT = 'conformanceOptions';

/** What `trellis check-plugin` runs: the module's factory, under which export name, with which options. */
export interface PluginUnderCheck {
  /** The module's file, resolved. */
  file: string;
  /** The export the factory was read from. */
  exportName: string;
  factory: (fixture: ConformanceFixture) => TrainerPlugin;
  options: ConformanceOptions;
}

/**
 * Loads the plugin factory `exportName` (default: the module's default export) from the JavaScript module at
 * `path` (relative to `cwd`), and its {@link OPTIONS_EXPORT} when it has one.
 *
 * @throws TrellisError `BAD_ARGS` (no module path), `NO_SUCH_FILE`, `BAD_PLUGIN_MODULE` (the module does not load,
 * has no such export, the export is not a function, or its options are not an object).
 */
export async function loadPluginUnderCheck(path: string | undefined, exportName: string | undefined, cwd = process.cwd()): Promise<PluginUnderCheck> {
  check(typeof path === 'string' && path.length > 0, 'BAD_ARGS', '`trellis check-plugin` needs the module that exports your plugin factory',
    'write `trellis check-plugin ./dist/myPlugin.js` (a built JavaScript module whose default export, or --export <name>, is a function returning a new plugin)');
  const file = resolve(cwd, path);
  check(existsSync(file) && statSync(file).isFile(), 'NO_SUCH_FILE', `there is no file ${file}`,
    'pass the path of the built JavaScript module (.js or .mjs; build TypeScript first) that exports the plugin factory');
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } catch (e) {
    throw new TrellisError('BAD_PLUGIN_MODULE', `${file} did not load: ${(e as Error)?.message ?? String(e)}`,
      'pass a JavaScript module Node can import (ESM, or CommonJS with module.exports); a TypeScript file must be built first', {}, { cause: e });
  }
  const name = exportName ?? 'default';
  const functions = Object.keys(mod).filter((k) => typeof mod[k] === 'function');
  check(name in mod, 'BAD_PLUGIN_MODULE', `${file} has no export "${name}"`,
    functions.length ? `pass --export with one of its function exports: ${functions.join(', ')}` : 'export the plugin factory from the module (export default () => myPlugin())');
  const factory = mod[name];
  check(typeof factory === 'function', 'BAD_PLUGIN_MODULE', `the export "${name}" of ${file} is ${factory === null ? 'null' : typeof factory}, not a plugin factory`,
    'export a function that builds a new plugin each call, e.g. export default () => myPlugin({ strength: 0.1 })');
  const options = mod[OPTIONS_EXPORT] ?? {};
  check(options !== null && typeof options === 'object' && !Array.isArray(options), 'BAD_PLUGIN_MODULE',
    `the export "${OPTIONS_EXPORT}" of ${file} is ${options === null ? 'null' : Array.isArray(options) ? 'an array' : typeof options}, not conformance options`,
    `export ${OPTIONS_EXPORT} as an object of testkit's ConformanceOptions (e.g. { baseLoss: 'none' }), or leave it out`);
  return { file, exportName: name, factory: factory as PluginUnderCheck['factory'], options: options as ConformanceOptions };
}

/** The report lines of a conformance run: one per check (`ok` or `FAIL`, its name and message), then the tally. */
export function conformanceLines(results: readonly ConformanceResult[]): string[] {
  const failed = results.filter((r) => !r.ok).length;
  return [
    ...results.map((r) => `${r.ok ? 'ok  ' : 'FAIL'}  ${r.check}: ${r.message}`),
    failed === 0 ? `all ${results.length} checks pass` : `${failed} of ${results.length} checks fail`,
  ];
}

/**
 * Runs the conformance suite on a loaded plugin factory ({@link loadPluginUnderCheck}), on the current backend,
 * logging one line per check. Returns the exit code: 0 when every check passes, 1 otherwise.
 */
export async function runCheckPlugin(target: PluginUnderCheck, log: (line: string) => void): Promise<number> {
  log(`checking the plugin factory "${target.exportName}" of ${target.file}${Object.keys(target.options).length ? ` with ${OPTIONS_EXPORT} (${Object.keys(target.options).join(', ')})` : ''}`);
  const results = await checkPluginConformance(target.factory, target.options);
  for (const line of conformanceLines(results)) log(line);
  return results.every((r) => r.ok) ? 0 : 1;
}
