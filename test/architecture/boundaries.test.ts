/**
 * The layout's promises (docs/architecture.md, "Runtime and tools"), checked on import graphs:
 * the device process never loads an offline tool (src/tools/), no module of src/ imports itself
 * through others, and scripts/ builds on src/ alone, not on test helpers or dist/.
 *
 * Edges are static `import` / `export … from`, `import('…')` in code and in types, and
 * `require('…')`, all with relative specifiers. Type-only imports count for both rules: they
 * vanish from the compiled code, but a runtime module that needs a tool's type depends on the
 * tool all the same, and one edit turns such an import into a real one.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import ts from 'typescript';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** `cspine-edge run` and the commands a crew uses on the device. */
const RUNTIME_ENTRIES = ['src/commands/run.ts', 'src/service.ts', 'src/commands/classify.ts', 'src/commands/doctor.ts', 'src/commands/history.ts', 'src/commands/lamp-test.ts', 'src/commands/config.ts'];
const TOOLS = 'src/tools/';
/** The central process (`cspine-edge dashboard`) and the packages only it needs. */
const DASHBOARD = 'src/dashboard/';
const DASHBOARD_PACKAGES = ['pg', 'hono', '@hono/node-server', 'ajv', 'ajv-formats'];

interface Edge {
  to: string;
  typeOnly: boolean;
}
/** Repository-relative paths of modules → the modules each imports. */
type ImportGraph = Map<string, Edge[]>;

interface ScannedSources {
  graph: ImportGraph;
  /** Repository-relative paths of modules → the npm packages each imports. */
  packages: Map<string, string[]>;
  /** Imports the graph cannot follow: it must be complete for the rules to mean anything. */
  unreadable: string[];
}

function typeScriptFiles(dir: string): string[] {
  return (fs.readdirSync(path.join(ROOT, dir), { recursive: true, withFileTypes: true }) as fs.Dirent[])
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts'))
    .map((entry) => path.relative(ROOT, path.join(entry.parentPath, entry.name)).split(path.sep).join('/'))
    .sort();
}

function isTypeOnlyImport(node: ts.ImportDeclaration): boolean {
  const clause = node.importClause;
  if (clause === undefined) return false;
  if (clause.isTypeOnly) return true;
  const bindings = clause.namedBindings;
  return clause.name === undefined && bindings !== undefined && ts.isNamedImports(bindings) && bindings.elements.length > 0 && bindings.elements.every((element) => element.isTypeOnly);
}

function isTypeOnlyExport(node: ts.ExportDeclaration): boolean {
  const clause = node.exportClause;
  return node.isTypeOnly || (clause !== undefined && ts.isNamedExports(clause) && clause.elements.length > 0 && clause.elements.every((element) => element.isTypeOnly));
}

function scanSources(dir: string): ScannedSources {
  const graph: ImportGraph = new Map();
  const packages = new Map<string, string[]>();
  const unreadable: string[] = [];
  for (const file of typeScriptFiles(dir)) {
    const imported: string[] = [];
    packages.set(file, imported);
    const source = ts.createSourceFile(file, fs.readFileSync(path.join(ROOT, file), 'utf8'), ts.ScriptTarget.Latest, true);
    const edges: Edge[] = [];
    const where = (node: ts.Node) => `${file}:${source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1}`;
    const follow = (specifier: string, typeOnly: boolean, node: ts.Node) => {
      if (!specifier.startsWith('.')) {
        // a package (its name: "@scope/name" or "name", without a subpath) or a Node built-in
        if (!specifier.startsWith('node:')) imported.push(specifier.split('/').slice(0, specifier.startsWith('@') ? 2 : 1).join('/'));
        return;
      }
      const target = path.posix.join(path.posix.dirname(file), specifier).replace(/\.js$/, '.ts');
      if (fs.existsSync(path.join(ROOT, target))) edges.push({ to: target, typeOnly });
      else unreadable.push(`${where(node)}: "${specifier}" resolves to no file (${target})`);
    };
    const visit = (node: ts.Node): void => {
      if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
        follow(node.moduleSpecifier.text, isTypeOnlyImport(node), node);
      } else if (ts.isExportDeclaration(node) && node.moduleSpecifier !== undefined && ts.isStringLiteral(node.moduleSpecifier)) {
        follow(node.moduleSpecifier.text, isTypeOnlyExport(node), node);
      } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument) && ts.isStringLiteral(node.argument.literal)) {
        follow(node.argument.literal.text, true, node);
      } else if (ts.isCallExpression(node) && (node.expression.kind === ts.SyntaxKind.ImportKeyword || (ts.isIdentifier(node.expression) && node.expression.text === 'require'))) {
        const [argument] = node.arguments;
        if (argument !== undefined && ts.isStringLiteralLike(argument)) follow(argument.text, false, node);
        // A computed `require(name)` loads packages by name (the DICOM codecs); a computed
        // import() could load anything, so it is not allowed where the graph cannot see it.
        else if (node.expression.kind === ts.SyntaxKind.ImportKeyword) unreadable.push(`${where(node)}: import() of a computed specifier`);
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
    graph.set(file, edges);
  }
  return { graph, packages, unreadable };
}

function formatChain(start: string, steps: Edge[]): string {
  return [start, ...steps.map((edge) => (edge.typeOnly ? `${edge.to} (type only)` : edge.to))].join(' → ');
}

