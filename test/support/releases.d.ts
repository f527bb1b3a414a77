/**
 * The oldest framework releases keyward's adapters support, installed under aliases
 * (package.json) for the contract suite. Express and Koa ship no types of their own: these give
 * them the workspace release's, which the host applications only use through calls both have.
 */
declare module 'express-4.21.2' {
  export { default } from 'express'
}
declare module 'express-5.0.0' {
  export { default } from 'express'
}
declare module 'koa-2.15.4' {
  export { default } from 'koa'
}
declare module 'koa-3.0.0' {
  export { default } from 'koa'
}
