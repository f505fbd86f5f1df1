// @ts-check
'use strict';

/*
 * npm run bench [-- --quick] [--sizes 500,2000,5000] [--rounds 3] [--k 50]
 *
 * Measures this package, the original 2.7.1 and a bare ws server side by side, in one run, and prints the
 * medians and the ratios; writes the same figures as JSON to bench-results/. Each candidate runs in a
 * server process of its own; the clients run in a separate load generator process.
 */

const {fork, spawnSync} = require('child_process');
const {existsSync, mkdirSync, writeFileSync} = require('fs');
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
// Which measurements to take besides connecting (all by default); for profiling a single one
const WORKLOADS = option('workloads', 'echo,burst,awaited').split(',');
// With taskset, the server and the load generator each get a core of their own, so that they do not take
// turns on one core (noise), as they would if the scheduler put them together
const TASKSET = ['/usr/bin/taskset', '/bin/taskset'].find((path) => existsSync(path)) ?? null;
const PINNED = TASKSET !== null && os.cpus().length >= 2 && !flag('no-pin');
const SERVER_CPU = PINNED ? '0' : null;
const CLIENTS_CPU = PINNED ? '1' : null;
const ECHO_ACTORS = 10;
// Round trips per echo actor; as many again warm the code path up first
const ECHO_ROUND_TRIPS = quick ? 100 : 1000;
const CONNECT_CONCURRENCY = 100;
const WARM_UP_CONNECTIONS = 200;
const NAMES = Object.keys(CANDIDATES);

let nextId = 0;

/**
 * A child process that answers commands over IPC, matched by id
 * @param {string} script
 * @param {Array<string>} argv
 * @param {Array<string>} execArgv
 * @param {string | null} cpu
 */
