// Worker file of the piscina and tinypool baselines in futures.bench.ts (plain ESM, loaded
// without tsx): the default export is the task.

/** The no-op task: returns its argument. */
export default function noop(x) {
  return x
}
