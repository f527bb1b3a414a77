/** The part of http.mjs the tests use: one `bench/server.mjs <framework>` process. */
export interface BenchServer {
  readonly pid: number
  /** The base URL of one of the process's apps (none, control, keyward, noop, peer, floor). */
  url(app: string): string
  readonly key: string
  readonly token: string
  stop(): Promise<unknown>
}
export declare function startServer(
  framework: string,
  nodeOptions?: readonly string[],
  serverArgs?: readonly string[],
): Promise<BenchServer>
