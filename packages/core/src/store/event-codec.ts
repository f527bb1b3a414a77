import type { StoreEvent } from './types.js'

/** A store event as text, for a store's notification channel (NOTIFY, PUBLISH, ...). */
export const encodeStoreEvent = (event: StoreEvent): string => JSON.stringify(event)

/** Reads an event off a channel; anything that is not a well-formed event is ignored (undefined). */
export function decodeStoreEvent(text: string): StoreEvent | undefined {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return undefined
  }
  const event = value as Partial<Record<keyof StoreEvent, unknown>> | null
  if (event?.type !== 'key.deleted' || typeof event.keyId !== 'string' || typeof event.digest !== 'string') {
    return undefined
  }
  return { type: 'key.deleted', keyId: event.keyId, digest: event.digest }
}
