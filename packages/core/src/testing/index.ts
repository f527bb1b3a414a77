export type { StoreConformanceOptions, StoreUnderTest } from './store-conformance.js'
export { runStoreConformance } from './store-conformance.js'
