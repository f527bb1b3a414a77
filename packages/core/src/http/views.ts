import type { IssuedKey, KeyInfo } from '../keyward.js'

/** A key as listings and deletions show it: never the key, never its digest. */
export const keySummary = (record: KeyInfo) => ({
  id: record.id,
  name: record.name,
  preview: record.preview,
  created_on: record.createdOn.toISOString(),
  expires_on: record.expiresOn.toISOString(),
  last_used_on: record.lastUsedOn?.toISOString() ?? null,
})

/**
 * The credentials document returned with a new key: a JSON text a CLI or CI job saves as is
 * (for example as `~/.config/<app>/credentials.json`) and reads back with JSON.parse.
 */
export function credentialsDocument(issued: IssuedKey, baseUrl: string | null): string {
  return JSON.stringify({
    type: 'keyward-credentials',
    version: 1,
    api_key: issued.key,
    key_id: issued.id,
    key_name: issued.name,
    base_url: baseUrl,
    expires_on: issued.expiresOn.toISOString(),
  })
}
