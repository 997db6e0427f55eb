// Worker file of the workerpool baseline in futures.bench.ts (plain ESM, loaded without tsx).
import workerpool from 'workerpool'

workerpool.worker({
  /** The no-op task: returns its argument. */
  noop(x) {
    return x
  },
})
