// @ts-check
'use strict';

/*
 * node bench/mashroom-connect.js [--sizes 500,2000,5000] [--rounds 3] [--concurrency 50] [--log-level info]
 *                                [--also <package folder>,...] [--origin] [--all-mashroom] [--warm-up 500]
 *                                [--profile <folder>] [--no-json]
 *
 * Connection admission in REAL Mashroom Servers (2.8.1, security with the simple provider, memory sessions, the
 * default login webapp, storage with the file store, i18n, browser cache, messaging 2.7.1): one server with this
 * package (the package root, its dist/), one with the original 2.7.1 (the devDependency mashroom-websocket-original,
 * the only package there that provides the WebSocket plugins), and one more per --also folder (another build of this
 * package, e.g. a patched copy). All start at once, each as a child process of its own (demo/start.js), and take
 * turns, A, B, A, B, ..., the order rotating from round to round, so that the drift of the machine hits all alike.
 *
 * A turn: N clients (this process is the load generator) open /websocket/bench with the session cookie of one
 * login (john), at most --concurrency in flight; measured is the time until every client has received its first
 * message (setClientId, which both send right after the handshake), and the CPU time the server process (all its
 * threads) spent meanwhile, from /proc/<pid>/task/<tid>/schedstat. Then the clients close, and the next turn waits
 * until the server has released their sockets (its open files back to where they were) and is idle.
 *
 * Options:
 *   --log-level <level>   log4js level of the servers (default info). The appenders are those of Mashroom's built-in
 *                         default config (file log/mashroom.log and colored console; the console goes to a file)
 *   --origin              send an Origin header of the server's own origin, as a browser does (default: none, as a
 *                         non-browser client)
 *   --all-mashroom        load every package of node_modules/@mashroom (the Portal too) into every server, as
 *                         demo/mashroom.js does; by default only the packages named above
 *   --profile <folder>    each server runs with the inspector on loopback, and each measured turn is CPU-profiled
 *                         (sampled every 100 µs) through it, from the first connect to the last first message:
 *                         <folder>/<candidate>-N<n>-r<round>.cpuprofile (see bench/cpuprofile-summary.js). The
 *                         profiler adds to the figures: a run with profiles is for finding where the time goes
 *   --keep                leave the servers' root folders (logs) in the temp folder
 *
 * Prints the medians per N and the ratios this : original (the median of the ratios within each round), and writes
 * the figures as JSON to bench-results/mashroom-connect-<start time>.json (not with --no-json). Nothing is pinned:
 * the 2 cores of the machine are shared by the server that takes its turn and this load generator.
 */

const fs = require('fs');
const fsp = require('fs/promises');
const os = require('os');
const {basename, join, resolve} = require('path');
const WebSocket = require('ws');
const {ROOT, now, sleep, startServer: startMashroom} = require('./mashroom-process');

const {flag, option} = require('./args');

const SIZES = option('sizes', '500,2000,5000').split(',').map(Number);
const ROUNDS = Number(option('rounds', '3'));
const CONCURRENCY = Number(option('concurrency', '50'));
const WARM_UP = Number(option('warm-up', '500'));
const LOG_LEVEL = option('log-level', 'info');
const PROFILE_DIR = option('profile', '') ? resolve(option('profile', '')) : null;
const SEND_ORIGIN = flag('origin');
const ALL_MASHROOM = flag('all-mashroom');
const KEEP = flag('keep');
const CONNECT_PATH = '/websocket/bench';
const SETTLE_TIMEOUT_MS = 60_000;

/** @typedef {import('./mashroom-process').Candidate} Candidate */
/** @typedef {import('./mashroom-process').Server} Server */
/** @type {Array<Candidate>} */
const CANDIDATES = [
    {name: 'this', packageFolder: ROOT},
    {name: 'original', packageFolder: join(ROOT, 'node_modules/mashroom-websocket-original')},
    ...option('also', '').split(',').filter(Boolean).map((folder) => ({name: basename(resolve(folder)), packageFolder: resolve(folder)})),
];
if (new Set(CANDIDATES.map((candidate) => candidate.name)).size !== CANDIDATES.length) {
    throw new Error(`--also: candidate names (the folder names) must differ from each other and from this, original: ${CANDIDATES.map((c) => c.name).join(', ')}`);
}

