/**
 * Every Redis key the store writes starts with the prefix, so several apps (or tests) can share
 * one Redis. Lua scripts build the keys they derive (a record's digest index, a family set)
 * from the prefix and the same parts.
 */
export const PART = {
  key: 'key:',
  digest: 'digest:',
  userKeys: 'user-keys:',
  refresh: 'refresh:',
  family: 'family:',
  userFamilies: 'user-families:',
  totp: 'totp:',
  counter: 'counter:',
  events: 'events',
} as const

export interface Keys {
  readonly prefix: string
  key(id: string): string
  digest(digest: string): string
  userKeys(userId: string): string
  refresh(digest: string): string
  family(familyId: string): string
  /** The ids of the user's refresh families, so that all of them can be revoked at once. */
  userFamilies(userId: string): string
  totp(userId: string): string
  counter(bucket: string): string
  /** The pub/sub channel for key.deleted events. */
  readonly events: string
}

export function keys(prefix: string): Keys {
  return {
    prefix,
    key: (id) => prefix + PART.key + id,
    digest: (digest) => prefix + PART.digest + digest,
    userKeys: (userId) => prefix + PART.userKeys + userId,
    refresh: (digest) => prefix + PART.refresh + digest,
    family: (familyId) => prefix + PART.family + familyId,
    userFamilies: (userId) => prefix + PART.userFamilies + userId,
    totp: (userId) => prefix + PART.totp + userId,
    counter: (bucket) => prefix + PART.counter + bucket,
    events: prefix + PART.events,
  }
}
