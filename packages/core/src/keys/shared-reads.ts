interface Flight<T> {
  /** The cache's read mark when the read began (KeyCache.readMark). */
  readonly mark: number
  readonly read: Promise<T>
}

/**
 * Store reads in flight by what they look up, each shared by every request that misses the same
 * key while it is in flight. When the cache is dropped (the store's channel is back after a
 * break, or on a cold start), a busy key's clients would otherwise send the store one read each,
 * all at once, just as it recovers.
 *
 * A request joins a read only if it began under the same read mark: a read that began before a
 * deletion whose outcome is unknown (or before events were missed) may hold the deleted key, and
 * must not answer a request made after it. Deletions keyward knows of are refused by the cache
 * when the shared read stores its answer, as for a read of one's own; but the cache may forget
 * one (or learn of an unknown one) while the read is in flight, and then it answers only the
 * request that began the read: a joiner whose answer is not `servesJoiners` reads for itself
 * (with its own `start`). lru-cache's `fetch` also coalesces, but keeps its own clock and knows
 * nothing of the marks, hence these few lines.
 */
export class SharedReads<T> {
  readonly #inFlight = new Map<string, Flight<T>>()

  constructor(private readonly servesJoiners: (answer: T) => boolean) {}

  read(lookup: string, mark: number, start: () => Promise<T>): Promise<T> {
    const joined = this.#inFlight.get(lookup)
    if (joined !== undefined && joined.mark === mark)
      return joined.read.then((answer) => (this.servesJoiners(answer) ? answer : start()))
    const flight: Flight<T> = { mark, read: start() }
    this.#inFlight.set(lookup, flight)
    const landed = () => {
      if (this.#inFlight.get(lookup) === flight) this.#inFlight.delete(lookup)
    }
    flight.read.then(landed, landed)
    return flight.read
  }
}
