/**
 * Every release a package's peerDependencies accept at the bottom of a major line is one the
 * tests run on: installed under an alias (`"express-4.21.2": "npm:express@4.21.2"`) or as the
 * workspace's own copy. A range widened without a test, or a workspace copy that moved on from
 * the floor it stood for, fails here.
 */
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const root = fileURLToPath(new URL('../..', import.meta.url))
const PACKAGES = ['express', 'fastify', 'koa', 'store-postgres', 'store-redis'] as const

const manifest = (dir: string) => JSON.parse(readFileSync(`${dir}/package.json`, 'utf8'))

/** The lowest release of each line of a range written as `^a || ^b`. */
function floors(range: string): string[] {
  return range.split('||').map((part) => {
    const floor = /^\s*\^(\d+\.\d+\.\d+)\s*$/.exec(part)?.[1]
    if (floor === undefined) throw new Error(`${range}: write each line as ^x.y.z`)
    return floor
  })
}

/** Each release of `name` installed for the tests of the package in `dir`: aliases and its own copy. */
function installed(dir: string, name: string): string[] {
  const found: string[] = []
  for (const at of [root, dir]) {
    for (const [alias, spec] of Object.entries<string>(manifest(at).devDependencies ?? {})) {
      if (alias === name || spec.startsWith(`npm:${name}@`)) {
        // pnpm links each of a manifest's dependencies, aliases included, into its node_modules.
        found.push(manifest(`${at}/node_modules/${alias}`).version)
      }
    }
  }
  return found
}

describe.each(PACKAGES)('@keyward/%s', (pkg) => {
  const dir = `${root}packages/${pkg}`
  const peers = Object.entries<string>(manifest(dir).peerDependencies ?? {}).filter(
    ([name]) => !name.startsWith('@keyward/'),
  )

  it.each(peers)('is tested at the floor of each line of its %s range', (name, range) => {
    const tested = installed(dir, name)
    for (const floor of floors(range)) expect(tested, `${name}@${floor}`).toContain(floor)
  })
})
