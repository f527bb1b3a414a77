/**
 * The guard's hot path answers from memory almost always; `await` on a value that is already
 * there still costs a promise and a microtask. These helpers let a step return a plain value
 * when it has one and a promise only when it must wait (a store read, a first JWT verify).
 */
export type MaybePromise<T> = T | Promise<T>

/** Written out at each step rather than wrapped in a helper: a helper's callback is a closure per call. */
export const isPromiseLike = <T>(value: MaybePromise<T>): value is Promise<T> =>
  typeof (value as Promise<T> | null)?.then === 'function'
