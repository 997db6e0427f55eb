/**
 * Who this process is (name, daemon flag, identity, parent) and how to start a child like it.
 *
 * A Tandem child learns its identity from its boot record and publishes it in the environment
 * variable `TANDEM_PROCESS` (with its own pid, so a process that merely inherited the variable, a
 * plain `node` started by a Tandem child, is not fooled), where every thread of the process reads it.
 *
 * @module
 */
import { createRequire } from 'node:module'
import { pathToFileURL } from 'node:url'

export interface ProcessInfo {
  readonly name: string
  readonly daemon: boolean
  /** Position in the tree of Tandem processes: [] for the main one, [1] for Process-1, [1, 2] for Process-1:2. */
  readonly identity: number[]
  /** This process's pid (0 in a boot record, filled in by the child). */
  readonly pid: number
  /** 0 in the main process. */
  readonly parentPid: number
  readonly parentName: string
}

export const ENV_KEY = 'TANDEM_PROCESS'

const MAIN: ProcessInfo = { name: 'MainProcess', daemon: false, identity: [], pid: 0, parentPid: 0, parentName: '' }
let cached: ProcessInfo | undefined

/** This process's identity. */
export function processInfo(): ProcessInfo {
  if (cached !== undefined) return cached
  const text = process.env[ENV_KEY]
  if (text !== undefined) {
    try {
      const info = JSON.parse(text) as ProcessInfo
      if (info.pid === process.pid) return (cached = info)
    } catch {
      // Not ours.
    }
  }
  return (cached = { ...MAIN, pid: process.pid })
}

/** Sets this process's identity (the child bootstrap, before any thread starts). */
export function setProcessInfo(info: ProcessInfo): void {
  cached = { ...info, pid: process.pid }
  process.env[ENV_KEY] = JSON.stringify(cached)
}

/** Flags that would make the child run something else, or fight over a port. */
const DROP_WITH_VALUE = new Set(['-e', '--eval', '-p', '--print', '--input-type', '--inspect-port', '--debug-port'])
const DROP = /^(--eval|--print|--input-type|--test|--watch|--inspect|--debug|--prof|--cpu-prof|--heap-prof|-i$|--interactive|-c$|--check)/

/**
 * The `execArgv` for a child: this process's, minus flags that would break it (`-e`, `--input-type`,
 * `--test`, `--inspect`, ...), plus tsx and the `@tandem/source` condition when the child's entry
 * is TypeScript and they are missing.
 */
export function childExecArgv(entry: URL): string[] {
  const out: string[] = []
  const argv = process.execArgv
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!
    if (DROP_WITH_VALUE.has(a)) {
      i++
      continue
    }
    if (DROP.test(a)) continue
    out.push(a)
  }
  if (entry.pathname.endsWith('.ts')) {
    const joined = out.join(' ')
    if (!/tsx/.test(joined)) out.push(`--import=${resolveTsx()}`)
    if (!joined.includes('@tandem/source')) out.push('--conditions=@tandem/source')
  }
  return out
}

function resolveTsx(): string {
  try {
    return import.meta.resolve('tsx')
  } catch {
    return pathToFileURL(createRequire(`${process.cwd()}/`).resolve('tsx')).href
  }
}
