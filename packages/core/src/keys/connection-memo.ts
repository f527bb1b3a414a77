import { codeUnits, constantTimeMatches } from '../lib/secrets.js'
import type { CachedKey } from './key-cache.js'

interface Remembered {
  /** The key, as the code units the comparison reads. */
  readonly key: Uint16Array
  readonly entry: CachedKey
}

/**
 * The last API key verified on each open connection, with the cache entry it was found in. A
 * keep-alive client sends the same key on every request of a connection; recognising it spares
 * the SHA-256 and the cache lookup, most of a warm verification. It only stands in for the
 * lookup: the entry must still be the cache's own and fresh (KeyCache.holds), so deletion,
 * expiry and the cache's freshness apply exactly as without it. The comparison is constant-time
 * (a proxy may carry several clients on one connection), and the key lives only in process
 * memory and only as long as the connection does (a WeakMap keyed by the socket): never stored,
 * never logged. Only verified keys are remembered.
 */
export class ConnectionMemo {
  readonly #byConnection = new WeakMap<object, Remembered>()

  /** The cache entry `raw` was found in, if it is the key last verified on this connection. */
  entryOf(connection: object, raw: string): CachedKey | undefined {
    const remembered = this.#byConnection.get(connection)
    return remembered !== undefined && constantTimeMatches(remembered.key, raw) ? remembered.entry : undefined
  }

  remember(connection: object, raw: string, entry: CachedKey): void {
    this.#byConnection.set(connection, { key: codeUnits(raw), entry })
  }

  forget(connection: object): void {
    this.#byConnection.delete(connection)
  }
}
