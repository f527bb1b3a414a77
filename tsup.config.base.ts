import { rmSync } from 'node:fs'
import { defineConfig, type Options } from 'tsup'

type Entries = Record<string, string>

/**
 * Every package builds the same way: ESM and CommonJS with type declarations, for Node 20.
 * `esmOnly` names entries built as ESM alone (core's conformance suite: vitest refuses to be
 * loaded through require, so a CommonJS build of it could only throw).
 */
export const packageBuild = (
  entry: Entries = { index: 'src/index.ts' },
  { esmOnly, ...extra }: Options & { esmOnly?: Entries } = {},
) => {
  const shared = { dts: true, target: 'node20', ...extra } satisfies Options
  if (esmOnly === undefined) return defineConfig({ ...shared, entry, format: ['esm', 'cjs'], clean: true })
  return defineConfig((overrides) => {
    // tsup runs the configs of an array at once, and `clean` in either (its dts half deletes every
    // declaration file) could delete what the other has just written; so the folder is emptied
    // here, once, before both start.
    rmSync(overrides.outDir ?? extra.outDir ?? 'dist', { recursive: true, force: true })
    return [
      // One esbuild pass for all the ESM entries, so they share one chunk: one copy of the engine.
      { ...shared, entry: { ...entry, ...esmOnly }, format: ['esm'], clean: false },
      { ...shared, entry, format: ['cjs'], clean: false },
    ]
  })
}
