// @ts-check
'use strict';

/*
 * npm run bench [-- --quick] [--sizes 500,2000,5000] [--rounds 3] [--k 50]
 *
 * Measures this package, the original 2.7.1 and a bare ws server side by side, in one run, and prints the
 * medians and the ratios; writes the same figures as JSON to bench-results/. Each candidate runs in a
 * server process of its own; the clients run in a separate load generator process. Connect rate and memory
 * are measured one candidate at a time, the timed workloads with all candidates running at once, taking
 * turns (see measureWorkloads).
 */

const {fork, spawnSync} = require('child_process');
const {existsSync, mkdirSync, writeFileSync} = require('fs');
const os = require('os');
const {join} = require('path');
const {CANDIDATES, PATH} = require('./candidates');

const {flag, option} = require('./args');
const quick = flag('quick');
const SIZES = option('sizes', '500,2000,5000').split(',').map(Number);
const ROUNDS = Number(option('rounds', quick ? '1' : '3'));
const K = Number(option('k', quick ? '20' : '50'));
// Which measurements to take besides connecting (all by default); for profiling a single one
const REQUESTED = option('workloads', 'echo,burst,awaited,storm').split(',').filter(Boolean);
// The storm is measured one candidate at a time, like connects; the others are timed side by side
const STORM = REQUESTED.includes('storm');
const WORKLOADS = REQUESTED.filter((workload) => workload !== 'storm');
// With taskset, the server and the load generator each get a core of their own, so that they do not take
// turns on one core (noise), as they would if the scheduler put them together
const TASKSET = ['/usr/bin/taskset', '/bin/taskset'].find((path) => existsSync(path)) ?? null;
const PINNED = TASKSET !== null && os.cpus().length >= 2 && !flag('no-pin');
const SERVER_CPU = PINNED ? '0' : null;
const CLIENTS_CPU = PINNED ? '1' : null;
const ECHO_ACTORS = 10;
// Round trips per echo actor and run, also in --quick: with 100, a run was over in about 25 ms, and this
// package's echo at N = 5000 came out at 0.57 and 0.59 of bare ws in two quick runs, against 1.01 with 1000
const ECHO_ROUND_TRIPS = 1000;
// Unmeasured echo runs of each server before the first turn (see measureWorkloads)
const ECHO_WARM_UP_RUNS = 3;
// Measurements of each workload per candidate and round, taking turns with the other candidates
const TURNS = quick ? 1 : 3;
const CONNECT_CONCURRENCY = 100;
const WARM_UP_CONNECTIONS = 200;
// Which candidates to run (all by default, `this` always); e.g. --candidates "this,bare ws" for a study of one
// figure that does not need the original
const NAMES = option('candidates', Object.keys(CANDIDATES).join(',')).split(',').filter(Boolean);
for (const name of NAMES) {
    if (!(name in CANDIDATES)) {
        throw new Error(`--candidates: no candidate named ${name} (there are: ${Object.keys(CANDIDATES).join(', ')})`);
    }
}
if (!NAMES.includes('this')) {
    NAMES.unshift('this');
}
// The ratio columns: this package against each of these that runs
const BASELINES = ['original', 'bare ws'].filter((name) => NAMES.includes(name));

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
    child.once('exit', (code, signal) => {
        if (code !== 0 && code !== null) {
            process.stderr.write(`${script} ${argv.join(' ')} exited with code ${code}\n`);
        }
        // Whatever still waits for an answer gets an error instead of waiting forever
        waiting.forEach((resolve) => resolve({error: `${script} ${argv.join(' ')} exited (${signal ?? code})`}));
        waiting.clear();
    });
    // A send to a child that has just died: reported by its exit, not a crash of the coordinator
    child.on('error', (error) => process.stderr.write(`${script}: ${error.message}\n`));
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
            if (child.exitCode !== null || child.signalCode !== null || !child.connected) {
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

/**
 * K messages to every client of /fan of one server (the clients of `group`); resolves with the server's start
 * time and loop time, and when all arrived
 */
const fanOutRounds = async (/** @type {any} */ server, /** @type {any} */ clients, /** @type {string} */ group, /** @type {string} */ cmd, /** @type {number} */ rounds) => {
    const doneId = nextId++;
    const done = clients.answer(doneId);
    await clients.ask({cmd: 'expect', group, perClient: rounds, doneId});
    const result = await server.ask({cmd, path: '/fan', rounds});
    const {at, error} = /** @type {{at: number, error?: string}} */ (await done);
    if (error) {
        throw new Error(error);
    }
    return {totalMs: at - result.start, loopMs: result.loopMs, gcMs: result.gcMs};
};

// Semi-spaces of 16 MiB, V8's default maximum: see measureWorkloads. --v8-young-generation leaves the sizing to V8
// (to see what the fixed size changes)
const FIXED_YOUNG_GENERATION = flag('v8-young-generation') ? [] : ['--min-semi-space-size=16', '--max-semi-space-size=16'];

const startServer = async (/** @type {string} */ name, /** @type {Array<string>} */ flags = []) => {
    // BENCH_SERVER_NODE_OPTIONS adds Node options to the server processes (after ours, so it wins), e.g.
    // --cpu-prof for profiling
    const extra = (process.env.BENCH_SERVER_NODE_OPTIONS ?? '').split(' ').filter(Boolean);
    const server = await startChild('server.js', [name], ['--expose-gc', ...flags, ...extra], SERVER_CPU);
    return {name, server, origin: `ws://127.0.0.1:${server.readyMessage.port}${PATH}`};
};

/**
 * Connect rate and memory per idle connection of one candidate at one N, from a server process of its own
 * @param {string} name
 * @param {number} n
 */
const measureConnections = async (name, n) => {
    const {server, origin} = await startServer(name);
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
        return {
            connectPerSecond: n / (connect.ms / 1000),
            rssPerConnectionKiB: (after.rss - before.rss) / n / 1024,
            heapPerConnectionKiB: (after.heapUsed - before.heapUsed) / n / 1024,
        };
    } finally {
        await clients.stop();
        await server.stop();
    }
};