const startChild = async (script, argv, execArgv, cpu) => {
    const child = fork(join(__dirname, script), argv, {execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc']});
    if (cpu !== null && TASKSET && child.pid) {
        // Pin the running process (fork cannot start it through taskset and keep the IPC channel)
        spawnSync(TASKSET, ['-p', '-c', cpu, String(child.pid)], {stdio: 'ignore'});
    }
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
        /** Ask the child to exit (so that e.g. a CPU profile gets written), killing it if it does not */
        stop: async () => {
            if (child.exitCode !== null) {
                return;
            }
            const exited = new Promise((resolve) => child.once('exit', resolve));
            child.send({cmd: 'stop', id: nextId++});
            const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
            await exited;
            clearTimeout(timer);
        },
    };
};

const WARM_UP_ROUNDS = 5;

/** K messages to every client of /fan; resolves with the server's start time and loop time, and when all arrived */
const fanOutRounds = async (/** @type {any} */ server, /** @type {any} */ clients, /** @type {string} */ cmd, /** @type {number} */ rounds) => {
    const doneId = nextId++;
    const done = clients.answer(doneId);
    await clients.ask({cmd: 'expect', perClient: rounds, doneId});
    const result = await server.ask({cmd, path: '/fan', rounds});
    const {at} = /** @type {{at: number}} */ (await done);
    return {totalMs: at - result.start, loopMs: result.loopMs, gcMs: result.gcMs};
};

/**
 * Every figure of one candidate at one N, from one server process with N clients: connect rate and memory
 * of the idle connections first, then every code path briefly (the JIT compiles the plugin's code as in a
 * server that has been running for a while), then each workload after a full garbage collection, so that
 * none pays for the garbage of the one before.
 * @param {string} name
 * @param {number} n
 */
const measure = async (name, n) => {
    // BENCH_SERVER_NODE_OPTIONS adds Node options to the server processes, e.g. --cpu-prof for profiling
    const extra = (process.env.BENCH_SERVER_NODE_OPTIONS ?? '').split(' ').filter(Boolean);
    const server = await startChild('server.js', [name], ['--expose-gc', ...extra], SERVER_CPU);
    const origin = `ws://127.0.0.1:${server.readyMessage.port}${PATH}`;
    const clients = await startChild('clients.js', [], [], CLIENTS_CPU);
    try {
        const collect = () => server.ask({cmd: 'memory'});
        // Connect and close a few clients first: what the first connections compile and size up once (the
        // code of the connection path, the registry's tables) is not memory per connection
        await clients.ask({cmd: 'connect', url: `${origin}/warm`, count: WARM_UP_CONNECTIONS, concurrency: CONNECT_CONCURRENCY});
        await clients.ask({cmd: 'close'});
        const deadline = Date.now() + 30_000;
        while ((await server.ask({cmd: 'clientCount'})).count > 0) {
            if (Date.now() > deadline) {
                throw new Error(`${name}: the warm-up clients were not gone within 30 s`);
            }
            await new Promise((resolve) => setTimeout(resolve, 10));
        }
        const before = await collect();
        const connect = await clients.ask({cmd: 'connect', url: `${origin}/fan`, count: n, concurrency: CONNECT_CONCURRENCY});
        const after = await collect();

        // The echo path as long as it is measured: a few dozen round trips leave the longer path of a plugin
        // less optimised by the JIT than a bare server's, which a server that has been running has long done
        await clients.ask({cmd: 'echo', url: `${origin}/echo`, actors: ECHO_ACTORS, roundTrips: ECHO_ROUND_TRIPS});
        await fanOutRounds(server, clients, 'fanOutBurst', WARM_UP_ROUNDS);
        await fanOutRounds(server, clients, 'fanOutAwait', WARM_UP_ROUNDS);

        /** @type {Record<string, number>} */
        const figures = {
            connectPerSecond: n / (connect.ms / 1000),
            rssPerConnectionKiB: (after.rss - before.rss) / n / 1024,
            heapPerConnectionKiB: (after.heapUsed - before.heapUsed) / n / 1024,
        };
        if (WORKLOADS.includes('echo')) {
            await collect();
            await server.ask({cmd: 'profileStart'});
            const echo = await clients.ask({cmd: 'echo', url: `${origin}/echo`, actors: ECHO_ACTORS, roundTrips: ECHO_ROUND_TRIPS});
            await server.ask({cmd: 'profileStop', name: 'echo'});
            Object.assign(figures, {echoP50Ms: echo.p50, echoP99Ms: echo.p99, echoPerSecond: echo.perSecond});
        }
        if (WORKLOADS.includes('burst')) {
            await collect();
            const burst = await fanOutRounds(server, clients, 'fanOutBurst', K);
            Object.assign(figures, {burstTotalMs: burst.totalMs, burstLoopMs: burst.loopMs, burstGcMs: burst.gcMs, burstMicrosPerMessage: burst.loopMs * 1000 / (K * n)});
        }
        if (WORKLOADS.includes('awaited')) {
            await collect();
            const awaited = await fanOutRounds(server, clients, 'fanOutAwait', K);
            Object.assign(figures, {awaitTotalMs: awaited.totalMs, awaitLoopMs: awaited.loopMs, awaitGcMs: awaited.gcMs});
        }
        return figures;
    } finally {
        await clients.stop();
        await server.stop();
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
    burstGcMs: ['  garbage collection during it (ms)', false, 0],
    awaitTotalMs: ['fan-out awaited, until all received (ms)', false, 0],
    awaitGcMs: ['  garbage collection during it (ms)', false, 0],
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
            const format = (/** @type {number | undefined} */ figure, /** @type {number} */ places) => (Number.isFinite(figure) ? Number(figure).toFixed(places) : '-');
            rows.push([label, ...NAMES.map((name) => format(value(name), decimals)), format(ratio('original'), 2), format(ratio('bare ws'), 2)]);
        }
        const widths = header.map((_, column) => Math.max(...rows.map((row) => row[column].length)));
        rows.forEach((row) => lines.push(row.map((cell, column) => (column === 0 ? cell.padEnd(widths[column]) : cell.padStart(widths[column]))).join('  ')));
    }
    lines.push('\nRatios: how many times better this package is (> 1: faster, more per second or less memory).');
    process.stdout.write(`${lines.join('\n')}\n`);

    const machine = {cpus: os.cpus().length, cpu: os.cpus()[0]?.model, memoryGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version, platform: `${os.platform()} ${os.release()}`};
    mkdirSync(join(__dirname, '../bench-results'), {recursive: true});
    const file = join(__dirname, '../bench-results', `bench-${startedAt.toISOString().replace(/[:.]/g, '-')}.json`);
    writeFileSync(file, JSON.stringify({startedAt, machine, settings: {sizes: SIZES, rounds: ROUNDS, k: K, echoActors: ECHO_ACTORS, echoRoundTrips: ECHO_ROUND_TRIPS, quick, pinned: PINNED}, medians, rounds}, null, 2));
    process.stdout.write(`Figures written to ${file}\n`);
};

main().catch((error) => {
    process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
});
