/**
 * The `@example` blocks of the public JSDoc are code: this suite type-checks and runs them.
 *
 * - Public symbols: the exported classes and functions declared in the files that each
 *   package's `package.json` "exports" map names (its `@tandem/source` condition), or re-exported
 *   there from an `internal/` file (`export { AsyncResult } from './internal/...'`), except the
 *   `./kit` subpaths (building blocks for the other Tandem packages, documented as "not a user
 *   API"), names starting with `_`, and declarations tagged `@internal`.
 * - An example is a ```ts fence inside an `@example` section of an exported declaration's JSDoc.
 *   It is *self-contained* when it carries its own import lines from a package subpath
 *   (`import { Lock } from '@tandem/sync/lock'`); only those are checked. Each is written to a
 *   temporary folder inside the repository (so `@tandem/*` resolve through node_modules), all of
 *   them are type-checked by one strict `tsc --noEmit` run, and each runs under tsx in a child
 *   process that must exit 0 within {@link RUN_TIMEOUT_MS}, without "Exception in thread" on
 *   stderr.
 * - Every public symbol must have at least one self-contained example, except those listed in
 *   {@link PENDING_EXAMPLES} (their files are being edited elsewhere). An entry there that has
 *   a self-contained example by now fails the suite too: remove it.
 *
 * An example must be short, finish quickly, and end every thread or pool it starts (a daemon or
 * joined Thread; an executor under `using` or shut down).
 */
import test from 'ava'
import { spawn } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'

/**
 * Public symbols that do not have a self-contained `@example` yet, as `subpath#name`. Add the
 * example in the symbol's JSDoc, then remove the entry here (the suite fails while an entry
 * has one). An entry may name a symbol that is not public yet (work in progress elsewhere);
 * the suite only logs those.
 */
const PENDING_EXAMPLES: readonly string[] = []

/** Subpaths that are not a user API (see each package's `src/kit.ts`). */
const NOT_USER_API = new Set(['./kit'])
/** Longest run of one example. */
const RUN_TIMEOUT_MS = 60_000
/** Examples run at once (the machine has 2 cores and other suites run beside this one). */
const PARALLEL_RUNS = 2

const ROOT = fileURLToPath(new URL('..', import.meta.url))

interface Example {
  /** `@tandem/sync/lock#Lock` */
  readonly symbol: string
  /** `packages/sync/src/lock.ts:42` */
  readonly where: string
  readonly code: string
  readonly selfContained: boolean
}

interface Scan {
  readonly publicSymbols: Set<string>
  readonly examples: Example[]
}

/** The `@example` code fences of one JSDoc comment. */
function examplesOf(jsdoc: string): string[] {
  const lines = jsdoc
    .replace(/^\/\*\*/, '')
    .replace(/\*\/$/, '')
    .split('\n')
    .map((l) => l.replace(/^\s*\* ?/, ''))
  const out: string[] = []
  let inExample = false
  let fence: string[] | undefined
  for (const line of lines) {
    if (fence !== undefined) {
      if (/^\s*```\s*$/.test(line)) {
        out.push(fence.join('\n'))
        fence = undefined
      } else {
        fence.push(line)
      }
      continue
    }
    if (/^\s*@example\b/.test(line)) inExample = true
    else if (/^\s*@\w/.test(line)) inExample = false
    else if (inExample && /^\s*```(ts|typescript)\s*$/.test(line)) fence = []
  }
  return out
}

function isExported(node: ts.Node): boolean {
  return ts.canHaveModifiers(node) && (ts.getModifiers(node) ?? []).some((m) => m.kind === ts.SyntaxKind.ExportKeyword)
}

function declaredNames(node: ts.Statement): string[] {
  if (ts.isVariableStatement(node)) return node.declarationList.declarations.flatMap((d) => (ts.isIdentifier(d.name) ? [d.name.text] : []))
  const name = (node as { name?: ts.Node }).name
  return name !== undefined && ts.isIdentifier(name) ? [name.text] : []
}

function scan(): Scan {
  const publicSymbols = new Set<string>()
  const examples: Example[] = []
  for (const dir of readdirSync(join(ROOT, 'packages'))) {
    const manifest = JSON.parse(readFileSync(join(ROOT, 'packages', dir, 'package.json'), 'utf8')) as {
      name: string
      exports: Record<string, null | string | Record<string, string>>
    }
    for (const [subpath, target] of Object.entries(manifest.exports)) {
      if (target === null || typeof target === 'string' || NOT_USER_API.has(subpath)) continue
      const source = target['@tandem/source']
      if (source === undefined) continue
      const file = join(ROOT, 'packages', dir, source)
      const specifier = subpath === '.' ? manifest.name : `${manifest.name}/${subpath.slice(2)}`
      scanFile(file, specifier, undefined)
    }
  }
  /**
   * The exported declarations of `file` (those in `only`, if given) as symbols of `specifier`;
   * `export { A } from './internal/x.ts'` re-exports are followed into the file that declares them.
   */
  function scanFile(file: string, specifier: string, only: Set<string> | undefined): void {
    const text = readFileSync(file, 'utf8')
    const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS)
    for (const node of sf.statements) {
      if (ts.isExportDeclaration(node) && !node.isTypeOnly && node.moduleSpecifier !== undefined && node.exportClause !== undefined && ts.isNamedExports(node.exportClause)) {
        // Into internal files only: a re-export of another public module (a package's index)
        // is that module's symbol, checked there.
        const from = (node.moduleSpecifier as ts.StringLiteral).text
        if (!from.startsWith('./internal/')) continue
        const names = new Set(
          node.exportClause.elements.filter((e) => !e.isTypeOnly && e.propertyName === undefined && (only === undefined || only.has(e.name.text))).map((e) => e.name.text),
        )
        if (names.size > 0) scanFile(join(file, '..', from), specifier, names)
        continue
      }
      if (!isExported(node)) continue
      const docs = ((node as { jsDoc?: ts.JSDoc[] }).jsDoc ?? []).map((d) => d.getText())
      if (docs.some((d) => /@internal\b/.test(d))) continue
      for (const name of declaredNames(node)) {
        if (name.startsWith('_') || (only !== undefined && !only.has(name))) continue
        const symbol = `${specifier}#${name}`
        if (ts.isClassDeclaration(node) || ts.isFunctionDeclaration(node)) publicSymbols.add(symbol)
        for (const doc of docs) {
          for (const code of examplesOf(doc)) {
            const line = sf.getLineAndCharacterOfPosition(node.getStart(sf, true)).line + 1
            examples.push({
              symbol,
              where: `${relative(ROOT, file)}:${line}`,
              code,
              selfContained: /^\s*import\s[^;]*?\bfrom\s+['"]@tandem\//m.test(code),
            })
          }
        }
      }
    }
  }
  return { publicSymbols, examples }
}

const { publicSymbols, examples } = scan()
const runnable = examples.filter((e) => e.selfContained)

// One file per self-contained example, in a folder git ignores (removed after the suite).
const tmp = mkdtempSync(join(ROOT, '.jsdoc-examples-'))
writeFileSync(join(tmp, '.gitignore'), '*\n')
const files = new Map<Example, string>()
runnable.forEach((e, i) => {
  const file = join(tmp, `example-${String(i).padStart(3, '0')}-${e.symbol.replace(/[^A-Za-z0-9]+/g, '-')}.ts`)
  writeFileSync(file, `// @example of ${e.symbol} (${e.where})\n${e.code}\nexport {}\n`)
  files.set(e, file)
})

test.after.always(() => {
  rmSync(tmp, { recursive: true, force: true })
})

interface Run {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

function run(cmd: string, args: string[], timeout: number): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], timeout, killSignal: 'SIGKILL' })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s))
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s))
    child.on('error', reject)
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }))
  })
}