/** Messages kept for each client of the storm while it is away */
const STORM_BUFFERED = 10;

/**
 * The reconnect storm that follows a deploy, one candidate at a time, from a server process of its own with the
 * reconnect buffer in a folder: N clients connect and learn their ids, all are dropped at once, the server keeps
 * STORM_BUFFERED messages for each, and all reconnect with their ids (CONNECT_CONCURRENCY in flight). Measured:
 * the time until every client has its id and its buffered messages (a client the server does not resume gets a
 * fresh id and none of them, and counts as done), and until each then has a live message sent after that, and the
 * server's CPU time for all of it (BENCH_PROFILE_DIR: a CPU profile of it)
 * @param {string} name
 * @param {number} n
 */
const measureStorm = async (name, n) => {
    const extra = (process.env.BENCH_SERVER_NODE_OPTIONS ?? '').split(' ').filter(Boolean);
    const server = await startChild('server.js', [name, 'buffered'], ['--expose-gc', ...extra], SERVER_CPU);
    const clients = await startChild('clients.js', [], [], CLIENTS_CPU);
    const url = `ws://127.0.0.1:${server.readyMessage.port}${PATH}/storm`;
    try {
        await clients.ask({cmd: 'stormConnect', url, count: n, concurrency: CONNECT_CONCURRENCY});
        await clients.ask({cmd: 'stormDrop'});
        await server.ask({cmd: 'stormFill', path: '/storm', count: n, perClient: STORM_BUFFERED});
        await server.ask({cmd: 'memory'});
        await server.ask({cmd: 'profileStart'});
        const liveId = nextId++;
        const liveDone = clients.answer(liveId);
        const resume = await clients.ask({cmd: 'stormResume', url, concurrency: CONNECT_CONCURRENCY, perClient: STORM_BUFFERED, liveId});
        await server.ask({cmd: 'stormLive', path: '/storm', perClient: STORM_BUFFERED});
        const live = /** @type {{at: number}} */ (await Promise.race([liveDone, new Promise((resolve) => setTimeout(() => resolve({at: NaN}), 60_000))]));
        const {cpuMs} = await server.ask({cmd: 'profileStop', name: 'storm'});
        await server.ask({cmd: 'stormEnd', path: '/storm'});
        return {
            stormCpuMicros: cpuMs * 1000 / n,
            stormResumedMs: resume.bufferedAt - resume.start,
            stormStreamingMs: live.at - resume.start,
            stormResumedPercent: resume.resumed / n * 100,
            stormKeptPercent: resume.messages / (n * STORM_BUFFERED) * 100,
        };
    } finally {
        await clients.stop();
        await server.stop();
    }
};

