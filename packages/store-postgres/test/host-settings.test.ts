/**
 * The store on a host's own driver configuration, which the host's other code may need and
 * keyward cannot refuse: type parsers that read booleans, times and floats as text and integers
 * as BigInt (set for a Pool with `types`, as `pg.types.setTypeParser` sets them for every pool,
 * or given to PGlite as `parsers`), and session settings that change how PostgreSQL writes values.
 * The whole contract holds on each: before, a boolean read as 'f' was true (a spent refresh token
 * rotated again, an enabled TOTP read as off) and a negative extra_float_digits moved expiries by
 * years.
 */
import { PGlite } from '@electric-sql/pglite'
import { runStoreConformance } from '@keyward/core/testing'
import { Pool } from 'pg'
import { describeWith } from '../../../test/support/services.js'
import { onPGlite, onPostgres } from './support.js'

const asText = (value: string) => value
const INT8 = 20
const INT4 = 23
/** Integers as BigInt, every other type as its text. */
const hostParser = (type: number) => (type === INT8 || type === INT4 ? BigInt : asText)
const SESSION = {
  extra_float_digits: '-15',
  DateStyle: 'SQL, DMY',
  TimeZone: 'Pacific/Chatham',
  IntervalStyle: 'sql_standard',
}

describeWith('DATABASE_URL', 'postgres store on PostgreSQL, through a host-configured pool', (url) => {
  runStoreConformance({
    name: 'postgres store on PostgreSQL (pg.Pool with its own type parsers and session settings)',
    setup: onPostgres(
      url,
      (connectionString) =>
        new Pool({
          connectionString,
          types: { getTypeParser: hostParser },
          options: Object.entries(SESSION)
            .map(([name, value]) => `-c ${name}=${value.replace(/ /g, '\\ ')}`)
            .join(' '),
        }),
    ),
  })
})

runStoreConformance({
  name: 'postgres store on PGlite with its own parsers and session settings',
  setup: onPGlite(async () => {
    const types = [16, INT8, 21, INT4, 700, 701, 1114, 1184, 1700]
    const db = new PGlite({ parsers: Object.fromEntries(types.map((type) => [type, hostParser(type)])) })
    for (const [name, value] of Object.entries(SESSION)) await db.query(`SET ${name} = '${value}'`)
    return db
  }),
})
