/**
 * The adapters' published types compile in a host's project at each end of the range their
 * peerDependencies give for the framework's types: the oldest release of each major line and the
 * workspace's own. Each run type-checks a small host app against the built dist, with `express`,
 * `fastify` or `koa` resolved to one release of @types/express, fastify (which ships its own) or
 * @types/koa: the package's own copy, or one installed under an alias at the root (not under
 * @types/, so that no other project here picks it up). The root's @types/redis-errors is what
 * store-redis's README tells a host to add: ioredis 6.1.0's declarations import redis-errors
 * without its types, and fail a strict host's check without them.
 */
import { execFile } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, describe, expect, it } from 'vitest'

const root = fileURLToPath(new URL('../..', import.meta.url))
const scratch = join(root, 'node_modules', '.cache')
mkdirSync(scratch, { recursive: true })
const work = mkdtempSync(join(scratch, 'keyward-peer-types-'))
afterAll(() => rmSync(work, { recursive: true, force: true }))

const ENGINE = `import { createKeyward } from '@keyward/core'
import { migrate, postgresStore } from '@keyward/store-postgres'
import { redisStore } from '@keyward/store-redis'
import type { Redis } from 'ioredis'
const users = { get: (id: string) => ({ id, permissions: [] }) }
const keyward = createKeyward({ jwtSecret: 'a'.repeat(32), users, storeTimeout: '2s' })
createKeyward({ jwtSecret: 'a'.repeat(32), users, storeTimeout: false })
// @ts-expect-error storeTimeout is a duration ('5s') or false: a bare number has no unit
createKeyward({ jwtSecret: 'a'.repeat(32), users, storeTimeout: 5000 })
const on: Promise<boolean> = keyward.totpEnabled('u')
// Under exactOptionalPropertyTypes, an option or user field given as undefined is left out, as the
// runtime takes it: a value from the environment, or a directory's column that may be null.
declare const row: { email: string | null; name?: string }
createKeyward({
  jwtSecret: 'a'.repeat(32),
  users: { get: (id) => ({ id, permissions: [], email: row.email ?? undefined, displayName: row.name }) },
  store: undefined,
  basePath: process.env.BASE_PATH,
  cache: { ttl: undefined },
  totp: { encryptionKey: process.env.TOTP_KEY, previousEncryptionKeys: undefined },
  rateLimit: { perAddress: undefined, totp: { max: undefined } },
})
declare const db: import('@keyward/store-postgres').PostgresClient
declare const client: Redis
postgresStore({ client: db, schema: process.env.PG_SCHEMA })
await migrate(db, { schema: process.env.PG_SCHEMA })
redisStore({ client, prefix: process.env.REDIS_PREFIX })
declare const permissions: string[] | undefined
keyward.authenticate({ headers: {} }, { permissions })
`

/** A host app that uses what the adapter declares, and one line that must not compile. */
const HOSTS = {
  express: `${ENGINE}import express from 'express'
import { keywardExpress } from '@keyward/express'
const auth = keywardExpress(keyward)
const app = express()
app.use(auth.routes)
app.get('/me', auth.requireAuth({ permissions: ['agents:read'] }), (req, res) => {
  const user: string = req.auth.userId
  // @ts-expect-error req.auth is the principal keyward declares on Express's Request, not any
  const wrong: number = req.auth.credential
  res.json({ user, wrong })
})
app.get(
  '/agents/:id',
  auth.protect((req: express.Request<{ id: string }>, res) => {
    res.json({ id: req.params.id, user: req.auth.userId })
  }),
)
`,
  fastify: `${ENGINE}import Fastify from 'fastify'
import { keyward as keywardPlugin } from '@keyward/fastify'
const app = Fastify()
await app.register(keywardPlugin, { keyward })
app.get('/v1/agents', { config: { keyward: { permissions: ['agents:read'] } } }, async (request) => {
  const user: string = request.auth.userId
  // @ts-expect-error request.auth is the principal keyward declares on FastifyRequest, not any
  const wrong: number = request.auth.credential
  return { user, wrong }
})
app.get('/v1/me', { onRequest: app.keywardAuth() }, async (request) => ({ user: request.auth.userId }))
// @ts-expect-error config.keyward takes true or { permissions }, nothing else
app.get('/v1/typo', { config: { keyward: 'yes' } }, async () => ({}))
`,
  koa: `${ENGINE}import Koa from 'koa'
import { keywardKoa } from '@keyward/koa'
const auth = keywardKoa(keyward)
const app = new Koa()
app.use(auth.routes)
app.use(auth.requireAuth({ permissions: ['agents:read'] }))
app.use((ctx) => {
  const user: string = ctx.state.auth.userId
  // @ts-expect-error ctx.state.auth is the principal keyward declares on Koa's DefaultState, not any
  const wrong: number = ctx.state.auth.credential
  ctx.body = { user, wrong }
})
app.use(
  auth.protect({ permissions: ['agents:read'] }, (ctx) => {
    const user: string = ctx.state.auth.userId
    ctx.body = { user }
  }),
)
`,
} as const

