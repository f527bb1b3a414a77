/**
 * The floor: a Fastify onRequest hook that does, in one function, the work keyward's guard must do
 * on every request of a warm keep-alive connection, and nothing else. It reads X-Api-Key from the
 * headers Node parsed (a repeated one arrives joined, "a, b", and matches no key), reads the clock,
 * looks the connection up in a WeakMap and compares the key with the one remembered there in
 * constant time, checks the key's cache entry (still held, fresh, not expired), looks the user up,
 * checks the route's permissions, records the use once per millisecond and sets `request.auth`.
 * What it leaves out: the digest
 * and the cache lookup on a connection's first request (it knows the one key), a rate limiter,
 * the token path, the error bodies. Not a guard to use: a measure of what keyward's structure costs
 * above its necessary work on the machine the suite runs on (the side-by-side section's `floor`).
 */
const CACHE_TTL_MS = 60_000
const LIFETIME_MS = 90 * 86_400_000

// The compare is written out here, as the core's codeUnits and constantTimeMatches are, rather than
// imported: nothing of keyward's own code is in the floor.
const codeUnits = (text) => Uint16Array.from(text, (character) => character.charCodeAt(0))

function matches(units, value) {
  const length = units.length
  if (length !== value.length) return false
  let difference = 0
  for (let i = 0; i < length; i++) difference |= units[i] ^ value.charCodeAt(i)
  return difference === 0
}

export function floorGuard({ key, keyId, userId, users, permissions }) {
  const keyUnits = codeUnits(key)
  const entry = {
    live: true,
    staleAt: Date.now() + CACHE_TTL_MS,
    expiresAt: Date.now() + LIFETIME_MS,
    keyId,
    userId,
    usedAt: Number.NaN,
  }
  // As keyward's cache re-reads a key after its TTL: here the entry is simply refreshed.
  setInterval(() => {
    entry.staleAt = Date.now() + CACHE_TTL_MS
  }, CACHE_TTL_MS / 2).unref()
  const usage = new Map()
  const remembered = new WeakMap()

  return function floor(request, reply, done) {
    const value = request.raw.headers['x-api-key']
    if (typeof value !== 'string') return reply.code(401).send({ error: 'missing' })
    const now = Date.now()
    const socket = request.raw.socket
    const memo = remembered.get(socket)
    if (memo === undefined || !matches(memo.units, value)) {
      if (!matches(keyUnits, value)) return reply.code(401).send({ error: 'invalid' })
      remembered.set(socket, { units: codeUnits(value), entry })
    }
    if (!entry.live || now >= entry.staleAt || entry.expiresAt <= now)
      return reply.code(401).send({ error: 'expired' })
    const user = users.get(entry.userId)
    if (user === null) return reply.code(401).send({ error: 'user gone' })
    for (const permission of permissions)
      if (!user.permissions.includes(permission)) return reply.code(403).send({ error: 'forbidden' })
    if (entry.usedAt !== now) {
      entry.usedAt = now
      usage.set(entry.keyId, now)
    }
    request.auth = {
      userId: user.id,
      keyId: entry.keyId,
      permissions: user.permissions,
      credential: 'api_key',
      user,
    }
    done()
  }
}
