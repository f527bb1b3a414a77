import { packageBuild } from '../../tsup.config.base.js'

export default packageBuild(
  { index: 'src/index.ts' },
  { esmOnly: { testing: 'src/testing/index.ts' }, external: ['vitest'] },
)
