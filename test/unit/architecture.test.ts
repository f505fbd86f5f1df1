import {readdirSync, readFileSync, statSync} from 'fs';
import {dirname, join, relative, resolve, sep} from 'path';

/*
 * The rules of docs/ARCHITECTURE.md that a reader cannot see at a glance, checked on the sources
 */

const ROOT = resolve(__dirname, '../..');
const SRC = join(ROOT, 'src');

// A layer imports from itself and from layers with a lower rank only; equal ranks do not import each other
const LAYER_RANKS: Readonly<Record<string, number>> = {
    protocol: 0,
    config: 0,
    transport: 1,
    buffer: 2,
    client: 3,
    server: 4,
    metrics: 5,
    webapp: 6,
    services: 6,
};

const filesBelow = (folder: string): Array<string> => readdirSync(folder).flatMap((name) => {
    const path = join(folder, name);
    return statSync(path).isDirectory() ? (name === 'node_modules' || name === 'fixtures' ? [] : filesBelow(path)) : [path];
});

const sources = filesBelow(SRC).filter((file) => file.endsWith('.ts'));
const text = (file: string): string => readFileSync(file, 'utf8');
const layerOf = (file: string): string => relative(SRC, file).split(sep)[0];

/** The relative module paths a file imports (import ... from, export ... from, require) */
const importsOf = (source: string): Array<string> =>
    Array.from(source.matchAll(/(?:from\s+|require\()'(\.{1,2}\/[^']+)'/g), (match) => match[1]);

/** Each class of a file with its length in lines, from its declaration to its closing brace */
const classesOf = (source: string): Array<{name: string; lines: number}> => {
    const lines = source.split('\n');
    const classes: Array<{name: string; lines: number}> = [];
    lines.forEach((line, index) => {
        const match = /^(\s*)(?:export\s+)?(?:abstract\s+)?class\s+(\w+)/.exec(line);
        if (match) {
            const end = lines.findIndex((other, at) => at > index && other === `${match[1]}}`);
            classes.push({name: match[2], lines: end - index + 1});
        }
    });
    return classes;
};

/** States and transition labels of the first `stateDiagram-v2` after a heading */
const stateDiagram = (markdown: string, heading: string): {states: Set<string>; labels: Set<string>} => {
    const section = markdown.slice(markdown.indexOf(heading));
    const diagram = /```mermaid\n\s*stateDiagram-v2\n([\s\S]*?)```/.exec(section)?.[1] ?? '';
    const states = new Set<string>();
    const labels = new Set<string>();
    for (const match of diagram.matchAll(/^\s*(\S+)\s*-->\s*([^:\s]+)\s*(?::\s*(.*))?$/gm)) {
        [match[1], match[2]].filter((state) => state !== '[*]').forEach((state) => states.add(state));
        (match[3] ?? '').split(',').map((label) => label.trim()).filter(Boolean).forEach((label) => labels.add(label));
    }
    return {states, labels};
};

describe('the architecture', () => {
    it('has a layer for every folder, and every import goes to the same layer or a lower one', () => {
        const wrong: Array<string> = [];
        for (const file of sources) {
            const from = layerOf(file);
            expect(Object.keys(LAYER_RANKS)).toContain(from);
            for (const path of importsOf(text(file))) {
                const target = resolve(dirname(file), path);
                if (!target.startsWith(SRC + sep)) {
                    // The package's own public types and client library
                    expect(['type-definitions', 'client']).toContain(relative(ROOT, target));
                    continue;
                }
                const to = layerOf(target);
                if (to !== from && !(LAYER_RANKS[to] < LAYER_RANKS[from])) {
                    wrong.push(`${relative(ROOT, file)} imports ${path} (${to})`);
                }
            }
        }
        expect(wrong).toEqual([]);
    });

    it('has no file under src/ over 400 lines and no class over 300', () => {
        const tooLong = sources.flatMap((file) => {
            const source = text(file);
            const lines = source.split('\n').length - (source.endsWith('\n') ? 1 : 0);
            return [
                ...lines > 400 ? [`${relative(ROOT, file)}: ${lines} lines`] : [],
                ...classesOf(source).filter((found) => found.lines > 300).map((found) => `class ${found.name}: ${found.lines} lines`),
            ];
        });
        expect(tooLong).toEqual([]);
        // The check finds the classes it is about
        expect(classesOf(text(join(SRC, 'transport/connection.ts'))).map((found) => found.name)).toEqual(['Connection']);
    });

    it('touches what ws does not document in one file only', () => {
        const internals = /\._(socket|sender|receiver|extensions|closeFrameSent|closeFrameReceived|readyState)\b|\['_\w+'\]/;
        const using = sources.filter((file) => internals.test(text(file))).map((file) => relative(ROOT, file));
        expect(using).toEqual(['src/transport/ws-adapter.ts']);
    });

    it('names every source, test and script file in kebab-case', () => {
        const files = [
            ...sources,
            ...filesBelow(join(ROOT, 'test')),
            ...filesBelow(join(ROOT, 'public')),
            ...filesBelow(join(ROOT, 'bench')),
            ...filesBelow(join(ROOT, 'demo')),
        ].filter((file) => /\.(ts|js)$/.test(file));
        const wrong = files.filter((file) => !/^[a-z0-9]+(-[a-z0-9]+)*(\.(test|property\.test|d))?\.(ts|js)$/.test(file.split(sep).pop() ?? ''));
        expect(wrong.map((file) => relative(ROOT, file))).toEqual([]);
    });

    it('keeps no mutable state at the top of a module, but for the hand-over between the plugins', () => {
        const stateful = sources.filter((file) => /^(let|var)\s|^(export\s+)?const\s+\w+(:[^=]+)?=\s*(\[|new\s+(Map|Set|Array|WeakMap)\b)/m.test(text(file)));
        expect(stateful.map((file) => relative(ROOT, file))).toEqual(['src/server/server-slot.ts']);
    });

    it('draws the states of a client as the code has them, and labels each transition with the method that makes it', () => {
        const {states, labels} = stateDiagram(text(join(ROOT, 'docs/ARCHITECTURE.md')), '## A client\'s lifecycle');
        const stateTypes = text(join(SRC, 'client/client-state.ts'));
        const variants = (/export type ClientState = ([^;]+);/.exec(stateTypes)?.[1] ?? '').split('|').map((name) => name.trim());
        const kinds = new Set(variants.map((variant) => new RegExp(`export type ${variant} = \\{[^}]*?readonly kind: '(\\w+)'`).exec(stateTypes)?.[1]));
        expect([...states].sort()).toEqual([...kinds].sort());
        const client = text(join(SRC, 'client/server-client.ts'));
        const starts = Array.from(client.matchAll(/^ {4}static (\w+)\(/gm), (match) => match[1]);
        expect(starts).toEqual(['connected', 'fromElsewhere']);
        const methods = new Set(Array.from(client.matchAll(/^ {4}(?:private )?(\w+)\(.*\).*\{$/gm), (match) => match[1]));
        expect([...labels].filter((label) => !methods.has(label) && !starts.includes(label))).toEqual([]);
        // And every method that changes the state, or closes the client, is drawn: all but the mechanisms, `enter`
        // (every change) and `finish` (every close), `claim`, which only lends the transitions of a resume to the
        // claim's settlement (they are drawn by their own names), and the constructor (drawn as its factories)
        const changing = Array.from(client.matchAll(/^ {4}(?:private )?(\w+)\([^)]*\)[^{]*\{$([\s\S]*?)^ {4}\}$/gm))
            .filter((match) => /this\.(enter|finish)\(/.test(match[2]) && !['enter', 'finish', 'claim', 'constructor'].includes(match[1]))
            .map((match) => match[1]);
        expect(changing.length).toBeGreaterThan(5);
        // The state is assigned in `enter` only, and so is the open connection kept next to it
        const enter = /^ {4}private enter\(next: ClientState\): void \{$([\s\S]*?)^ {4}\}$/m.exec(client)?.[1] ?? '';
        expect(client.match(/this\.#(state|open) = /g)).toEqual(['this.#state = ', 'this.#open = ']);
        expect(enter.match(/this\.#(state|open) = /g)).toEqual(['this.#state = ', 'this.#open = ']);
        expect(changing.filter((method) => !labels.has(method))).toEqual([]);
    });

    it('draws the states of the client library as the library has them', () => {
        const {states, labels} = stateDiagram(text(join(ROOT, 'docs/ARCHITECTURE.md')), '## The client library\'s states');
        const library = text(join(ROOT, 'public/mashroom-websocket-client.js'));
        const names = new Set(Array.from(library.matchAll(/@typedef \{\{name: '(\w+)'/g), (match) => match[1]));
        expect([...states].sort()).toEqual([...names].sort());
        const transitions = new Set(Array.from(library.matchAll(/^ {8}_?(\w+)\([^)]*\) \{$([\s\S]*?)^ {8}\}$/gm))
            .filter((match) => /this\._state = /.test(match[2]) && match[1] !== 'constructor')
            .map((match) => match[1]));
        expect([...labels].sort()).toEqual([...transitions].sort());
    });
});
