import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vitest/config'

const src = (pkg: string, file = 'index.ts') =>
  fileURLToPath(new URL(`./packages/${pkg}/src/${file}`, import.meta.url))

export default defineConfig({
  resolve: {
    // Tests run against the sources; the tests under test/packaging check the built dist and the packed tarballs.
    alias: [
      { find: /^@keyward\/core\/testing$/, replacement: src('core', 'testing/index.ts') },
      { find: /^@keyward\/core$/, replacement: src('core') },
      { find: /^@keyward\/express$/, replacement: src('express') },
      { find: /^@keyward\/fastify$/, replacement: src('fastify') },
      { find: /^@keyward\/koa$/, replacement: src('koa') },
      { find: /^@keyward\/store-postgres$/, replacement: src('store-postgres') },
      { find: /^@keyward\/store-redis$/, replacement: src('store-redis') },
    ],
  },
  test: {
    include: ['packages/*/test/**/*.test.ts', 'test/**/*.test.ts', 'examples/*/test/**/*.test.ts'],
    testTimeout: 20_000,
    hookTimeout: 30_000,
    typecheck: { enabled: true, include: ['packages/*/test/**/*.test-d.ts'], tsconfig: './tsconfig.json' },
  },
})
