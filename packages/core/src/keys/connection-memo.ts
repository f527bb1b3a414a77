import { constantTimeStringEqual } from '../lib/secrets.js'

interface Remembered {
  readonly raw: string
  readonly digestBytes: string
}

/**
 * The last API key verified on each open connection, with its digest. A keep-alive client sends
 * the same key on every request of a connection; recognising it spares the SHA-256, the largest
 * part of a warm verification (about 4% of a Fastify request's CPU in the profile). It only
 * stands in for the hash: the digest is still looked up in the verification cache, so deletion,
 * expiry and the cache's freshness apply exactly as without it. The comparison is constant-time
 * (a proxy may carry several clients on one connection), and the key lives only in process
 * memory and only as long as the connection does (a WeakMap keyed by the socket): never stored,
 * never logged. Only verified keys are remembered.
 */
export class ConnectionMemo {
  readonly #byConnection = new WeakMap<object, Remembered>()

  /** The digest of `raw` if it is the key last verified on this connection. */
  digestOf(connection: object, raw: string): string | undefined {
    const remembered = this.#byConnection.get(connection)
    return remembered !== undefined && constantTimeStringEqual(remembered.raw, raw)
      ? remembered.digestBytes
      : undefined
  }

  remember(connection: object, raw: string, digestBytes: string): void {
    this.#byConnection.set(connection, { raw, digestBytes })
  }

  forget(connection: object): void {
    this.#byConnection.delete(connection)
  }
}
