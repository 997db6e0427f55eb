// The ```ts code blocks of every README, and the outputs their comments promise. Shared by
// test/readme-examples.test.ts (runs each block under tsx, on the sources) and test/smoke/run.mjs
// (runs each block with plain node on the compiled dist/). Plain JavaScript so both can import it.
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join, relative } from 'node:path'

/**
 * The READMEs whose ```ts blocks must run as written.
 * @param {string} root the repository root
 * @returns {string[]} absolute paths
 */
export function readmeFiles(root) {
  const files = [join(root, 'README.md')]
  for (const pkg of readdirSync(join(root, 'packages')).sort()) {
    const file = join(root, 'packages', pkg, 'README.md')
    if (existsSync(file)) files.push(file)
  }
  files.push(join(root, 'examples', 'README.md'))
  return files.filter((file) => existsSync(file))
}

/**
 * Every ```ts block of the READMEs. A block is skipped (never silently: `skip` says why) when its
 * info string says ```ts fragment, or an HTML comment `<!-- not-runnable: reason -->` is the
 * last non-blank line before it.
 * @param {string} root the repository root
 * @returns {{ file: string, line: number, code: string, skip: string | undefined, title: string }[]}
 */
export function readmeBlocks(root) {
  const blocks = []
  for (const file of readmeFiles(root)) {
    const lines = readFileSync(file, 'utf8').split('\n')
    for (let i = 0; i < lines.length; i++) {
      const open = /^```(ts|typescript)\b\s*(.*)$/.exec(lines[i])
      if (open === null) continue
      let end = i + 1
      while (end < lines.length && !/^```\s*$/.test(lines[end])) end++
      let before = i - 1
      while (before >= 0 && lines[before].trim() === '') before--
      const marker = before >= 0 ? /<!--\s*not-runnable:\s*(.*?)\s*-->/.exec(lines[before]) : null
      const skip = marker !== null ? marker[1] || 'marked not-runnable' : /\bfragment\b/.test(open[2]) ? 'a fragment' : undefined
      const where = `${relative(root, file)}:${i + 1}`
      blocks.push({ file, line: i + 1, code: lines.slice(i + 1, end).join('\n') + '\n', skip, title: where })
      i = end
    }
  }
  return blocks
}

// A value a comment can promise: a number (42, 2_000_000, -1.5), an array literal, a quoted
// string, true/false/null/undefined, or several numbers separated by spaces ("42 42").
const VALUE = /^(?:-?[\d_]+(?:\.\d+)?(?:\s+-?[\d_]+(?:\.\d+)?)*|\[.*\]|'[^']*'|"[^"]*"|true|false|null|undefined)$/

/**
 * The outputs a block promises: `// prints X` anywhere, and `console.log(...) // X` where X is a
 * value or a comma-separated list of values (text after a colon is commentary: `// 42: blocking`).
 * Comments that are not values (`// in completion order`) promise nothing.
 * @param {string} code a block's code
 * @returns {string[]} strings the output must contain once whitespace is removed (see {@link squash})
 */
export function expectedOutputs(code) {
  const out = []
  for (const line of code.split('\n')) {
    const prints = /\/\/\s*prints\s+(.+?)\s*$/.exec(line)
    if (prints !== null) {
      out.push(squash(prints[1]))
      continue
    }
    const logged = /console\.log\(.*\/\/\s*([^:]+?)\s*(?::.*)?$/.exec(line)
    if (logged === null) continue
    const text = logged[1]
    const parts = text.startsWith('[') ? [text] : text.split(',').map((part) => part.trim())
    if (parts.length === 0 || !parts.every((part) => VALUE.test(part))) continue
    for (const part of parts) out.push(squash(/^['"]/.test(part) ? part.slice(1, -1) : part))
  }
  return out
}

/**
 * Output and expectations are compared without whitespace, digit separators or quote style,
 * so `// [2, 4, 6]` matches `[ 2, 4, 6 ]` and `// 2_000_000` matches `2000000`.
 * @param {string} text
 * @returns {string}
 */
export function squash(text) {
  return text
    .replace(/\s+/g, '')
    .replace(/(\d)_(?=\d)/g, '$1')
    .replace(/"/g, "'")
}
