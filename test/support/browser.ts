/**
 * A real headless Chromium (Debian's, driven by playwright-core, which downloads nothing) for the
 * suites under test/browser. Without it a suite is skipped with a message saying how to install
 * it; with KEYWARD_REQUIRE_SERVICES=1 (set by .ci/run) a missing browser fails the run instead,
 * as a missing PostgreSQL or Redis does (./services.ts).
 */
import { existsSync } from 'node:fs'
import { type Browser, chromium } from 'playwright-core'
import { describeNeeding } from './services.js'

const HOW_TO = 'apt-get install -y chromium (Debian), or KEYWARD_CHROMIUM=<path to a Chromium> pnpm test'

/** `describe` that runs only when Chromium is installed, and says how to install it otherwise. */
export function describeWithBrowser(title: string, body: (executablePath: string) => void): void {
  const path = process.env.KEYWARD_CHROMIUM || '/usr/bin/chromium'
  const need = { name: 'Chromium', missing: `no Chromium at ${path}`, howTo: `Install it with: ${HOW_TO}` }
  describeNeeding(need, existsSync(path) ? path : undefined, title, body)
}

export function launchChromium(executablePath: string): Promise<Browser> {
  return chromium.launch({
    executablePath,
    headless: true,
    timeout: 15_000,
    // The closed network refuses Chromium's own connections (updates, sync, field trials)
    // noisily; these keep it to the pages a test opens.
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      // Debian's launcher means to add this where /dev/shm is small, but its check misreads
      // findmnt's output and never does: a small /dev/shm (a container's 64 MB) crashes pages.
      '--disable-dev-shm-usage',
    ],
  })
}
