/**
 * What a command acts on, chosen before the run (so that fast-check can shrink it) and resolved
 * against the model when the command runs: an index into what exists by then, or a value that
 * never names anything issued.
 */
import type { Model, ModelAuthToken, ModelKey } from './model.js'
import { isLive } from './model.js'

/** `guarded`: the key behind the guard's last request (its key, or its token's key). */
export type KeyRef =
  | { readonly kind: 'live' | 'issued' | 'unknown' | 'guarded'; readonly pick: number }
  | { readonly kind: 'malformed'; readonly value: string }

/** `latest`: the newest of them, the one a client holds; `issued`: any, spent or old. */
export type TokenRef =
  | { readonly kind: 'latest' | 'issued' | 'forged'; readonly pick: number }
  | { readonly kind: 'garbage'; readonly value: string }

export type RefreshRef =
  | { readonly kind: 'latest' | 'issued' | 'unknown'; readonly pick: number }
  | { readonly kind: 'malformed'; readonly value: string }

/** Keys no store holds: the wrong length, prefix or case, or no key at all. */
export const MALFORMED_KEYS = [
  'ms-',
  'ms-XYZ',
  `ms-${'A'.repeat(32)}`,
  `pk-${'a'.repeat(32)}`,
  `ms-${'a'.repeat(31)}`,
  `ms-${'a'.repeat(33)}`,
  'nope',
] as const

export const GARBAGE_TOKENS = [
  'a.b.c',
  'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.',
  `rt_${'A'.repeat(43)}`,
] as const
export const MALFORMED_REFRESH = ['', 'rt_short', `rt_${'A'.repeat(42)}!`, 'nope'] as const

const at = <T>(list: readonly T[], pick: number): T | undefined =>
  list.length === 0 ? undefined : list[pick % list.length]

export function resolveKey(model: Model, ref: KeyRef): { raw: string; key: ModelKey | undefined } {
  if (ref.kind === 'malformed') return { raw: ref.value, key: undefined }
  const guarded = ref.kind === 'guarded' ? guardedKey(model) : undefined
  if (guarded !== undefined) return { raw: guarded.raw, key: guarded }
  if (ref.kind !== 'unknown') {
    const pool = ref.kind === 'live' ? model.keys.filter((key) => isLive(model, key)) : model.keys
    const key = at(pool, ref.pick) ?? at(model.keys, ref.pick)
    if (key !== undefined) return { raw: key.raw, key }
  }
  // Well-formed, and 128 bits no one drew.
  return { raw: `ms-${ref.pick.toString(16).padStart(32, '0')}`, key: undefined }
}

function guardedKey(model: Model): ModelKey | undefined {
  const last = model.lastGuarded
  if (last === undefined) return undefined
  if (last.asKey) return model.keys.find((key) => key.raw === last.raw)
  const keyId = model.authTokens.find((token) => token.raw === last.raw)?.keyId
  return keyId == null ? undefined : model.keys.find((key) => key.id === keyId)
}

/** A token with one character of its signature changed (not the last: its low bits are padding). */
export function forged(token: string): string {
  const [header, payload, signature = ''] = token.split('.')
  const i = Math.floor(signature.length / 2)
  const changed = signature[i] === 'A' ? 'B' : 'A'
  return `${header}.${payload}.${signature.slice(0, i)}${changed}${signature.slice(i + 1)}`
}

export function resolveToken(
  model: Model,
  ref: TokenRef,
): { raw: string; token: ModelAuthToken | undefined } {
  if (ref.kind === 'garbage') return { raw: ref.value, token: undefined }
  const token = ref.kind === 'latest' ? model.authTokens.at(-1) : at(model.authTokens, ref.pick)
  if (token === undefined) return { raw: GARBAGE_TOKENS[0], token: undefined }
  return ref.kind === 'forged' ? { raw: forged(token.raw), token: undefined } : { raw: token.raw, token }
}

export function resolveRefresh(model: Model, ref: RefreshRef): string {
  if (ref.kind === 'malformed') return ref.value
  const token =
    ref.kind === 'latest'
      ? model.refreshTokens.at(-1)
      : ref.kind === 'issued'
        ? at(model.refreshTokens, ref.pick)
        : undefined
  return token?.raw ?? `rt_${ref.pick.toString(36).padStart(43, 'Z')}`
}

export const describeKeyRef = (ref: KeyRef): string =>
  ref.kind === 'malformed' ? JSON.stringify(ref.value) : `${ref.kind}#${ref.pick}`
export const describeTokenRef = (ref: TokenRef): string =>
  ref.kind === 'garbage' ? JSON.stringify(ref.value) : `${ref.kind}#${ref.pick}`
export const describeRefreshRef = (ref: RefreshRef): string =>
  ref.kind === 'malformed' ? JSON.stringify(ref.value) : `${ref.kind}#${ref.pick}`
