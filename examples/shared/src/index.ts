export type { Example, ExampleResponse } from './app.js'
export { startExample } from './app.js'
export type { ExampleConfig } from './config.js'
export { loadConfig } from './config.js'