/**
 * The server's CPU time so far in µs: the time on CPU of all its threads (the main thread, libuv's pool, V8's
 * helpers), in ns from the scheduler, not in ticks as /proc/<pid>/stat has it
 * @param {number} pid
 */
const cpuMicros = (pid) => {
    let ns = 0;
    for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
        try {
            ns += Number(fs.readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
        } catch {
            // The thread ended in between
        }
    }
    return ns / 1000;
};

/** The number of files (sockets included) the process has open */
const openFiles = (/** @type {number} */ pid) => fs.readdirSync(`/proc/${pid}/fd`).length;

/**
 * A real Mashroom Server with the candidate's package, in a root folder of its own (bench/mashroom-process.js)
 * @param {Candidate} candidate
 */
const startServer = (candidate) => startMashroom(candidate, {
    logLevel: LOG_LEVEL, allMashroom: ALL_MASHROOM, inspect: PROFILE_DIR !== null, keep: KEEP,
    tempPrefix: 'mashroom-connect-', title: 'Mashroom connect benchmark',
});

/**
 * One client: resolves with it once its first message has come, which must be the setClientId message
 * @param {Server} server
 * @returns {Promise<WebSocket>}
 */
const openClient = (server) => new Promise((resolveOpen, reject) => {
    /** @type {Record<string, string>} */
    const headers = {cookie: server.cookie};
    if (SEND_ORIGIN) {
        headers.origin = `http://127.0.0.1:${server.port}`;
    }
    const socket = new WebSocket(`ws://127.0.0.1:${server.port}${CONNECT_PATH}`, {headers});
    socket.on('error', reject);
    socket.once('unexpected-response', (_request, response) => reject(new Error(`HTTP ${response.statusCode}`)));
    socket.once('close', (code) => reject(new Error(`closed (${code}) before its first message`)));
    socket.once('message', (data) => {
        const text = String(data);
        if (text.startsWith('{"type":"setClientId"')) {
            resolveOpen(socket);
        } else {
            reject(new Error(`The first message was not setClientId: ${text.slice(0, 100)}`));
        }
    });
});

/**
 * N clients, at most `concurrency` in flight; resolves with them and the time until the last first message
 * @param {Server} server
 * @param {number} count
 * @param {number} concurrency
 */
const connectAll = async (server, count, concurrency) => {
    /** @type {Array<WebSocket>} */
    const sockets = [];
    let next = 0;
    const start = now();
    const worker = async () => {
        while (next < count) {
            next++;
            sockets.push(await openClient(server));
        }
    };
    try {
        await Promise.all(Array.from({length: Math.min(concurrency, count)}, worker));
    } catch (error) {
        sockets.forEach((socket) => socket.terminate());
        throw new Error(`${server.candidate.name}: a client failed after ${sockets.length} of ${count}: ${error instanceof Error ? error.message : String(error)}`);
    }
    return {sockets, ms: now() - start};
};

/**
 * Close the clients (closing handshake, as a browser leaving), then wait until the server has let go of their
 * sockets and is idle: the next turn must not pay for this one
 * @param {Server} server
 * @param {Array<WebSocket>} sockets
 * @param {number} filesBefore
 */
const closeAll = async (server, sockets, filesBefore) => {
    await Promise.all(sockets.map((socket) => new Promise((done) => {
        if (socket.readyState === WebSocket.CLOSED) {
            done(undefined);
            return;
        }
        socket.once('close', () => done(undefined));
        socket.close();
    })));
    const deadline = Date.now() + SETTLE_TIMEOUT_MS;
    let cpu = cpuMicros(server.pid);
    for (;;) {
        await sleep(200);
        const cpuNow = cpuMicros(server.pid);
        // Idle: less than 2 % of a core over the interval (timers, a keep-alive)
        if (openFiles(server.pid) <= filesBefore + 2 && cpuNow - cpu < 4000) {
            return;
        }
        cpu = cpuNow;
        if (Date.now() > deadline) {
            throw new Error(`${server.candidate.name}: not settled ${SETTLE_TIMEOUT_MS / 1000}s after the clients closed (${openFiles(server.pid)} files open, ${filesBefore} before)`);
        }
    }
};

/**
 * A session of the inspector protocol (Chrome DevTools Protocol) with a server
 * @param {string} url
 */
