/**
 * A node-postgres pool or a PGlite instance, owned by the host. Described by the members keyward
 * tells them apart by, not by the drivers' own types: both drivers are optional peers, and a host
 * that installs one must compile without the other's types.
 */
export type PostgresClient = PgPoolClient | PGliteClient

/** A `pg.Pool`. */
export interface PgPoolClient {
  connect(): Promise<unknown>
  readonly totalCount: number
}

/** A `PGlite` instance. */
export interface PGliteClient {
  transaction(...args: never[]): unknown
  listen(...args: never[]): unknown
}
