export type { StoreConformanceOptions, StoreUnderTest } from './store-conformance.js'
export { runStoreConformance, sampleKeyRecord } from './store-conformance.js'