/** For each module matching `forbidden` that the entries reach, the shortest chain that reaches it. */
function forbiddenChains(graph: ImportGraph, entries: string[], forbidden: (file: string) => boolean): string[] {
  const cameBy = new Map<string, { from: string; edge: Edge } | null>(entries.map((entry) => [entry, null]));
  const queue = [...entries];
  for (let file = queue.shift(); file !== undefined; file = queue.shift()) {
    for (const edge of graph.get(file) ?? []) {
      if (cameBy.has(edge.to)) continue;
      cameBy.set(edge.to, { from: file, edge });
      queue.push(edge.to);
    }
  }
  return [...cameBy.keys()].filter(forbidden).map((file) => {
    const steps: Edge[] = [];
    let at = file;
    for (let step = cameBy.get(at); step; step = cameBy.get(at)) {
      steps.unshift(step.edge);
      at = step.from;
    }
    return formatChain(at, steps);
  });
}

/** One cycle per strongly connected component (Tarjan), each as a chain back to its start. */
function importCycles(graph: ImportGraph): string[] {
  const index = new Map<string, number>();
  const lowLink = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const components: string[][] = [];
  const connect = (file: string): void => {
    index.set(file, index.size);
    lowLink.set(file, index.get(file)!);
    stack.push(file);
    onStack.add(file);
    for (const { to } of graph.get(file) ?? []) {
      if (!index.has(to)) {
        connect(to);
        lowLink.set(file, Math.min(lowLink.get(file)!, lowLink.get(to)!));
      } else if (onStack.has(to)) {
        lowLink.set(file, Math.min(lowLink.get(file)!, index.get(to)!));
      }
    }
    if (lowLink.get(file) !== index.get(file)) return;
    const component: string[] = [];
    let member: string;
    do {
      member = stack.pop()!;
      onStack.delete(member);
      component.push(member);
    } while (member !== file);
    const importsItself = (graph.get(file) ?? []).some((edge) => edge.to === file);
    if (component.length > 1 || importsItself) components.push(component);
  };
  for (const file of graph.keys()) if (!index.has(file)) connect(file);
  return components.map((component) => {
    const members = new Set(component);
    const start = component.sort()[0]!;
    // Breadth-first inside the component: the shortest way from `start` back to itself.
    const cameBy = new Map<string, { from: string; edge: Edge }>();
    const queue = [start];
    for (let file = queue.shift(); file !== undefined && !cameBy.has(start); file = queue.shift()) {
      for (const edge of graph.get(file) ?? []) {
        if (!members.has(edge.to) || cameBy.has(edge.to)) continue;
        cameBy.set(edge.to, { from: file, edge });
        queue.push(edge.to);
      }
    }
    const steps: Edge[] = [];
    let at = start;
    do {
      const step = cameBy.get(at)!;
      steps.unshift(step.edge);
      at = step.from;
    } while (at !== start);
    return formatChain(start, steps);
  });
}

const sources = scanSources('src');

test('every import in src/ can be followed', (t) => {
  t.deepEqual(sources.unreadable, []);
  for (const entry of RUNTIME_ENTRIES) t.true(sources.graph.has(entry), `runtime entry ${entry} is missing: update RUNTIME_ENTRIES`);
});

test('the device runtime never imports src/tools/', (t) => {
  const chains = forbiddenChains(sources.graph, RUNTIME_ENTRIES, (file) => file.startsWith(TOOLS));
  t.deepEqual(chains, [], `runtime modules import offline tools:\n${chains.join('\n')}`);
});

test("the device runtime never imports the dashboard or the dashboard's packages", (t) => {
  const chains = forbiddenChains(sources.graph, RUNTIME_ENTRIES, (file) => file.startsWith(DASHBOARD) || (sources.packages.get(file) ?? []).some((name) => DASHBOARD_PACKAGES.includes(name)));
  t.deepEqual(chains, [], `runtime modules load the dashboard's code or packages:\n${chains.join('\n')}`);
  const dashboardImports = [...sources.packages.get('src/dashboard/database/database.ts')!, ...sources.packages.get('src/dashboard/ingest/payload-schemas.ts')!];
  t.true(dashboardImports.includes('pg') && dashboardImports.includes('ajv'), 'package imports are seen');
});

test('src/ has no import cycle, type-only imports included', (t) => {
  const cycles = importCycles(sources.graph);
  t.deepEqual(cycles, [], `import cycles:\n${cycles.join('\n')}`);
});

test('scripts/ import from src/, never from test/ or a build', (t) => {
  const scripts = scanSources('scripts');
  const outside = [...scripts.graph].flatMap(([file, edges]) => edges.filter((edge) => !edge.to.startsWith('src/') && !edge.to.startsWith('scripts/')).map((edge) => `${file} → ${edge.to}`));
  // An import of dist/ names a .js file with no .ts source: it is among the unreadable.
  const strays = [...scripts.unreadable, ...outside];
  t.deepEqual(strays, [], `scripts import from outside src/:\n${strays.join('\n')}`);
});

test('the checks name the chain they object to', (t) => {
  const graph: ImportGraph = new Map([
    ['run.ts', [{ to: 'pipeline.ts', typeOnly: false }]],
    ['pipeline.ts', [{ to: 'model.ts', typeOnly: false }]],
    ['model.ts', [{ to: 'tools/evaluate.ts', typeOnly: true }]],
    ['tools/evaluate.ts', [{ to: 'pipeline.ts', typeOnly: false }]],
  ]);
  t.deepEqual(forbiddenChains(graph, ['run.ts'], (file) => file.startsWith('tools/')), ['run.ts → pipeline.ts → model.ts → tools/evaluate.ts (type only)']);
  t.deepEqual(importCycles(graph), ['model.ts → tools/evaluate.ts (type only) → pipeline.ts → model.ts']);
});
