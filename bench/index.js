// @ts-check
'use strict';

/*
 * npm run bench [-- --quick] [--sizes 500,2000,5000] [--rounds 3] [--k 50]
 *
 * Measures this package, the original 2.7.1 and a bare ws server side by side, in one run, and prints the
 * medians and the ratios; writes the same figures as JSON to bench-results/. Each candidate runs in a
 * server process of its own; the clients run in a separate load generator process.
 */

const {fork} = require('child_process');
const {mkdirSync, writeFileSync} = require('fs');
const os = require('os');
const {join} = require('path');
const {CANDIDATES, PATH} = require('./candidates');

const args = process.argv.slice(2);
const flag = (/** @type {string} */ name) => args.includes(`--${name}`);
const option = (/** @type {string} */ name, /** @type {string} */ fallback) => {
    const index = args.indexOf(`--${name}`);
    return index !== -1 && args[index + 1] ? args[index + 1] : fallback;
};
const quick = flag('quick');
const SIZES = option('sizes', '500,2000,5000').split(',').map(Number);
const ROUNDS = Number(option('rounds', quick ? '1' : '3'));
const K = Number(option('k', quick ? '20' : '50'));
const ECHO_ACTORS = 10;
const ECHO_ROUND_TRIPS = quick ? 100 : 300;
const CONNECT_CONCURRENCY = 100;
const NAMES = Object.keys(CANDIDATES);

let nextId = 0;

/**
 * A child process that answers commands over IPC, matched by id
 * @param {string} script
 * @param {Array<string>} argv
 * @param {Array<string>} execArgv
 */
