// Code that must fail lint (rule O3): test/lint.test.ts lints this file and expects each error.
// It is excluded from the normal lint run.

export async function flush(): Promise<void> {
  await Promise.resolve();
}

export function forgetsToAwait(): void {
  flush(); // no-floating-promises: "pending" taken for "done"
}

export function passesAPromiseWhereVoidIsExpected(items: number[]): void {
  items.forEach(async () => {
    await flush();
  }); // no-misused-promises: forEach does not wait
}
