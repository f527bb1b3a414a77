export { sampleKeyRecord } from './fixtures.js'
export { runStoreConformance } from './store-conformance.js'
export type { StoreConformanceOptions, StoreUnderTest } from './suite.js'