const openInspector = async (url) => {
    const socket = new WebSocket(url, {perMessageDeflate: false});
    await new Promise((done, fail) => {
        socket.once('open', done);
        socket.once('error', fail);
    });
    let nextId = 1;
    /** @type {Map<number, {done: (result: any) => void, fail: (error: Error) => void}>} */
    const pending = new Map();
    socket.on('message', (data) => {
        const message = JSON.parse(String(data));
        const waiting = typeof message.id === 'number' ? pending.get(message.id) : undefined;
        if (waiting) {
            pending.delete(message.id);
            if (message.error) {
                waiting.fail(new Error(`${message.error.message} (${message.error.code})`));
            } else {
                waiting.done(message.result);
            }
        }
    });
    return {
        /**
         * @param {string} method
         * @param {Record<string, unknown>} [params]
         * @returns {Promise<any>}
         */
        post: (method, params = {}) => new Promise((done, fail) => {
            const id = nextId++;
            pending.set(id, {done, fail});
            socket.send(JSON.stringify({id, method, params}));
        }),
        close: () => socket.close(),
    };
};

/**
 * One measured turn of one server
 * @param {Server} server
 * @param {number} n
 * @param {string | null} profileName
 * @param {Awaited<ReturnType<typeof openInspector>> | null} inspector
 */
const measureTurn = async (server, n, profileName, inspector) => {
    const filesBefore = openFiles(server.pid);
    if (inspector) {
        await inspector.post('Profiler.start');
    }
    const ownBefore = process.cpuUsage();
    const cpuBefore = cpuMicros(server.pid);
    const {sockets, ms} = await connectAll(server, n, CONCURRENCY);
    const serverCpu = cpuMicros(server.pid) - cpuBefore;
    const own = process.cpuUsage(ownBefore);
    if (inspector && PROFILE_DIR && profileName) {
        const {profile} = await inspector.post('Profiler.stop');
        // The window, for the reader: all of it is the N connects
        await fsp.writeFile(join(PROFILE_DIR, `${profileName}.cpuprofile`), JSON.stringify({...profile, connects: n}));
    }
    await closeAll(server, sockets, filesBefore);
    return {
        connectsPerSecond: n / (ms / 1000),
        ms,
        serverCpuMicrosPerConnect: serverCpu / n,
        loadGeneratorCpuMicrosPerConnect: (own.user + own.system) / n,
    };
};

const median = (/** @type {Array<number>} */ values) => {
    const sorted = [...values].sort((a, b) => a - b);
    const middle = Math.floor(sorted.length / 2);
    return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
};

const format = (/** @type {number} */ value, /** @type {number} */ digits = 0) => value.toFixed(digits);