// At most PARALLEL_RUNS children at once.
let slots = PARALLEL_RUNS
const queued: (() => void)[] = []
async function limited<T>(fn: () => Promise<T>): Promise<T> {
  if (slots > 0) slots--
  else await new Promise<void>((r) => queued.push(r))
  try {
    return await fn()
  } finally {
    const next = queued.shift()
    if (next) next()
    else slots++
  }
}

test('every public symbol has a self-contained @example (or is listed in PENDING_EXAMPLES)', (t) => {
  const covered = new Set(runnable.map((e) => e.symbol))
  const missing = [...publicSymbols].filter((s) => !covered.has(s) && !PENDING_EXAMPLES.includes(s)).sort()
  const stale = PENDING_EXAMPLES.filter((s) => covered.has(s))
  const unknown = PENDING_EXAMPLES.filter((s) => !publicSymbols.has(s))
  if (unknown.length > 0) t.log(`PENDING_EXAMPLES entries that are not public symbols (yet):\n${unknown.join('\n')}`)
  t.true(publicSymbols.size > 0, 'no public symbols found: is the scan broken?')
  t.deepEqual(
    missing,
    [],
    `public symbols without a self-contained @example (with import lines from a package subpath); add one, or list the symbol in PENDING_EXAMPLES:\n${missing.join('\n')}`,
  )
  t.deepEqual(stale, [], `PENDING_EXAMPLES entries that have a self-contained example now; remove them:\n${stale.join('\n')}`)
})

test('an @example outside PENDING_EXAMPLES carries its own import lines', (t) => {
  const bare = examples.filter((e) => !e.selfContained && !PENDING_EXAMPLES.includes(e.symbol)).map((e) => `${e.symbol} (${e.where})`)
  t.deepEqual(bare, [], `examples without import lines from a package subpath:\n${bare.join('\n')}`)
})

test('every self-contained @example type-checks (strict)', async (t) => {
  t.timeout(300_000)
  t.true(runnable.length > 0, 'no self-contained examples found')
  writeFileSync(join(tmp, 'tsconfig.json'), JSON.stringify({ extends: '../tsconfig.base.json', compilerOptions: { noEmit: true, strict: true }, include: ['*.ts'] }, null, 2))
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc')
  const r = await limited(() => run(process.execPath, [tsc, '-p', join(tmp, 'tsconfig.json'), '--noEmit', '--pretty', 'false'], 240_000))
  // Name the symbol and source line behind each error.
  let report = r.stdout + r.stderr
  for (const [e, file] of files) report = report.split(relative(ROOT, file)).join(`${relative(ROOT, file)} [${e.symbol}, ${e.where}]`)
  t.is(r.code, 0, `tsc reported errors in @example blocks:\n${report}`)
})

for (const e of runnable) {
  test(`@example of ${e.symbol} (${e.where}) runs and exits 0`, async (t) => {
    t.timeout(RUN_TIMEOUT_MS * 6)
    const file = files.get(e)!
    const r = await limited(() => run(process.execPath, ['--import=tsx', '--conditions=@tandem/source', file], RUN_TIMEOUT_MS))
    const out = `--- stdout\n${r.stdout}--- stderr\n${r.stderr}`
    t.log(r.stdout.trimEnd()) // shown with --verbose: compare with the example's comments
    t.is(r.signal, null, `killed (${r.signal}): did it finish within ${RUN_TIMEOUT_MS} ms and end its threads?\n${out}`)
    t.is(r.code, 0, `exit code ${r.code}\n${out}`)
    t.notRegex(r.stderr, /Exception in thread/, `a thread's target threw\n${out}`)
  })
}
