// Worker file of the poolifier baseline in futures.bench.ts (plain ESM, loaded without tsx).
import { ThreadWorker } from 'poolifier'

/** The no-op task: returns its argument. */
export default new ThreadWorker((x) => x)