const main = async () => {
    if (!fs.existsSync(join(ROOT, 'dist/webapp/mashroom-bootstrap-webapp.js'))) {
        throw new Error('dist/ is missing: run npm run build first');
    }
    if (PROFILE_DIR) {
        await fsp.mkdir(PROFILE_DIR, {recursive: true});
    }
    const startedAt = new Date();
    process.stdout.write(`Starting ${CANDIDATES.length} Mashroom servers (${CANDIDATES.map((c) => c.name).join(', ')}), log level ${LOG_LEVEL}${ALL_MASHROOM ? ', all of node_modules/@mashroom' : ''}...\n`);
    /** @type {Array<Server>} */
    const servers = [];
    /** @type {Array<Awaited<ReturnType<typeof openInspector>>>} */
    const inspectors = [];
    try {
        // One after the other: starting them at once would only make each start slower
        for (const candidate of CANDIDATES) {
            servers.push(await startServer(candidate));
        }
        for (const server of servers) {
            if (PROFILE_DIR) {
                if (!server.inspectorUrl) {
                    throw new Error(`${server.candidate.name}: no inspector URL in the server output`);
                }
                const inspector = await openInspector(server.inspectorUrl);
                await inspector.post('Profiler.enable');
                await inspector.post('Profiler.setSamplingInterval', {interval: 100});
                inspectors.push(inspector);
            }
            // Every code path of a connect runs (and gets compiled) before the first measured turn
            const filesBefore = openFiles(server.pid);
            const {sockets} = await connectAll(server, WARM_UP, CONCURRENCY);
            await closeAll(server, sockets, filesBefore);
        }
        process.stdout.write(`Ready; ${ROUNDS} round(s), N = ${SIZES.join(', ')}, ${CONCURRENCY} connects in flight${SEND_ORIGIN ? ', with Origin' : ''}${PROFILE_DIR ? `, profiles in ${PROFILE_DIR}` : ''}\n`);

        /** @type {Record<number, Array<Record<string, Awaited<ReturnType<typeof measureTurn>>>>>} */
        const results = {};
        for (let round = 0; round < ROUNDS; round++) {
            for (const n of SIZES) {
                // A, B, A, B, ...: the order rotates from round to round
                const order = servers.map((_, index) => servers[(index + round) % servers.length]);
                /** @type {Record<string, Awaited<ReturnType<typeof measureTurn>>>} */
                const turn = {};
                for (const server of order) {
                    const index = servers.indexOf(server);
                    turn[server.candidate.name] = await measureTurn(server, n, `${server.candidate.name}-N${n}-r${round + 1}`, inspectors[index] ?? null);
                }
                (results[n] ??= []).push(turn);
                process.stdout.write(`round ${round + 1}, N = ${n}: ${order.map((server) => {
                    const result = turn[server.candidate.name];
                    return `${server.candidate.name} ${format(result.connectsPerSecond)}/s ${format(result.serverCpuMicrosPerConnect)} µs`;
                }).join(', ')}\n`);
            }
        }

        // Medians per N, and the ratios within each round (> 1: this is better)
        /** @type {Record<string, unknown>} */
        const summary = {};
        for (const n of SIZES) {
            const rounds = results[n];
            process.stdout.write(`\nN = ${n} (medians of ${rounds.length} round(s))\n`);
            process.stdout.write(`${'candidate'.padEnd(20)}${'connects/s'.padStart(12)}${'server CPU µs/connect'.padStart(24)}${'generator CPU µs/connect'.padStart(27)}\n`);
            /** @type {Record<string, unknown>} */
            const perCandidate = {};
            for (const {name} of CANDIDATES) {
                const figures = {
                    connectsPerSecond: median(rounds.map((round) => round[name].connectsPerSecond)),
                    serverCpuMicrosPerConnect: median(rounds.map((round) => round[name].serverCpuMicrosPerConnect)),
                    loadGeneratorCpuMicrosPerConnect: median(rounds.map((round) => round[name].loadGeneratorCpuMicrosPerConnect)),
                };
                perCandidate[name] = figures;
                process.stdout.write(`${name.padEnd(20)}${format(figures.connectsPerSecond).padStart(12)}${format(figures.serverCpuMicrosPerConnect).padStart(24)}${format(figures.loadGeneratorCpuMicrosPerConnect).padStart(27)}\n`);
            }
            /** @type {Record<string, unknown>} */
            const ratios = {};
            for (const {name} of CANDIDATES.filter((candidate) => candidate.name !== 'original')) {
                const rate = median(rounds.map((round) => round[name].connectsPerSecond / round.original.connectsPerSecond));
                const cpu = median(rounds.map((round) => round.original.serverCpuMicrosPerConnect / round[name].serverCpuMicrosPerConnect));
                ratios[name] = {connectsPerSecond: rate, serverCpuPerConnect: cpu};
                process.stdout.write(`${`${name} : original`.padEnd(20)}${format(rate, 2).padStart(12)}${format(cpu, 2).padStart(24)}   (> 1: ${name} is better)\n`);
            }
            summary[n] = {medians: perCandidate, ratios};
        }

        if (!flag('no-json')) {
            const folder = join(ROOT, 'bench-results');
            fs.mkdirSync(folder, {recursive: true});
            const file = join(folder, `mashroom-connect-${startedAt.toISOString().replace(/[:.]/g, '-')}.json`);
            fs.writeFileSync(file, JSON.stringify({
                machine: {cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, memory: os.totalmem(), node: process.version, platform: `${os.platform()} ${os.release()}`},
                settings: {sizes: SIZES, rounds: ROUNDS, concurrency: CONCURRENCY, warmUp: WARM_UP, logLevel: LOG_LEVEL, origin: SEND_ORIGIN, allMashroom: ALL_MASHROOM, profiled: PROFILE_DIR !== null, candidates: CANDIDATES},
                summary,
                results,
            }, null, 2));
            process.stdout.write(`\nWritten to ${file}\n`);
        }
    } finally {
        inspectors.forEach((inspector) => inspector.close());
        await Promise.all(servers.map((server) => server.stop()));
    }
};

main().catch((error) => {
    process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
});
