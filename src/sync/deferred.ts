/** A promise with its settle functions, for work that finishes per item inside a batch. */
export interface Deferred<T = void> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(err: unknown): void;
}

export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // settled by a batch whether or not anyone waits: never an unhandled rejection
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}