const startChild = async (script, argv, execArgv) => {
    const child = fork(join(__dirname, script), argv, {execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc']});
    /** @type {Map<number, (message: any) => void>} */
    const waiting = new Map();
    /** @type {(message: any) => void} */
    let onReady = () => undefined;
    const ready = new Promise((resolve) => {
        onReady = resolve;
    });
    child.on('message', (/** @type {any} */ message) => {
        if (message.ready) {
            onReady(message);
        } else if (waiting.has(message.id)) {
            const resolve = waiting.get(message.id);
            waiting.delete(message.id);
            resolve?.(message);
        }
    });
    child.once('exit', (code) => {
        if (code !== 0 && code !== null) {
            process.stderr.write(`${script} ${argv.join(' ')} exited with code ${code}\n`);
        }
    });
    const readyMessage = await ready;
    return {
        readyMessage,
        /** A promise for the answer with this id */
        answer: (/** @type {number} */ id) => new Promise((resolve) => waiting.set(id, resolve)),
        /** Send a command and wait for its answer */
        ask: (/** @type {Record<string, unknown>} */ command) => {
            const id = nextId++;
            const answer = new Promise((resolve) => waiting.set(id, resolve));
            child.send({...command, id});
            return /** @type {Promise<any>} */ (answer).then((message) => {
                if (message.error) {
                    throw new Error(message.error);
                }
                return message;
            });
        },
        kill: () => child.kill(),
    };
};

/**
 * Every figure of one candidate at one N
 * @param {string} name
 * @param {number} n
 */
const measure = async (name, n) => {
    const server = await startChild('server.js', [name], ['--expose-gc']);
    const origin = `ws://127.0.0.1:${server.readyMessage.port}${PATH}`;
    const clients = await startChild('clients.js', [], []);
    try {
        const before = await server.ask({cmd: 'memory'});
        const connect = await clients.ask({cmd: 'connect', url: `${origin}/fan`, count: n, concurrency: CONNECT_CONCURRENCY});
        const after = await server.ask({cmd: 'memory'});
        const echo = await clients.ask({cmd: 'echo', url: `${origin}/echo`, actors: ECHO_ACTORS, roundTrips: ECHO_ROUND_TRIPS});

        /** @param {'fanOutBurst' | 'fanOutAwait'} cmd */
        const fanOut = async (cmd) => {
            const doneId = nextId++;
            const done = clients.answer(doneId);
            await clients.ask({cmd: 'expect', perClient: K, doneId});
            const result = await server.ask({cmd, path: '/fan', rounds: K});
            const {at} = /** @type {{at: number}} */ (await done);
            return {totalMs: at - result.start, loopMs: result.loopMs};
        };
        const burst = await fanOut('fanOutBurst');
        const awaited = await fanOut('fanOutAwait');
        await clients.ask({cmd: 'close'});
        return {
            connectPerSecond: n / (connect.ms / 1000),
            rssPerConnectionKiB: (after.rss - before.rss) / n / 1024,
            heapPerConnectionKiB: (after.heapUsed - before.heapUsed) / n / 1024,
            echoP50Ms: echo.p50,
            echoP99Ms: echo.p99,
            echoPerSecond: echo.perSecond,
            burstTotalMs: burst.totalMs,
            burstLoopMs: burst.loopMs,
            burstMicrosPerMessage: burst.loopMs * 1000 / (K * n),
            awaitTotalMs: awaited.totalMs,
            awaitLoopMs: awaited.loopMs,
        };
    } finally {
        clients.kill();
        server.kill();
    }
};

/** @param {Array<number>} values */
const median = (values) => {
    const sorted = [...values].sort((a, b) => a - b);
    const middle = Math.floor(sorted.length / 2);
    return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
};

/** metric → [label, higher is better, decimals] */
/** @type {Record<string, [string, boolean, number]>} */
const METRICS = {
    burstTotalMs: ['fan-out burst, until all received (ms)', false, 0],
    burstLoopMs: ['fan-out burst, server loop (ms)', false, 1],
    burstMicrosPerMessage: ['  per sendMessage (µs)', false, 3],
    awaitTotalMs: ['fan-out awaited, until all received (ms)', false, 0],
    echoPerSecond: ['echo round trips/s (10 actors)', true, 0],
    echoP50Ms: ['echo p50 (ms)', false, 2],
    echoP99Ms: ['echo p99 (ms)', false, 2],
    connectPerSecond: ['connects/s', true, 0],
    rssPerConnectionKiB: ['RSS per idle connection (KiB)', false, 2],
    heapPerConnectionKiB: ['JS heap per idle connection (KiB)', false, 2],
};

const main = async () => {
    /** @type {Record<number, Record<string, Array<Record<string, number>>>>} */
    const rounds = {};
    const startedAt = new Date();
    for (let round = 0; round < ROUNDS; round++) {
        for (const n of SIZES) {
            rounds[n] ??= Object.fromEntries(NAMES.map((name) => [name, []]));
            // Rotate the order so that no candidate always runs first or last
            const order = NAMES.map((_, index) => NAMES[(index + round) % NAMES.length]);
            for (const name of order) {
                process.stderr.write(`round ${round + 1}/${ROUNDS}, N=${n}, ${name}...\n`);
                rounds[n][name].push(await measure(name, n));
            }
        }
    }

    /** @type {Record<number, Record<string, Record<string, number>>>} */
    const medians = {};
    const lines = [];
    const header = ['', ...NAMES, 'this:original', 'this:bare ws'];
    for (const n of SIZES) {
        medians[n] = Object.fromEntries(NAMES.map((name) => [name, Object.fromEntries(Object.keys(METRICS).map((metric) =>
            [metric, median(rounds[n][name].map((result) => result[metric]))]))]));
        lines.push(`\nN = ${n} clients, K = ${K} messages per client (medians of ${ROUNDS} round(s))`);
        const rows = [header];
        for (const [metric, [label, higherIsBetter, decimals]] of Object.entries(METRICS)) {
            const value = (/** @type {string} */ name) => medians[n][name][metric];
            // A ratio above 1 means this package is better: faster, more per second, or less memory
            const ratio = (/** @type {string} */ other) => (higherIsBetter ? value('this') / value(other) : value(other) / value('this'));
            rows.push([label, ...NAMES.map((name) => value(name).toFixed(decimals)), ratio('original').toFixed(2), ratio('bare ws').toFixed(2)]);
        }
        const widths = header.map((_, column) => Math.max(...rows.map((row) => row[column].length)));
        rows.forEach((row) => lines.push(row.map((cell, column) => (column === 0 ? cell.padEnd(widths[column]) : cell.padStart(widths[column]))).join('  ')));
    }
    lines.push('\nRatios: how many times better this package is (> 1: faster, more per second or less memory).');
    process.stdout.write(`${lines.join('\n')}\n`);

    const machine = {cpus: os.cpus().length, cpu: os.cpus()[0]?.model, memoryGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version, platform: `${os.platform()} ${os.release()}`};
    mkdirSync(join(__dirname, '../bench-results'), {recursive: true});
    const file = join(__dirname, '../bench-results', `bench-${startedAt.toISOString().replace(/[:.]/g, '-')}.json`);
    writeFileSync(file, JSON.stringify({startedAt, machine, settings: {sizes: SIZES, rounds: ROUNDS, k: K, echoActors: ECHO_ACTORS, echoRoundTrips: ECHO_ROUND_TRIPS, quick}, medians, rounds}, null, 2));
    process.stdout.write(`Figures written to ${file}\n`);
};

main().catch((error) => {
    process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
});
