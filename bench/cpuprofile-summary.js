// @ts-check
'use strict';

/*
 * node bench/cpuprofile-summary.js <.cpuprofile file or folder>... [--top 40] [--filter <text>]
 *
 * Sums V8 CPU profiles (.cpuprofile, as written by --cpu-prof or by bench/mashroom-connect.js --profile) by
 * candidate and prints, per candidate, in µs per connect (per unit of work: a profile may carry the number of its
 * connects as `connects`, otherwise everything is per profile):
 *   - self time by origin: this package's or another plugin's dist/ files, each package under node_modules
 *     (ws, log4js, express-session, @mashroom/...), Node's internals by module, GC, (program), native code
 *   - the functions with the most self time
 *   - the functions with the most total time (self plus everything they called; recursion counted once)
 * Files are grouped into candidates by the part of their name before "-N<digits>" (or the whole name), so that
 * the profiles of all turns of one candidate add up; with several candidates the tables have a column each.
 * --filter keeps only the functions whose name or file contains the text in the function tables.
 */

const fs = require('fs');
const {basename, join, resolve} = require('path');

const {args, option} = require('./args');
const TOP = Number(option('top', '40'));
const FILTER = option('filter', '');
const inputs = args.filter((arg, index) => !arg.startsWith('--') && !['--top', '--filter'].includes(args[index - 1] ?? ''));
if (inputs.length === 0) {
    process.stderr.write('Usage: node bench/cpuprofile-summary.js <.cpuprofile file or folder>... [--top 40] [--filter <text>]\n');
    process.exit(2);
}

/**
 * @typedef {{
 *   id: number, callFrame: {functionName: string, url: string, lineNumber: number, columnNumber: number},
 *   children?: Array<number>,
 * }} ProfileNode
 * @typedef {{nodes: Array<ProfileNode>, samples: Array<number>, timeDeltas: Array<number>, connects?: number}} Profile
 */

/** Where a function's code comes from */
const originOf = (/** @type {string} */ url, /** @type {string} */ name) => {
    if (!url) {
        return name.startsWith('(') ? name : '(native)';
    }
    if (url.startsWith('node:')) {
        // node:internal/streams/writable -> node:internal/streams
        const parts = url.slice(5).split('/');
        return `node:${parts[0] === 'internal' && parts.length > 2 ? `${parts[0]}/${parts[1]}` : parts.join('/')}`;
    }
    const path = url.replace(/^file:\/\//, '');
    const inModules = path.lastIndexOf('/node_modules/');
    if (inModules !== -1) {
        const rest = path.slice(inModules + '/node_modules/'.length).split('/');
        const pkg = rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0];
        return pkg === 'mashroom-websocket-original' ? 'PLUGIN original (dist)' : pkg;
    }
    const dist = path.lastIndexOf('/dist/');
    if (dist !== -1) {
        return `PLUGIN ${basename(path.slice(0, dist))} (dist)`;
    }
    return path;
};

