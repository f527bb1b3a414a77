import { keyward } from './plugin.js'

export type { KeywardPluginOptions, KeywardRouteGuard } from './plugin.js'
export { keyward }
export default keyward
