import type { KeyStore } from './types.js'

/**
 * Whether deletions made on other instances reach this one through the store's channel:
 * - `starting`: not subscribed yet (an instance started during an outage retries with backoff);
 * - `listening`;
 * - `interrupted`: the store reported trouble since it last listened, and has not listened again;
 * - `none`: the store has no channel (a single-process store).
 * Until it is `listening`, the cache's freshness (`cache.ttl`) bounds how long a key deleted
 * elsewhere keeps working here.
 */
export type EventChannelState = 'starting' | 'listening' | 'interrupted' | 'none'

export interface KeywardHealth {
  /** The store answered: this instance can verify keys it has not cached, and serve its routes. */
  readonly ok: boolean
  /** `up`, or `unavailable`: the store failed or did not answer a read within `storeTimeout`. */
  readonly store: 'up' | 'unavailable'
  readonly events: EventChannelState
}

/** The channel's state, as told by the subscription's callbacks. */
export class EventChannel {
  #state: EventChannelState

  constructor(store: KeyStore) {
    this.#state = store.subscribe ? 'starting' : 'none'
  }

  /** Subscribed, at last or again. */
  listening(): void {
    this.#state = 'listening'
  }

  /** A trouble once subscribed; failed first attempts leave it `starting`. */
  troubled(): void {
    if (this.#state === 'listening') this.#state = 'interrupted'
  }

  get state(): EventChannelState {
    return this.#state
  }
}

/** No key has this id (keyward's are random UUIDs, version 4): a read of it costs one index lookup. */
const PROBE_KEY_ID = '00000000-0000-0000-0000-000000000000'

/**
 * One store read, for a readiness probe. It writes nothing and reports nothing: a probe every few
 * seconds during an outage would repeat what the requests' error events already tell.
 */
export async function checkHealth(store: KeyStore, channel: EventChannel): Promise<KeywardHealth> {
  let up: boolean
  try {
    await store.findKeyById(PROBE_KEY_ID)
    up = true
  } catch {
    up = false
  }
  return { ok: up, store: up ? 'up' : 'unavailable', events: channel.state }
}
