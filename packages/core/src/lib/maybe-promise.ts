/**
 * The guard's hot path answers from memory almost always; `await` on a value that is already
 * there still costs a promise and a microtask. These helpers let a step return a plain value
 * when it has one and a promise only when it must wait (a store read, a first JWT verify).
 */
export type MaybePromise<T> = T | Promise<T>

export const isPromiseLike = <T>(value: MaybePromise<T> | PromiseLike<T>): value is PromiseLike<T> =>
  typeof (value as PromiseLike<T> | null)?.then === 'function'

export function chain<T, U>(value: MaybePromise<T>, next: (value: T) => MaybePromise<U>): MaybePromise<U> {
  return isPromiseLike(value) ? Promise.resolve(value).then(next) : next(value)
}
