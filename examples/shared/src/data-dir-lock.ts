import { linkSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'

export interface DataDirLock {
  /** Removes the lock file, if it is still this process's. Safe to call more than once. */
  release(): void
}

/** Tries at claiming the lock, each after a stale one was taken over or released meanwhile. */
const ATTEMPTS = 3

/**
 * Claims a PGlite data folder for this process: PGlite takes no lock of its own, and two processes
 * on one folder corrupt it. The lock is the file `<dataDir>.lock` beside the folder (PGlite's own
 * directory stays untouched), created only if absent and holding this process's id. A lock whose
 * process is gone (killed, crashed) is taken over; one whose process is alive never is.
 * Released on release() and when the process exits.
 */
export function lockDataDir(dataDir: string): DataDirLock {
  // resolve() drops a trailing slash, which would put `.lock` inside the folder.
  const path = `${resolve(dataDir)}.lock`
  const mine = String(process.pid)
  mkdirSync(dirname(path), { recursive: true })
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    if (create(path, mine)) return holding(path, mine)
    const holder = readHolder(path)
    if (holder === undefined) continue // released meanwhile
    // A live holder keeps it: an mtime heartbeat (proper-lockfile) steals while PGlite's WASM blocks it.
    if (isLive(holder)) throw inUse(dataDir, path, holder)
    takeOver(path, holder)
  }
  throw new Error(`cannot take the lock file ${path}: other processes keep racing for it`)
}

/** Creates the lock file only if there is none (O_EXCL), or says it exists. */
function create(path: string, content: string): boolean {
  try {
    writeFileSync(path, content, { flag: 'wx' })
    return true
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false
    throw error
  }
}

function holding(path: string, mine: string): DataDirLock {
  const release = () => {
    process.off('exit', release)
    if (readHolder(path) === mine) rmSync(path, { force: true })
  }
  process.on('exit', release)
  return { release }
}

function inUse(dataDir: string, path: string, holder: string): Error {
  const who = isPid(holder)
    ? `process ${holder}`
    : `a process that is starting (or none: the lock file ${path} holds no process id; remove it if no example runs)`
  return new Error(
    `KEYWARD_DATA_DIR ${dataDir} is in use by ${who}: one process at a time may use a PGlite data folder. Stop the other example, or set another KEYWARD_DATA_DIR.`,
  )
}

/** The lock's content, or undefined when there is no lock file. */
function readHolder(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw error
  }
}

const isPid = (text: string) => /^[1-9]\d*$/.test(text)

/** Whether the lock's process still runs: only then is the folder in use. */
function isLive(held: string): boolean {
  // Empty: its holder created the file and has not written its id yet. Anything else unreadable is
  // not ours to remove either.
  if (!isPid(held)) return true
  const pid = Number(held)
  // Our own id in a lock we have not taken is a previous run's: containers restart as pid 1.
  if (pid === process.pid) return false
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    // EPERM: the process exists, under another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/**
 * Removes a stale lock that held `stale`. It is moved aside first (atomically), so that of two
 * processes taking it over at once only one removes it; the other moves nothing, or moves the
 * winner's new lock and puts it back (link() refuses to replace a file, as 'wx' does).
 */
function takeOver(path: string, stale: string): void {
  const aside = `${path}.${process.pid}`
  try {
    renameSync(path, aside)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return
    throw error
  }
  try {
    if (readFileSync(aside, 'utf8') !== stale) linkSync(aside, path)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
  } finally {
    rmSync(aside, { force: true })
  }
}
