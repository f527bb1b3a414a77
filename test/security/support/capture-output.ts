/**
 * Records everything the test process prints while `run` is going: console.* and raw writes
 * to stdout and stderr (the frameworks' loggers and Node's warnings write there). The output
 * still goes where it would have gone; the recording is returned for the test to inspect.
 */
const CONSOLE_METHODS = ['log', 'info', 'warn', 'error', 'debug', 'trace'] as const

export async function captureOutput<T>(run: () => Promise<T>): Promise<{ result: T; output: string[] }> {
  const output: string[] = []
  const consoleOriginals = CONSOLE_METHODS.map((name) => [name, console[name]] as const)
  for (const [name, original] of consoleOriginals) {
    console[name] = (...args: unknown[]) => {
      output.push(`console.${name}: ${args.map(String).join(' ')}`)
      original.apply(console, args)
    }
  }
  const streams = [process.stdout, process.stderr] as const
  const writeOriginals = streams.map((stream) => stream.write)
  for (const stream of streams) {
    const original = stream.write
    stream.write = ((chunk: unknown, ...rest: unknown[]) => {
      output.push(`${stream === process.stdout ? 'stdout' : 'stderr'}: ${String(chunk)}`)
      return (original as (...args: unknown[]) => boolean).call(stream, chunk, ...rest)
    }) as typeof stream.write
  }
  try {
    return { result: await run(), output }
  } finally {
    for (const [name, original] of consoleOriginals) console[name] = original
    streams.forEach((stream, index) => {
      stream.write = writeOriginals[index] as typeof stream.write
    })
  }
}
