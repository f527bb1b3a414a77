import { defineConfig, type Options } from 'tsup'

/** Every package builds the same way: ESM and CommonJS with type declarations, for Node 20. */
export const packageBuild = (entry: Options['entry'] = { index: 'src/index.ts' }, extra: Options = {}) =>
  defineConfig({ entry, format: ['esm', 'cjs'], dts: true, clean: true, target: 'node20', ...extra })