const RELEASES = [
  ['express', 'types-express-4.17.21'],
  ['express', 'types-express-5.0.0'],
  ['express', '@types/express'],
  ['fastify', 'fastify-5.0.0'],
  ['fastify', 'fastify'],
  ['koa', 'types-koa-2.15.0'],
  ['koa', 'types-koa-3.0.0'],
  ['koa', '@types/koa'],
] as const

/**
 * Type-checks the host app of `framework` as a host project would, with `framework` resolved to
 * the types in `typesPackage`: tsc's errors (none when it passes), and the releases of the
 * framework's types it read.
 */
async function typeCheck(
  framework: keyof typeof HOSTS,
  typesPackage: string,
): Promise<{ errors: string; typesRead: string[]; typesAsked: string }> {
  const dir = mkdtempSync(join(work, `${framework}-`))
  writeFileSync(join(dir, 'host.ts'), HOSTS[framework])
  const dist = (name: string) => [join(root, 'packages', name, 'dist', 'index.d.ts')]
  // The adapter's own copy (`@types/express`, `fastify`), or an alias at the root.
  const types =
    typesPackage.startsWith('@types/') || typesPackage === framework
      ? join(root, 'packages', framework, 'node_modules', typesPackage)
      : join(root, 'node_modules', typesPackage)
  writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        strict: true,
        exactOptionalPropertyTypes: true,
        noEmit: true,
        target: 'ES2022',
        module: 'ESNext',
        moduleResolution: 'Bundler',
        esModuleInterop: true,
        types: ['node'],
        typeRoots: [join(root, 'node_modules', '@types')],
        paths: {
          '@keyward/core': dist('core'),
          '@keyward/store-postgres': dist('store-postgres'),
          '@keyward/store-redis': dist('store-redis'),
          [`@keyward/${framework}`]: dist(framework),
          [framework]: [types],
        },
      },
      files: ['host.ts'],
    }),
  )
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc')
  let errors = ''
  let listed: string
  try {
    listed = (await promisify(execFile)(process.execPath, [tsc, '-p', dir, '--listFiles'])).stdout
  } catch (error) {
    listed = (error as { stdout?: string }).stdout ?? String(error)
    errors = listed
  }
  const { name, version } = JSON.parse(readFileSync(join(types, 'package.json'), 'utf8'))
  // pnpm keeps each release in a folder named after it: .pnpm/@types+express@4.17.21/...
  const folder = `${name.replace('/', '+')}@`
  const releasesRead = listed
    .split('\n')
    .flatMap((file) => file.split('/').filter((part) => part.startsWith(folder)))
  return { errors, typesRead: [...new Set(releasesRead)], typesAsked: `${folder}${version}` }
}

// Each check is a tsc process of its own: run them side by side.
describe.concurrent.each(RELEASES)("@keyward/%s's types with %s", (framework, typesPackage) => {
  it('compile in a host app, and type what the adapter adds', { timeout: 120_000 }, async () => {
    const { errors, typesRead, typesAsked } = await typeCheck(framework, typesPackage)
    expect(errors).toBe('')
    // That release's types and no other's.
    expect(typesRead).toEqual([typesAsked])
  })
})
