import { createHash } from 'node:crypto'
import type { Redis } from 'ioredis'

/**
 * A Lua script run with EVALSHA, falling back to EVAL (which caches it) when the server does
 * not know it yet, as after a restart or a SCRIPT FLUSH. Unlike ioredis's defineCommand, it
 * adds nothing to the host's client.
 */
export class Script {
  readonly #source: string
  readonly #sha: string

  constructor(source: string) {
    this.#source = source
    this.#sha = createHash('sha1').update(source).digest('hex')
  }

  async run(client: Redis, keys: readonly string[], args: ReadonlyArray<string | number>): Promise<unknown> {
    try {
      return await client.evalsha(this.#sha, keys.length, ...keys, ...args)
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error
      return client.eval(this.#source, keys.length, ...keys, ...args)
    }
  }
}