/**
 * The timed workloads of every candidate at one N. The speed of this VM drifts by up to 2x within a minute,
 * more than the differences measured here, so the candidates are not measured one after the other but side
 * by side: all servers run at once, each with N idle clients, and they take turns at each workload, seconds
 * apart. What is measured is the steady state of a server doing that work:
 * - Every code path runs first (the echo three times as long as it is measured), and each workload again
 *   right before it is measured (the echo once, the fan-outs a few rounds): the JIT optimises for what it saw
 *   last. After only one echo run it is still compiling (on a background thread, on the server's core), and
 *   the next run costs every candidate up to half as much CPU again, a plugin's longer path most.
 * - Every server collects its garbage before each measurement, so that none is left from an earlier workload
 *   (a fan-out of 250000 messages leaves enough for the collector to run well into the next measurement,
 *   on the same core). The warm-up comes after that. A workload pays for its own garbage.
 * - The young generation has one fixed size in these server processes (FIXED_YOUNG_GENERATION). By default V8
 *   sizes it by the process's recent past: a full collection at a time of little allocation shrinks it to
 *   semi-spaces of 1 MiB, and only objects that survive scavenges grow it again, which an echo hardly leaves.
 *   Which candidate that hits depends on what it did in the seconds before (the one that allocated least in the
 *   fan-out before, and that is ours: 39 scavenges in the echo instead of 2, 19 ms instead of 4) and on when
 *   the memory reducer of an idle process ran, not on the work measured. Connect rate and memory are measured
 *   with V8's defaults.
 * @param {number} n
 * @param {Array<string>} order
 * @returns {Promise<Record<string, {medians: Record<string, number>, turns: Array<Record<string, number>>}>>} by
 *   candidate: the medians of its turns, and the turns
 */
