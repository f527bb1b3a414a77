/**
 * The floor: the work keyward's guard must do on every request of a warm keep-alive connection,
 * in one function, and nothing else, mounted the way each framework mounts a guard (a Fastify
 * onRequest hook, an Express or Koa middleware). It reads X-Api-Key from the headers Node parsed
 * (a repeated one arrives joined, "a, b", and matches no key), reads the clock, looks the
 * connection up in a WeakMap and compares the key with the one remembered there in constant time,
 * checks the key's cache entry (still held, fresh, not expired), looks the user up, checks the
 * route's permissions, records the use once per millisecond and hands the principal to the host
 * where keyward does (`request.auth`, a symbol slot of Express's `req.rawHeaders`, `ctx.state.auth`).
 * What it leaves out: the digest and the cache lookup on a connection's first request (it knows the
 * one key), a rate limiter, the token path, the error bodies. Not a guard to use: a measure of what
 * keyward's structure costs above its necessary work on the machine the suite runs on (the
 * side-by-side section's `floor`).
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

/**
 * The check itself, framework-neutral: `check(headers, socket)` answers the principal, or a string
 * naming the refusal (the wrappers answer it with 401, or 403 for `forbidden`).
 */
function floorCheck({ key, keyId, userId, users, permissions }) {
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

  return function check(headers, socket) {
    const value = headers['x-api-key']
    if (typeof value !== 'string') return 'missing'
    const now = Date.now()
    const memo = remembered.get(socket)
    if (memo === undefined || !matches(memo.units, value)) {
      if (!matches(keyUnits, value)) return 'invalid'
      remembered.set(socket, { units: codeUnits(value), entry })
    }
    if (!entry.live || now >= entry.staleAt || entry.expiresAt <= now) return 'expired'
    const user = users.get(entry.userId)
    if (user === null) return 'user gone'
    for (const permission of permissions) if (!user.permissions.includes(permission)) return 'forbidden'
    if (entry.usedAt !== now) {
      entry.usedAt = now
      usage.set(entry.keyId, now)
    }
    return { userId: user.id, keyId: entry.keyId, permissions: user.permissions, credential: 'api_key', user }
  }
}

const statusOf = (refusal) => (refusal === 'forbidden' ? 403 : 401)

/**
 * Where the Express floor puts the principal, as keyward's adapter does (packages/express/src/
 * auth-slot.ts): a symbol slot of `req.rawHeaders`, since a property added to an Express request
 * builds a hidden class of its own. Left out: the `req.auth` accessor keyward defines once to read
 * the slot (the floor's route reads nothing) and its WeakMap for requests without `rawHeaders`.
 */
const SLOT = Symbol('floor.auth')

/**
 * A check mounted as each framework mounts a guard: a Fastify onRequest hook, an Express or a Koa
 * middleware. The principal goes where keyward's adapter puts it: `request.auth`, the `rawHeaders`
 * slot on Express, `ctx.state.auth`.
 */
export const mountCheck = {
  fastify: (check) =>
    function floor(request, reply, done) {
      const outcome = check(request.raw.headers, request.raw.socket)
      if (typeof outcome === 'string') return reply.code(statusOf(outcome)).send({ error: outcome })
      request.auth = outcome
      done()
    },
  express: (check) =>
    function floor(req, res, next) {
      const outcome = check(req.headers, req.socket)
      if (typeof outcome === 'string') return res.status(statusOf(outcome)).json({ error: outcome })
      req.rawHeaders[SLOT] = outcome
      next()
    },
  koa: (check) =>
    function floor(ctx, next) {
      const outcome = check(ctx.req.headers, ctx.req.socket)
      if (typeof outcome === 'string') {
        ctx.status = statusOf(outcome)
        ctx.body = { error: outcome }
        return
      }
      ctx.state.auth = outcome
      return next()
    },
}

/** The floor as `framework` mounts a guard. */
export const floorFor = (framework, options) => mountCheck[framework](floorCheck(options))

/**
 * The floor taken apart (`node bench/server.mjs <framework> --steps`, measured by bench/ablate.mjs):
 * guards that each add one of the floor's ingredients to the one before, in the floor's order, so
 * that pairing each with the one before tells what that ingredient costs in the framework's
 * process. The step after `user` is the floor itself (the `floor` app).
 *   state   hands a principal built once to the host, reading nothing
 *   header  reads X-Api-Key from Node's headers and compares it with the key (===)
 *   clock   reads the clock and checks the key's expiry
 *   memo    finds the connection in a WeakMap and compares in constant time instead of ===
 *   user    asks the directory for the user, checks the route's permissions, builds the principal
 * (the floor then checks the cache entry, held and fresh, and records the use once per millisecond)
 */
export function floorSteps({ key, keyId, userId, users, permissions }) {
  const user = users.get(userId)
  const built = { userId, keyId, permissions: user.permissions, credential: 'api_key', user }
  const expiresAt = Date.now() + LIFETIME_MS
  const keyUnits = codeUnits(key)
  const remembered = new WeakMap()
  /** The memo step's key check: the connection's remembered key, else the one key. */
  const knownOn = (socket, value) => {
    const units = remembered.get(socket)
    if (units !== undefined && matches(units, value)) return true
    if (!matches(keyUnits, value)) return false
    remembered.set(socket, codeUnits(value))
    return true
  }
  return {
    state: () => built,
    header: (headers) => (headers['x-api-key'] === key ? built : 'invalid'),
    clock: (headers) => {
      if (headers['x-api-key'] !== key) return 'invalid'
      return Date.now() < expiresAt ? built : 'expired'
    },
    memo: (headers, socket) => {
      const value = headers['x-api-key']
      if (typeof value !== 'string') return 'missing'
      const now = Date.now()
      if (!knownOn(socket, value)) return 'invalid'
      return now < expiresAt ? built : 'expired'
    },
    user: (headers, socket) => {
      const value = headers['x-api-key']
      if (typeof value !== 'string') return 'missing'
      const now = Date.now()
      if (!knownOn(socket, value)) return 'invalid'
      if (now >= expiresAt) return 'expired'
      const found = users.get(userId)
      if (found === null) return 'user gone'
      for (const permission of permissions) if (!found.permissions.includes(permission)) return 'forbidden'
      return { userId: found.id, keyId, permissions: found.permissions, credential: 'api_key', user: found }
    },
  }
}
