import { memoryStore } from '@keyward/core'
import { runStoreConformance } from '@keyward/core/testing'

runStoreConformance({ name: 'memory', setup: async () => ({ store: memoryStore() }) })
