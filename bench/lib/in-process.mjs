/**
 * Figures measured inside one process: verification latency on a cache hit and on a miss for
 * each store, at 1,000 and at many keys; store writes under 100,000 guarded requests; the
 * verification cache's memory bound.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto'
import { createKeyward, memoryStore } from '@keyward/core'
import { percentile, round } from './stats.mjs'

const users = { get: (id) => ({ id, permissions: [] }) }
const SECRET = 'bench-secret-bench-secret-bench-secret-00'
const sha256 = (value) => createHash('sha256').update(value).digest('hex')

/** Inserts `count` key records (random digests, nobody holds their keys) in parallel batches. */
export async function fillStore(store, count, onProgress = () => {}) {
  const batch = 500
  for (let done = 0; done < count; done += batch) {
    const now = Date.now()
    await Promise.all(
      Array.from({ length: Math.min(batch, count - done) }, (_, i) =>
        store.insertKey({
          id: randomUUID(),
          userId: `filler-${(done + i) % 10_000}`,
          name: 'filler',
          digest: sha256(randomBytes(16).toString('hex')),
          preview: 'ms-…0000',
          createdOn: new Date(now),
          expiresOn: new Date(now + 90 * 86_400_000),
          lastUsedOn: null,
        }),
      ),
    )
    onProgress(done + batch)
  }
}

async function timeEach(count, fn) {
  const samples = []
  for (let i = 0; i < count; i++) {
    const start = process.hrtime.bigint()
    await fn(i)
    samples.push(Number(process.hrtime.bigint() - start) / 1000)
  }
  return { p50_us: round(percentile(samples, 50), 1), p99_us: round(percentile(samples, 99), 1) }
}

/**
 * Calls `fn` for at least `seconds` and `minimum` calls. By time, not by count: for its first
 * half second a fresh process compiles this path on the other core, which is also the store's,
 * and a count-bounded warm-up (400 misses) left those 1-8 ms stalls in the p99.
 */
async function warmUp(seconds, minimum, fn) {
  const until = performance.now() + seconds * 1000
  for (let i = 0; i < minimum || performance.now() < until; i++) await fn(i)
}

/** The store, with every call of each method counted in `calls`. */
function countingStore(store, calls) {
  return new Proxy(store, {
    get(target, name, receiver) {
      const value = Reflect.get(target, name, receiver)
      if (typeof value !== 'function') return value
      return (...args) => {
        calls[name] = (calls[name] ?? 0) + 1
        return value.apply(target, args)
      }
    },
  })
}

const isRead = (method) => /^(find|get|list|peek)/.test(method)
const isWrite = (method) => !isRead(method) && method !== 'subscribe'
const sum = (counts, keep) =>
  Object.entries(counts).reduce((total, [method, count]) => (keep(method) ? total + count : total), 0)

/**
 * Latency of verifyKey on a warm cache, and on a miss (cache of one entry, keys in rotation),
 * with the store calls each miss made.
 */
export async function verificationLatency(store, { samples = 5000, keys = 200, warmup = 1 } = {}) {
  const calls = {}
  const warm = createKeyward({ jwtSecret: SECRET, users, store, rateLimit: false })
  const cold = createKeyward({
    jwtSecret: SECRET,
    users,
    store: countingStore(store, calls),
    rateLimit: false,
    cache: { max: 1 },
  })
  const issued = []
  for (let i = 0; i < keys; i++) issued.push((await warm.issueKey(`bench-${i}`, { name: 'bench' })).key)
  // Warm both: the cache of one, and the store's connections and query plans for the other.
  await warmUp(warmup, keys, (i) => warm.verifyKey(issued[i % keys]))
  await warmUp(warmup, 2 * keys, (i) => cold.verifyKey(issued[i % keys]))
  const hit = await timeEach(samples, (i) => warm.verifyKey(issued[i % keys]))
  for (const method of Object.keys(calls)) delete calls[method]
  const miss = await timeEach(samples, (i) => cold.verifyKey(issued[i % keys]))
  await warm.close()
  await cold.close()
  return { hit, miss: { ...miss, reads_per_miss: round(sum(calls, isRead) / samples, 2), calls } }
}

/** Store writes while 100,000 guarded requests use one key: last use is batched. */
export async function hotPathWrites(requests = 100_000) {
  const calls = {}
  const store = countingStore(memoryStore(), calls)
  const keyward = createKeyward({ jwtSecret: SECRET, users, store, rateLimit: false })
  const { key } = await keyward.issueKey('bench', { name: 'bench' })
  for (const name of Object.keys(calls)) delete calls[name]
  const started = Date.now()
  const request = { headers: { 'x-api-key': key }, ip: '127.0.0.1' }
  for (let i = 0; i < requests; i++) {
    const outcome = await keyward.guard(request)
    if (!outcome.ok) throw new Error('guard refused the bench key')
  }
  await keyward.close()
  return {
    requests,
    seconds: round((Date.now() - started) / 1000, 1),
    writes: sum(calls, isWrite),
    byMethod: Object.fromEntries(Object.entries(calls).filter(([method]) => isWrite(method))),
  }
}

/** Heap growth while verifying many distinct keys through a cache bounded at `max` entries. */
export async function cacheMemory({ max = 10_000, distinct = 50_000 } = {}) {
  const store = memoryStore()
  // Keys of 100 users, more than maxKeysPerUser allows each: the bound is not what is measured.
  const keyward = createKeyward({
    jwtSecret: SECRET,
    users,
    store,
    rateLimit: false,
    maxKeysPerUser: false,
    cache: { max },
  })
  const keys = []
  for (let i = 0; i < distinct; i++) keys.push((await keyward.issueKey(`u${i % 100}`, { name: 'm' })).key)
  // Every key used once beforehand (through another instance), so the store's records already
  // carry a last-use time and the growth measured below is the cache's alone.
  const primer = createKeyward({ jwtSecret: SECRET, users, store, rateLimit: false, cache: { max: 1 } })
  for (const key of keys) await primer.verifyKey(key)
  await primer.close()
  const heapAfter = async (count) => {
    for (let i = 0; i < count; i++) await keyward.verifyKey(keys[i])
    // Pending last-use times (one per distinct key used since the last batch) are not the cache.
    await keyward.flushUsage()
    global.gc?.()
    return process.memoryUsage().heapUsed
  }
  const baseline = await heapAfter(0)
  const atMax = await heapAfter(max)
  const atAll = await heapAfter(distinct)
  await keyward.close()
  const mb = (bytes) => round(bytes / 2 ** 20, 1)
  // Growth while the cache fills to its bound, then while 4x as many keys pass through it.
  return { max, distinct, filling_mb: mb(atMax - baseline), beyond_bound_mb: mb(atAll - atMax) }
}