const shortFile = (/** @type {string} */ url) => {
    const path = url.replace(/^file:\/\//, '');
    const inModules = path.lastIndexOf('/node_modules/');
    if (inModules !== -1) {
        return path.slice(inModules + '/node_modules/'.length);
    }
    const dist = path.lastIndexOf('/dist/');
    return dist !== -1 ? `${basename(path.slice(0, dist))}/${path.slice(dist + 1)}` : path;
};

const functionKey = (/** @type {ProfileNode['callFrame']} */ frame) =>
    `${frame.functionName || '(anonymous)'}  ${frame.url ? `${shortFile(frame.url)}:${frame.lineNumber + 1}` : ''}`.trim();

/** @type {Map<string, {units: number, busy: number, origins: Map<string, number>, self: Map<string, number>, total: Map<string, number>}>} */
const candidates = new Map();

/** @param {string} file */
const addProfile = (file) => {
    /** @type {Profile} */
    const profile = JSON.parse(fs.readFileSync(file, 'utf8'));
    const name = basename(file).replace(/\.cpuprofile$/, '').replace(/-N\d+.*$/, '');
    let entry = candidates.get(name);
    if (!entry) {
        entry = {units: 0, busy: 0, origins: new Map(), self: new Map(), total: new Map()};
        candidates.set(name, entry);
    }
    entry.units += profile.connects ?? 1;

    /** @type {Map<number, ProfileNode>} */
    const byId = new Map(profile.nodes.map((node) => [node.id, node]));
    /** @type {Map<number, number>} */
    const selfOf = new Map();
    // A sample's time is the time until the next sample
    for (let index = 0; index < profile.samples.length; index++) {
        const delta = profile.timeDeltas[index + 1] ?? 0;
        selfOf.set(profile.samples[index], (selfOf.get(profile.samples[index]) ?? 0) + delta);
    }
    const add = (/** @type {Map<string, number>} */ map, /** @type {string} */ key, /** @type {number} */ value) => {
        if (value) {
            map.set(key, (map.get(key) ?? 0) + value);
        }
    };
    // Depth first, carrying which functions are on the stack (so that recursion adds its total time once)
    const root = profile.nodes[0];
    /** @type {Array<{node: ProfileNode, onStack: Set<string>}>} */
    const stack = [{node: root, onStack: new Set()}];
    /** @type {Map<number, number>} */
    const totalOf = new Map();
    /** @type {Array<ProfileNode>} */
    const order = [];
    while (stack.length > 0) {
        const {node} = /** @type {{node: ProfileNode, onStack: Set<string>}} */ (stack.pop());
        order.push(node);
        for (const child of node.children ?? []) {
            stack.push({node: /** @type {ProfileNode} */ (byId.get(child)), onStack: new Set()});
        }
    }
    // Totals bottom-up (children come after their parent in `order`)
    for (let index = order.length - 1; index >= 0; index--) {
        const node = order[index];
        let total = selfOf.get(node.id) ?? 0;
        for (const child of node.children ?? []) {
            total += totalOf.get(child) ?? 0;
        }
        totalOf.set(node.id, total);
    }
    /** @param {ProfileNode} node @param {Set<string>} onStack */
    const visit = (node, onStack) => {
        const frame = node.callFrame;
        const key = functionKey(frame);
        const self = selfOf.get(node.id) ?? 0;
        const origin = originOf(frame.url, frame.functionName);
        if (frame.functionName !== '(idle)' && frame.functionName !== '(root)') {
            add(entry.origins, origin, self);
            add(entry.self, key, self);
            entry.busy += self;
        }
        let next = onStack;
        if (!onStack.has(key) && frame.functionName !== '(root)') {
            add(entry.total, key, totalOf.get(node.id) ?? 0);
            next = new Set(onStack);
            next.add(key);
        }
        for (const child of node.children ?? []) {
            visit(/** @type {ProfileNode} */ (byId.get(child)), next);
        }
    };
    visit(root, new Set());
};

for (const input of inputs) {
    const path = resolve(input);
    if (fs.statSync(path).isDirectory()) {
        fs.readdirSync(path).filter((file) => file.endsWith('.cpuprofile')).sort().forEach((file) => addProfile(join(path, file)));
    } else {
        addProfile(path);
    }
}

const names = [...candidates.keys()];
const per = (/** @type {string} */ name, /** @type {number} */ micros) => micros / (candidates.get(name)?.units ?? 1);
const cell = (/** @type {number} */ value) => value.toFixed(1).padStart(11);

/**
 * @param {string} title
 * @param {(entry: NonNullable<ReturnType<typeof candidates.get>>) => Map<string, number>} pick
 * @param {number} top
 * @param {boolean} filtered
 */
const table = (title, pick, top, filtered) => {
    /** @type {Set<string>} */
    const keys = new Set();
    for (const entry of candidates.values()) {
        pick(entry).forEach((_, key) => keys.add(key));
    }
    const rows = [...keys]
        .filter((key) => !filtered || !FILTER || key.includes(FILTER))
        .map((key) => ({key, values: names.map((name) => per(name, pick(/** @type {any} */ (candidates.get(name))).get(key) ?? 0))}))
        .sort((a, b) => Math.max(...b.values) - Math.max(...a.values))
        .slice(0, top);
    const diff = names.length === 2;
    process.stdout.write(`\n${title} (µs per connect)\n${names.map((name) => name.slice(0, 10).padStart(11)).join('')}${diff ? `${`${names[0].slice(0, 4)}-${names[1].slice(0, 4)}`.padStart(11)}` : ''}  \n`);
    for (const {key, values} of rows) {
        process.stdout.write(`${values.map(cell).join('')}${diff ? cell(values[0] - values[1]) : ''}  ${key}\n`);
    }
};

process.stdout.write(`Profiles: ${names.map((name) => `${name} (${candidates.get(name)?.units} connects)`).join(', ')}\n`);
process.stdout.write(`Busy (not idle) main thread: ${names.map((name) => `${name} ${per(name, candidates.get(name)?.busy ?? 0).toFixed(1)} µs`).join(', ')} per connect\n`);
table('Self time by origin', (entry) => entry.origins, 60, false);
table('Self time by function', (entry) => entry.self, TOP, true);
table('Total time by function', (entry) => entry.total, TOP, true);
