/** pg ships no types: its oldest supported release, installed under an alias, takes @types/pg's. */
declare module 'pg-8.0.3' {
  export { default } from 'pg'
}