const measureWorkloads = async (n, order) => {
    const clients = await startChild('clients.js', [], [], CLIENTS_CPU);
    /** @type {Array<{name: string, server: any, origin: string}>} */
    const servers = [];
    try {
        for (const name of order) {
            const started = await startServer(name, FIXED_YOUNG_GENERATION);
            servers.push(started);
            await clients.ask({cmd: 'connect', url: `${started.origin}/fan`, count: n, concurrency: CONNECT_CONCURRENCY, group: name});
        }
        // Before each measurement, no server has garbage of an earlier workload left to collect (on the
        // measured server's core, in the measured time)
        const collectAll = () => Promise.all(servers.map(({server}) => server.ask({cmd: 'memory'})));
        const openEcho = (/** @type {string} */ origin) => clients.ask({cmd: 'echoOpen', url: `${origin}/echo`, actors: ECHO_ACTORS});
        const runEcho = () => clients.ask({cmd: 'echo', roundTrips: ECHO_ROUND_TRIPS});
        const echo = async (/** @type {string} */ origin) => {
            await openEcho(origin);
            return runEcho();
        };
        for (const {name, server, origin} of servers) {
            for (let run = 0; run < ECHO_WARM_UP_RUNS; run++) {
                await echo(origin);
            }
            await fanOutRounds(server, clients, name, 'fanOutBurst', WARM_UP_ROUNDS);
            await fanOutRounds(server, clients, name, 'fanOutAwait', WARM_UP_ROUNDS);
        }
        /** @type {Record<string, Array<Record<string, number>>>} */
        const turns = Object.fromEntries(order.map((name) => [name, []]));
        for (let turn = 0; turn < TURNS; turn++) {
            order.forEach((name) => turns[name].push({}));
            for (const workload of WORKLOADS) {
                for (const {name, server, origin} of servers) {
                    const figures = turns[name][turn];
                    await collectAll();
                    if (workload === 'echo') {
                        await echo(origin);
                        await openEcho(origin);
                        await server.ask({cmd: 'profileStart'});
                        const result = await runEcho();
                        const {cpuMs, gcMs} = await server.ask({cmd: 'profileStop', name: 'echo'});
                        // What the server's path costs per message, less exposed to scheduling than the rate
                        const echoCpuMicros = cpuMs * 1000 / (ECHO_ACTORS * ECHO_ROUND_TRIPS);
                        Object.assign(figures, {echoP50Ms: result.p50, echoP99Ms: result.p99, echoPerSecond: result.perSecond, echoCpuMicros, echoGcMs: gcMs});
                    } else if (workload === 'burst') {
                        await fanOutRounds(server, clients, name, 'fanOutBurst', WARM_UP_ROUNDS);
                        const burst = await fanOutRounds(server, clients, name, 'fanOutBurst', K);
                        Object.assign(figures, {burstTotalMs: burst.totalMs, burstLoopMs: burst.loopMs, burstGcMs: burst.gcMs, burstMicrosPerMessage: burst.loopMs * 1000 / (K * n)});
                    } else if (workload === 'awaited') {
                        await fanOutRounds(server, clients, name, 'fanOutAwait', WARM_UP_ROUNDS);
                        const awaited = await fanOutRounds(server, clients, name, 'fanOutAwait', K);
                        Object.assign(figures, {awaitTotalMs: awaited.totalMs, awaitLoopMs: awaited.loopMs, awaitGcMs: awaited.gcMs});
                    }
                }
            }
        }
        return Object.fromEntries(order.map((name) => [name, {
            medians: Object.fromEntries(Object.keys(turns[name][0]).map((metric) => [metric, median(turns[name].map((figures) => figures[metric]))])),
            turns: turns[name],
        }]));
    } finally {
        await clients.stop();
        await Promise.all(servers.map(({server}) => server.stop()));
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
    echoCpuMicros: ['  server CPU per round trip (µs)', false, 1],
    echoGcMs: ['  server GC during the echo (ms)', false, 1],
    connectPerSecond: ['connects/s', true, 0],
    stormResumedMs: [`storm: N resume with ${STORM_BUFFERED} buffered each (ms)`, false, 0],
    stormStreamingMs: ['  until a live message after it reached all (ms)', false, 0],
    stormCpuMicros: ['  server CPU per resume (µs)', false, 0],
    stormResumedPercent: ['  clients resumed (%)', true, 1],
    stormKeptPercent: ['  buffered messages received (%)', true, 1],
    rssPerConnectionKiB: ['RSS per idle connection (KiB)', false, 2],
    heapPerConnectionKiB: ['JS heap per idle connection (KiB)', false, 2],
};

const main = async () => {
    /** @type {Record<number, Record<string, Array<Record<string, number>>>>} */
    const rounds = {};
    // The figures of each turn of the timed workloads, by N, candidate and round
    /** @type {Record<number, Record<string, Array<Array<Record<string, number>>>>>} */
    const turns = {};
    const startedAt = new Date();
    for (let round = 0; round < ROUNDS; round++) {
        for (const n of SIZES) {
            rounds[n] ??= Object.fromEntries(NAMES.map((name) => [name, []]));
            turns[n] ??= Object.fromEntries(NAMES.map((name) => [name, []]));
            // Rotate the order so that no candidate always runs first or last
            const order = NAMES.map((_, index) => NAMES[(index + round) % NAMES.length]);
            for (const name of order) {
                process.stderr.write(`round ${round + 1}/${ROUNDS}, N=${n}, ${name}: connections...\n`);
                rounds[n][name].push(await measureConnections(name, n));
            }
            if (STORM) {
                // A bare ws server keeps nothing for a client that went away: nothing to resume
                for (const name of order.filter((candidate) => candidate !== 'bare ws')) {
                    process.stderr.write(`round ${round + 1}/${ROUNDS}, N=${n}, ${name}: reconnect storm...\n`);
                    Object.assign(rounds[n][name][round], await measureStorm(name, n));
                }
            }
            if (WORKLOADS.length > 0) {
                process.stderr.write(`round ${round + 1}/${ROUNDS}, N=${n}, ${WORKLOADS.join(', ')} of all candidates side by side...\n`);
                const figures = await measureWorkloads(n, order);
                for (const name of order) {
                    Object.assign(rounds[n][name][round], figures[name].medians);
                    turns[n][name][round] = figures[name].turns;
                }
            }
        }
    }

    /** @type {Record<number, Record<string, Record<string, number>>>} */
    const medians = {};
    /** @type {Record<number, Record<string, Record<string, number>>>} */
    const ratios = {};
    const lines = [];
    const header = ['', ...NAMES, ...BASELINES.map((name) => `this:${name}`)];
    for (const n of SIZES) {
        medians[n] = Object.fromEntries(NAMES.map((name) => [name, Object.fromEntries(Object.keys(METRICS).map((metric) =>
            [metric, median(rounds[n][name].map((result) => result[metric]))]))]));
        lines.push(`\nN = ${n} clients, K = ${K} messages per client (medians of ${ROUNDS} round(s))`);
        const rows = [header];
        for (const [metric, [label, higherIsBetter, decimals]] of Object.entries(METRICS)) {
            const value = (/** @type {string} */ name) => medians[n][name][metric];
            // A ratio above 1 means this package is better: faster, more per second, or less memory. It is the
            // median of the ratios within each round, whose figures were taken close together in time
            // (for the timed workloads: within each turn of each round, a few seconds apart)
            const ratio = (/** @type {string} */ other) => median(rounds[n].this.flatMap((mine, round) => {
                const myTurns = turns[n].this[round];
                const theirTurns = turns[n][other][round];
                const pairs = myTurns && theirTurns && metric in myTurns[0]
                    ? myTurns.map((turn, index) => [turn[metric], theirTurns[index][metric]])
                    : [[mine[metric], rounds[n][other][round][metric]]];
                return pairs.map(([a, b]) => (higherIsBetter ? a / b : b / a));
            }));
            const format = (/** @type {number | undefined} */ figure, /** @type {number} */ places) => (Number.isFinite(figure) ? Number(figure).toFixed(places) : '-');
            ratios[n] ??= Object.fromEntries(BASELINES.map((name) => [`this:${name}`, {}]));
            BASELINES.forEach((name) => {
                ratios[n][`this:${name}`][metric] = ratio(name);
            });
            rows.push([label, ...NAMES.map((name) => format(value(name), decimals)), ...BASELINES.map((name) => format(ratio(name), 2))]);
        }
        const widths = header.map((_, column) => Math.max(...rows.map((row) => row[column].length)));
        rows.forEach((row) => lines.push(row.map((cell, column) => (column === 0 ? cell.padEnd(widths[column]) : cell.padStart(widths[column]))).join('  ')));
    }
    lines.push('\nRatios: how many times better this package is (> 1: faster, more per second or less memory); the median');
    lines.push('of the ratios within each round (of each turn, for the timed workloads), so not always the ratio of the');
    lines.push('medians shown.');
    process.stdout.write(`${lines.join('\n')}\n`);

    const machine = {cpus: os.cpus().length, cpu: os.cpus()[0]?.model, memoryGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version, platform: `${os.platform()} ${os.release()}`};
    mkdirSync(join(__dirname, '../bench-results'), {recursive: true});
    const file = join(__dirname, '../bench-results', `bench-${startedAt.toISOString().replace(/[:.]/g, '-')}.json`);
    writeFileSync(file, JSON.stringify({startedAt, machine, settings: {sizes: SIZES, rounds: ROUNDS, k: K, echoActors: ECHO_ACTORS, echoRoundTrips: ECHO_ROUND_TRIPS, turns: TURNS, quick, pinned: PINNED, timedServerFlags: FIXED_YOUNG_GENERATION}, medians, ratios, rounds, turns}, null, 2));
    process.stdout.write(`Figures written to ${file}\n`);
};

main().catch((error) => {
    process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
});
