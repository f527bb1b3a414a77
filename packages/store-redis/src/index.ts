export type { RedisStoreOptions } from './redis-store.js'
export { redisStore } from './redis-store.js'
