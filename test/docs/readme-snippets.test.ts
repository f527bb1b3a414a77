/**
 * Every TypeScript snippet of the READMEs compiles against keyward's own types, under the
 * repository's strict settings: a renamed export, option or method breaks this test, not the
 * first host developer who copies the snippet.
 *
 * A snippet is a fragment: it uses what its README's reader already has (an `app`, the user
 * directory, a route handler). Each README's context below declares those, typed as the host's
 * would be; a snippet that declares a name itself (`const app = ...`) shadows it.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import ts from 'typescript'
import { beforeAll, describe, expect, it } from 'vitest'

const ROOT = join(import.meta.dirname, '..', '..')

/** What a reader of each README is assumed to have, by name. */
const CONTEXT: Record<string, Record<string, string>> = {
  'README.md': {
    db: "{ users: { find(id: string): Promise<import('@keyward/core').KeywardUser | null> } }",
    checkPassword: '(body: unknown) => Promise<string | undefined>',
  },
  'packages/core/README.md': {
    users: "{ find(id: string): import('@keyward/core').KeywardUser | undefined }",
    audit: '{ log(event: unknown): void }',
    myStore: "() => import('@keyward/core').KeyStore",
    dump: '() => Promise<string>',
  },
  'packages/express/README.md': {
    app: "import('express').Express",
    jwtSecret: 'string',
    users: "import('@keyward/core').UserDirectory",
    auth: "import('@keyward/express').KeywardExpress",
  },
  'packages/fastify/README.md': {
    app: "import('fastify').FastifyInstance",
    engine: "import('@keyward/core').Keyward",
    jwtSecret: 'string',
    users: "import('@keyward/core').UserDirectory",
    handler: "import('fastify').RouteHandlerMethod",
    keyward: "typeof import('@keyward/fastify').default",
  },
  'packages/koa/README.md': {
    app: "import('koa')",
    Koa: "typeof import('koa')",
    jwtSecret: 'string',
    users: "import('@keyward/core').UserDirectory",
    auth: "import('@keyward/koa').KeywardKoa",
    router: "import('@koa/router').Router",
  },
  'packages/store-postgres/README.md': {
    users: "import('@keyward/core').UserDirectory",
    migrate: "typeof import('@keyward/store-postgres').migrate",
    postgresStore: "typeof import('@keyward/store-postgres').postgresStore",
    pool: "import('pg').Pool",
  },
  'packages/store-redis/README.md': {
    users: "import('@keyward/core').UserDirectory",
    redisStore: "typeof import('@keyward/store-redis').redisStore",
    client: "import('ioredis').Redis",
  },
}

interface Snippet {
  readonly readme: string
  /** Where the snippet starts in its README, for the test's name and the failure. */
  readonly line: number
  readonly code: string
  readonly fileName: string
}

/** The ```ts (or ```typescript) blocks of a README, each with the line its code starts on. */
function snippetsOf(readme: string): Snippet[] {
  const lines = readFileSync(join(ROOT, readme), 'utf8').split('\n')
  const snippets: Snippet[] = []
  for (let start = 0; start < lines.length; start++) {
    if (!/^```(ts|typescript)$/.test(lines[start]?.trim() ?? '')) continue
    const end = lines.findIndex((line, at) => at > start && line.trim() === '```')
    if (end === -1) throw new Error(`${readme}:${start + 1}: a \`\`\`ts block is never closed`)
    const code = lines.slice(start + 1, end).join('\n')
    const line = start + 2
    snippets.push({ readme, line, code, fileName: join(ROOT, `${readme}.${line}.snippet.ts`) })
    start = end
  }
  return snippets
}

/** The names a snippet declares at its top level (imports, consts, functions, classes). */
function declaredNames(code: string): Set<string> {
  const source = ts.createSourceFile('snippet.ts', code, ts.ScriptTarget.ES2022)
  const names = new Set<string>()
  for (const statement of source.statements) {
    const clause = ts.isImportDeclaration(statement) ? statement.importClause : undefined
    if (clause?.name) names.add(clause.name.text)
    const bindings = clause?.namedBindings
    if (bindings && ts.isNamedImports(bindings))
      for (const element of bindings.elements) names.add(element.name.text)
    if (bindings && ts.isNamespaceImport(bindings)) names.add(bindings.name.text)
    if (ts.isVariableStatement(statement))
      for (const declaration of statement.declarationList.declarations)
        if (ts.isIdentifier(declaration.name)) names.add(declaration.name.text)
    if ((ts.isFunctionDeclaration(statement) || ts.isClassDeclaration(statement)) && statement.name)
      names.add(statement.name.text)
  }
  return names
}

/** The snippet as a module of its own, followed by the context it does not declare itself. */
function moduleOf(snippet: Snippet): string {
  const declared = declaredNames(snippet.code)
  const context = Object.entries(CONTEXT[snippet.readme] ?? {})
    .filter(([name]) => !declared.has(name))
    .map(([name, type]) => `declare const ${name}: ${type}`)
  // The context goes last, so that a failure's line is the snippet's own; an ambient
  // `declare const` is in scope throughout the module all the same.
  return `${snippet.code}\n${context.join('\n')}\nexport {}\n`
}

/** The root README, the examples' and each package's. */
const READMES = [
  'README.md',
  'examples/README.md',
  ...readdirSync(join(ROOT, 'packages')).map((name) => `packages/${name}/README.md`),
].filter((readme) => existsSync(join(ROOT, readme)))
const SNIPPETS = READMES.flatMap(snippetsOf)

/** The diagnostics of each snippet, from one program over them all. */
const diagnostics = new Map<string, string[]>()

beforeAll(() => {
  const config = ts.getParsedCommandLineOfConfigFile(
    join(ROOT, 'tsconfig.json'),
    {},
    {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: (diagnostic) => {
        throw new Error(ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n'))
      },
    },
  )
  if (!config) throw new Error('tsconfig.json could not be read')
  const modules = new Map(SNIPPETS.map((snippet) => [snippet.fileName, moduleOf(snippet)]))
  const host = ts.createCompilerHost(config.options)
  const readFile = host.readFile
  const fileExists = host.fileExists
  host.readFile = (fileName) => modules.get(fileName) ?? readFile.call(host, fileName)
  host.fileExists = (fileName) => modules.has(fileName) || fileExists.call(host, fileName)
  const program = ts.createProgram([...modules.keys()], config.options, host)
  for (const fileName of modules.keys()) {
    const source = program.getSourceFile(fileName)
    const found = [...program.getSyntacticDiagnostics(source), ...program.getSemanticDiagnostics(source)]
    diagnostics.set(
      fileName,
      found.map((diagnostic) => {
        const at =
          diagnostic.file && diagnostic.start !== undefined
            ? diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start)
            : undefined
        const where = at ? `line ${at.line + 1}: ` : ''
        return `${where}${ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n')}`
      }),
    )
  }
}, 120_000)

describe('the READMEs’ TypeScript snippets', () => {
  it('are found in every README that has a context', () => {
    // A context whose README lost its snippets (or was renamed) would otherwise go stale unnoticed.
    for (const readme of Object.keys(CONTEXT))
      expect(SNIPPETS.filter((snippet) => snippet.readme === readme).length, readme).toBeGreaterThan(0)
  })

  it.each(SNIPPETS.map((snippet) => [`${snippet.readme}:${snippet.line}`, snippet] as const))(
    '%s compiles',
    (_, snippet) => {
      // Lines are the snippet's own: line 1 is the README's line `snippet.line`.
      expect(diagnostics.get(snippet.fileName)).toEqual([])
    },
  )
})
