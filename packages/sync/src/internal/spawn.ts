/**
 * Starts a worker on a Tandem entry module, in compiled form (`.js`) or, when Tandem itself is
 * running from its TypeScript sources, under tsx.
 *
 * tsx on Node 20 registers its module hooks on the main thread only, and those hooks do not
 * reach workers; a worker whose entry is `.ts` then fails with ERR_UNKNOWN_FILE_EXTENSION. For a
 * `.ts` entry we therefore start a tiny shim that registers tsx in the worker first.
 */
import { createRequire } from 'node:module'
import { pathToFileURL } from 'node:url'
import { Worker, type WorkerOptions } from 'node:worker_threads'
import { codedError } from '../errors.ts'

let tsxApi: string | undefined

function resolveTsx(): string {
  if (tsxApi !== undefined) return tsxApi
  try {
    tsxApi = import.meta.resolve('tsx/esm/api')
  } catch {
    try {
      tsxApi = pathToFileURL(createRequire(`${process.cwd()}/`).resolve('tsx/esm/api')).href
    } catch {
      throw codedError('Tandem is running from its .ts sources, but tsx cannot be found to load them in a worker; install tsx or use the compiled package', 'ERR_TSX_NOT_FOUND')
    }
  }
  return tsxApi
}

/** Key of extra `Worker` options in a Thread's options (for Tandem's own threads, such as ipc's I/O thread). */
export const WORKER_OPTIONS = Symbol.for('tandem.sync.workerOptions')

/**
 * Starts a worker running `entry` (a module URL inside Tandem).
 * @param prelude CommonJS code run in the worker before anything is loaded (for example an
 *   `exit` handler that must exist even if loading the entry fails)
 */
export function spawnWorker(entry: URL, options: WorkerOptions, prelude = ''): Worker {
  if (!entry.pathname.endsWith('.ts') && prelude === '') return new Worker(entry, options)
  const load = entry.pathname.endsWith('.ts')
    ? `import(${JSON.stringify(resolveTsx())}).then((m) => m.register()).then(() => import(${JSON.stringify(entry.href)}))`
    : `import(${JSON.stringify(entry.href)})`
  return new Worker(`${prelude};\n${load}`, { ...options, eval: true })
}
