// @ts-check
'use strict';

/*
 * node bench/drain.js [--sizes 1000,5000] [--k 20] [--stores file,redis] [--rounds 1] [--concurrency 50]
 *                     [--log-level info] [--profile <folder>] [--keep] [--no-json]
 *
 * How long the drain on shutdown takes with N connected clients, in a REAL Mashroom Server (2.8.1, as in
 * bench/mashroom-connect.js: bench/mashroom-process.js) with this package (the package root, its dist/), stopped
 * with a real SIGTERM as Kubernetes or systemd stop a process, which must be done well inside a typical termination
 * grace period of 10 s. The original 2.7.1 is not measured: it has no drain; its clients are cut off, and after a
 * restart they are reset (a fresh id; what they had not received is lost).
 *
 * Per store (--stores), N (--sizes) and round:
 *   - file: 'Mashroom WebSocket Webapp' with reconnectMessageBufferFolder './data/websocket-buffer';
 *     redis: with reconnectMessageBufferRedis, on a redis-server of its own (/usr/bin/redis-server, or
 *     $REDIS_SERVER; a free loopback port, no persistence); both with reconnectTimeoutSec 60 and maxConnections
 *     1000000. A fixture plugin (bench/fixtures/drain-sender-plugin) sends k messages to a client that asks.
 *   - N plain ws clients (this process is the load generator) open /websocket/bench with the session cookie of one
 *     login (john), at most --concurrency in flight, and each asks for k messages of about 200 bytes (--k). The
 *     server takes a pong as the acknowledgement of everything before its ping (README, "Delivery guarantees"),
 *     so from their request on the clients no longer answer pings (ws's autoPong off; they answered them until
 *     then): when all N have received their k messages, every one of those is still unacknowledged, and the drain
 *     must store all N * k into the reconnect buffers.
 *   - SIGTERM to the server process. Measured: the server's own figure (its log line "Drained <n> client(s) into
 *     <store> in <ms> ms"), the time from the signal until every client saw its connection closed (and with which
 *     code: 1012 is expected), until the process exited, and any line saying buffers "were not stored within" the
 *     drain's time limit.
 *   - Then a server is started again, on the same root folder (file) or fresh on the same Redis (redis), and all N
 *     clients reconnect with ?clientId=<their id> (after a new login, same user): resumed are those that get their
 *     own id again in setClientId, and each should get its k messages replayed (counted once each, in order).
 *
 * Options:
 *   --profile <folder>    the stopped server runs with --cpu-prof (sampled every 100 µs); the part of the profile from
 *                         the signal to the exit is written to <folder>/<store>-N<n>-r<round>.cpuprofile (see
 *                         bench/cpuprofile-summary.js; figures there are per drain). The profiler adds to the figures
 *   --keep                leave the servers' root folders (logs: server-1.out, server-2.out) in the temp folder
 *
 * Prints a table per store and N, and writes the figures as JSON to bench-results/drain-<start time>.json (not
 * with --no-json). Nothing is pinned: the 2 cores of the machine are shared by the server and this load generator,
 * so the time until all clients saw their close includes this process handling N close events.
 */

const {spawn} = require('child_process');
const fs = require('fs');
const fsp = require('fs/promises');
const net = require('net');
const os = require('os');
const {join, resolve} = require('path');
const WebSocket = require('ws');
const {ROOT, now, sleep, startServer} = require('./mashroom-process');

/** @typedef {import('./mashroom-process').Server} Server */
/** @typedef {import('./mashroom-process').Candidate} Candidate */

const {flag, option} = require('./args');

const SIZES = option('sizes', '1000,5000').split(',').map(Number);
const K = Number(option('k', '20'));
const STORES = /** @type {Array<'file' | 'redis'>} */ (option('stores', 'file,redis').split(','));
const ROUNDS = Number(option('rounds', '1'));
const CONCURRENCY = Number(option('concurrency', '50'));
const LOG_LEVEL = option('log-level', 'info');
const PROFILE_DIR = option('profile', '') ? resolve(option('profile', '')) : null;
const KEEP = flag('keep');
const REDIS_SERVER = process.env.REDIS_SERVER ?? '/usr/bin/redis-server';
const CONNECT_PATH = '/websocket/bench';
const FIXTURE = join(__dirname, 'fixtures/drain-sender-plugin');
const BUFFER_FOLDER = './data/websocket-buffer';
const RECONNECT_TIMEOUT_SEC = 60;
/** How long the clients may take to receive their k messages, to see their close, and the process to exit */
const PHASE_TIMEOUT_MS = 60_000;
/** How long a replay may go without progress before the clients that miss messages are counted as they are */
const REPLAY_QUIET_MS = 5_000;

for (const store of STORES) {
    if (store !== 'file' && store !== 'redis') {
        throw new Error(`--stores: unknown store ${store} (file, redis)`);
    }
}

/** @type {Candidate} */
const CANDIDATE = {name: 'this', packageFolder: ROOT};

/** A loopback port that is free now */
const freePort = () => new Promise((resolvePort, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
        const address = server.address();
        server.close(() => resolvePort(typeof address === 'object' && address ? address.port : 0));
    });
});

/**
 * A redis-server of our own (Debian's package) on a free loopback port, without persistence, as the tests start it
 * (test/helpers/redis-server.ts)
 */
const startRedis = async () => {
    const port = await freePort();
    const folder = await fsp.mkdtemp(join(os.tmpdir(), 'mashroom-drain-redis-'));
    const child = spawn(REDIS_SERVER, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', folder],
        {stdio: ['ignore', 'pipe', 'pipe']});
    const exited = new Promise((done) => child.once('exit', done));
    await new Promise((done, reject) => {
        let output = '';
        const timer = setTimeout(() => reject(new Error(`redis-server did not start:\n${output}`)), 10_000);
        child.stdout.on('data', (chunk) => {
            output += String(chunk);
            if (output.includes('Ready to accept connections')) {
                clearTimeout(timer);
                done(undefined);
            }
        });
        child.once('exit', (code) => {
            clearTimeout(timer);
            reject(new Error(`redis-server exited with ${code}:\n${output}`));
        });
    });
    child.stdout.resume();
    child.stderr.resume();
    return {
        url: `redis://127.0.0.1:${port}`,
        stop: async () => {
            if (child.exitCode === null && child.signalCode === null) {
                child.kill('SIGKILL');
                await exited;
            }
            await fsp.rm(folder, {recursive: true, force: true});
        },
    };
};

/**
 * @typedef {{
 *   id: string, socket: WebSocket, silent: boolean,
 *   received: Array<number>, closeCode: number | null, closedAt: number | null,
 * }} Client
 *
 * received: the numbers of the fixture's messages in the order they came (duplicates included)
 */

/**
 * One client: resolves once its first message, which must be setClientId, has come. It answers pings until
 * `silent` is set (ws's autoPong is off)
 * @param {Server} server
 * @param {string | null} clientId to resume
 * @returns {Promise<Client>}
 */
const openClient = (server, clientId) => new Promise((resolveOpen, reject) => {
    const query = clientId ? `?clientId=${encodeURIComponent(clientId)}` : '';
    const socket = new WebSocket(`ws://127.0.0.1:${server.port}${CONNECT_PATH}${query}`, {headers: {cookie: server.cookie}, autoPong: false});
    /** @type {Client | null} */
    let client = null;
    socket.on('error', (error) => client ? undefined : reject(error));
    socket.once('unexpected-response', (_request, response) => reject(new Error(`HTTP ${response.statusCode}`)));
    socket.on('ping', (data) => {
        if (client && !client.silent) {
            socket.pong(data);
        }
    });
    socket.once('close', (code) => {
        if (client) {
            client.closeCode = code;
            client.closedAt = now();
        } else {
            reject(new Error(`closed (${code}) before its first message`));
        }
    });
    socket.on('message', (data) => {
        const text = String(data);
        if (!client) {
            const first = JSON.parse(text);
            if (first?.type !== 'setClientId' || typeof first.payload !== 'string') {
                reject(new Error(`The first message was not setClientId: ${text.slice(0, 100)}`));
                return;
            }
            client = {id: first.payload, socket, silent: false, received: [], closeCode: null, closedAt: null};
            resolveOpen(client);
        } else if (text.startsWith('{"drain":')) {
            client.received.push(JSON.parse(text).drain);
        }
    });
});

/**
 * The clients, at most `concurrency` connects in flight: new ones (ids null) or resumes of the given ids
 * @param {Server} server
 * @param {Array<string | null>} ids
 */
const connectAll = async (server, ids) => {
    /** @type {Array<Client>} */
    const clients = new Array(ids.length);
    let next = 0;
    let done = 0;
    const start = now();
    const worker = async () => {
        while (next < ids.length) {
            const index = next++;
            clients[index] = await openClient(server, ids[index]);
            done++;
        }
    };
    try {
        await Promise.all(Array.from({length: Math.min(CONCURRENCY, ids.length)}, worker));
    } catch (error) {
        clients.forEach((client) => client?.socket.terminate());
        throw new Error(`A client failed after ${done} of ${ids.length}: ${error instanceof Error ? error.message : String(error)}`);
    }
    return {clients, ms: now() - start};
};

/**
 * Resolves once the condition holds, or when `timeoutMs` passed (to false)
 * @param {() => boolean} condition
 * @param {number} timeoutMs
 */
const until = async (condition, timeoutMs) => {
    const deadline = now() + timeoutMs;
    while (!condition()) {
        if (now() > deadline) {
            return false;
        }
        await sleep(5);
    }
    return true;
};

/** Text without the ANSI colors of log4js's colored console layout */
const plain = (/** @type {string} */ text) => text.replace(/\x1b\[[0-9;]*m/g, '');

/**
 * The part of a CPU profile (--cpu-prof) from `fromMicros` (monotonic clock, as process.hrtime) on
 * @param {{startTime: number, endTime: number, samples: Array<number>, timeDeltas: Array<number>}} profile
 * @param {number} fromMicros
 */
const profileFrom = (profile, fromMicros) => {
    /** @type {Array<number>} */
    const samples = [];
    /** @type {Array<number>} */
    const timeDeltas = [];
    let time = profile.startTime;
    let last = fromMicros;
    profile.samples.forEach((sample, index) => {
        time += profile.timeDeltas[index];
        if (time >= fromMicros) {
            samples.push(sample);
            timeDeltas.push(time - last);
            last = time;
        }
    });
    return {...profile, startTime: fromMicros, samples, timeDeltas};
};

/**
 * Who got what, of k messages each
 * @param {Array<Client>} clients
 */
const tally = (clients) => {
    let distinct = 0;
    let duplicates = 0;
    let outOfOrder = 0;
    let complete = 0;
    for (const client of clients) {
        const seen = new Set();
        let highest = -1;
        for (const n of client.received) {
            if (seen.has(n)) {
                duplicates++;
            } else {
                seen.add(n);
                if (n !== highest + 1) {
                    outOfOrder++;
                }
            }
            highest = Math.max(highest, n);
        }
        distinct += seen.size;
        complete += seen.size === K ? 1 : 0;
    }
    return {distinct, duplicates, outOfOrder, complete};
};

/**
 * One measurement: N clients, SIGTERM, and the resume on the next server
 * @param {'file' | 'redis'} store
 * @param {number} n
 * @param {number} round
 */
const measure = async (store, n, round) => {
    const redis = store === 'redis' ? await startRedis() : null;
    /** @type {Array<string>} */
    const roots = [];
    /** @type {Array<Server>} */
    const servers = [];
    /** @type {Array<Client>} */
    let clients = [];
    const profileDir = PROFILE_DIR ? await fsp.mkdtemp(join(os.tmpdir(), 'mashroom-drain-prof-')) : null;
    const newRoot = async () => {
        const root = await fsp.mkdtemp(join(os.tmpdir(), `mashroom-drain-${store}-`));
        roots.push(root);
        return root;
    };
    const websocket = {
        ...(redis ? {reconnectMessageBufferRedis: {url: redis.url, keyPrefix: 'mashroom:websocket:'}} : {reconnectMessageBufferFolder: BUFFER_FOLDER}),
        reconnectTimeoutSec: RECONNECT_TIMEOUT_SEC,
        maxConnections: 1_000_000,
        maxConnectionsPerUser: null,
    };
    /**
     * @param {string} root
     * @param {number} number
     * @param {Array<string>} nodeArgs
     */
    const start = async (root, number, nodeArgs) => {
        const server = await startServer(CANDIDATE, {
            root, logLevel: LOG_LEVEL, title: `Mashroom drain benchmark, ${store} store`, websocket, extraPluginFolders: [FIXTURE],
            outFile: `server-${number}.out`, nodeArgs,
            // The drain starts at once on SIGTERM, as with Mashroom's launcher without WAIT_BEFORE_SERVER_CLOSE
            env: {WAIT_BEFORE_SERVER_CLOSE: ''},
        });
        servers.push(server);
        return server;
    };
    try {
        const first = await start(await newRoot(), 1, profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, '--cpu-prof-interval=100'] : []);
        const connected = await connectAll(first, new Array(n).fill(null));
        clients = connected.clients;

        // From their request on the clients do not answer pings: all k messages stay unacknowledged
        for (const client of clients) {
            client.silent = true;
            client.socket.send(JSON.stringify({fill: K}));
        }
        if (!await until(() => clients.every((client) => client.received.length >= K), PHASE_TIMEOUT_MS)) {
            throw new Error(`Not every client received its ${K} messages within ${PHASE_TIMEOUT_MS / 1000}s: ${tally(clients).distinct} of ${n * K}`);
        }
        const closedEarly = clients.filter((client) => client.closeCode !== null).length;
        const filled = tally(clients);

        // The drain
        const outputBefore = first.output().length;
        const signalAt = now();
        const signalMicros = Number(process.hrtime.bigint() / 1000n);
        first.kill('SIGTERM');
        const allClosed = await until(() => clients.every((client) => client.closedAt !== null), PHASE_TIMEOUT_MS);
        const closedMs = allClosed ? Math.max(...clients.map((client) => client.closedAt ?? 0)) - signalAt : null;
        /** @type {Record<string, number>} */
        const closeCodes = {};
        for (const client of clients) {
            const code = String(client.closeCode ?? 'open');
            closeCodes[code] = (closeCodes[code] ?? 0) + 1;
        }
        const exit = await Promise.race([first.exited, sleep(PHASE_TIMEOUT_MS).then(() => null)]);
        if (!exit) {
            first.kill('SIGKILL');
        }
        const exitMs = exit ? exit.at - signalAt : null;
        const log = plain(first.output().slice(outputBefore));
        const drained = /Drained (\d+) client\(s\) into (.+?) in (\d+) ms/.exec(log);
        const notStored = log.split('\n').filter((line) => line.includes('were not stored within'));
        const problems = log.split('\n').filter((line) => /\b(ERROR|WARN)\b/.test(line)).slice(0, 10);

        /** @type {string | null} */
        let profileFile = null;
        if (profileDir && PROFILE_DIR) {
            const written = (await fsp.readdir(profileDir)).filter((file) => file.endsWith('.cpuprofile'));
            if (written.length === 1) {
                const profile = JSON.parse(await fsp.readFile(join(profileDir, written[0]), 'utf8'));
                profileFile = join(PROFILE_DIR, `${store}-N${n}-r${round + 1}.cpuprofile`);
                await fsp.writeFile(profileFile, JSON.stringify(profileFrom(profile, signalMicros)));
            }
        }

        // The resume on the next server
        const ids = clients.map((client) => client.id);
        clients.forEach((client) => client.socket.terminate());
        const second = await start(store === 'file' ? roots[0] : await newRoot(), 2, []);
        const restored = /(\d+) client\(s\) drained by the previous process can resume/.exec(plain(second.output()));
        const resumedAt = now();
        const reconnected = await connectAll(second, ids);
        clients = reconnected.clients;
        const resumed = clients.filter((client, index) => client.id === ids[index]).length;
        // Until every resumed client has its k messages, or nothing more comes for a while
        let progress = -1;
        let quietSince = now();
        for (;;) {
            const count = clients.reduce((sum, client) => sum + client.received.length, 0);
            if (clients.every((client, index) => client.id !== ids[index] || new Set(client.received).size >= K)) {
                break;
            }
            if (count !== progress) {
                progress = count;
                quietSince = now();
            } else if (now() - quietSince > REPLAY_QUIET_MS) {
                break;
            }
            await sleep(20);
        }
        const replayMs = now() - resumedAt;
        const replayed = tally(clients);

        return {
            store, n, k: K, round: round + 1,
            connectMs: connected.ms,
            received: filled.distinct, closedBeforeSignal: closedEarly,
            drainMs: drained ? Number(drained[3]) : null,
            drainedCount: drained ? Number(drained[1]) : null,
            drainedInto: drained ? drained[2] : null,
            signalToAllClosedMs: closedMs,
            signalToExitMs: exitMs,
            exit: exit ? {code: exit.code, signal: exit.signal} : 'killed',
            closeCodes,
            notStoredInTime: notStored,
            problems,
            restoredByNextServer: restored ? Number(restored[1]) : null,
            resumed,
            replayed: replayed.distinct, expected: n * K,
            completeClients: replayed.complete,
            duplicates: replayed.duplicates, outOfOrder: replayed.outOfOrder,
            reconnectAndReplayMs: replayMs,
            profile: profileFile,
        };
    } finally {
        clients.forEach((client) => client.socket.terminate());
        for (const server of servers) {
            await server.stop();
        }
        await redis?.stop();
        if (!KEEP) {
            await Promise.all(roots.map((root) => fsp.rm(root, {recursive: true, force: true})));
        } else if (roots.length > 0) {
            process.stdout.write(`  (kept ${roots.join(', ')})\n`);
        }
        if (profileDir) {
            await fsp.rm(profileDir, {recursive: true, force: true});
        }
    }
};

const format = (/** @type {number | null} */ value) => (value === null ? '-' : value.toFixed(0));

const main = async () => {
    if (!fs.existsSync(join(ROOT, 'dist/webapp/mashroom-bootstrap-webapp.js'))) {
        throw new Error('dist/ is missing: run npm run build first');
    }
    if (STORES.includes('redis') && !fs.existsSync(REDIS_SERVER)) {
        throw new Error(`${REDIS_SERVER} is missing (apt-get install redis-server, or REDIS_SERVER=<path>; or --stores file)`);
    }
    if (PROFILE_DIR) {
        await fsp.mkdir(PROFILE_DIR, {recursive: true});
    }
    const startedAt = new Date();
    process.stdout.write(`Drain on SIGTERM: this package only. The original 2.7.1 is not measured: it has no drain (its clients are cut off, and after a restart they are reset: a fresh id, what they had not received is lost).\n`);
    process.stdout.write(`Stores ${STORES.join(', ')}; N = ${SIZES.join(', ')}; k = ${K} unacknowledged messages of about 200 bytes per client; ${ROUNDS} round(s); ${CONCURRENCY} connects in flight; log level ${LOG_LEVEL}${PROFILE_DIR ? `; profiles in ${PROFILE_DIR}` : ''}\n`);

    /** @type {Array<Awaited<ReturnType<typeof measure>>>} */
    const results = [];
    for (let round = 0; round < ROUNDS; round++) {
        for (const store of STORES) {
            for (const n of SIZES) {
                const result = await measure(store, n, round);
                results.push(result);
                process.stdout.write(`round ${round + 1}, ${store}, N = ${n}: drain ${format(result.drainMs)} ms (server), all closed ${format(result.signalToAllClosedMs)} ms, exit ${format(result.signalToExitMs)} ms, resumed ${result.resumed}/${n}, replayed ${result.replayed}/${result.expected}\n`);
                for (const line of result.notStoredInTime) {
                    process.stdout.write(`  ! ${line.trim()}\n`);
                }
            }
        }
    }

    const columns = /** @type {const} */ ([
        ['store', 7], ['N', 6], ['round', 6], ['drain ms', 10], ['→closed ms', 12], ['→exit ms', 10], ['drained', 9],
        ['close codes', 16], ['not stored', 11], ['resumed', 13], ['replayed/expected', 19], ['dup', 6],
    ]);
    process.stdout.write(`\nDrain on SIGTERM (drain ms: the server's own figure; →closed, →exit: from the signal until every client saw its close, until the process exited)\n`);
    process.stdout.write(`${columns.map(([title, width], index) => (index === 0 ? title.padEnd(width) : title.padStart(width))).join('')}\n`);
    for (const result of results) {
        const cells = [
            result.store, String(result.n), String(result.round), format(result.drainMs), format(result.signalToAllClosedMs),
            format(result.signalToExitMs), result.drainedCount === null ? '-' : String(result.drainedCount),
            Object.entries(result.closeCodes).map(([code, count]) => `${code}×${count}`).join(' '),
            String(result.notStoredInTime.length), `${result.resumed}/${result.n}`, `${result.replayed}/${result.expected}`, String(result.duplicates),
        ];
        process.stdout.write(`${cells.map((cell, index) => (index === 0 ? cell.padEnd(columns[index][1]) : cell.padStart(columns[index][1]))).join('')}\n`);
    }
    const problems = results.filter((result) => result.problems.length > 0 || result.closedBeforeSignal > 0 || result.outOfOrder > 0 || result.exit === 'killed');
    for (const result of problems) {
        process.stdout.write(`\n${result.store}, N = ${result.n}, round ${result.round}: ${result.closedBeforeSignal} client(s) closed before the signal, ${result.outOfOrder} message(s) out of order, exit ${JSON.stringify(result.exit)}\n`);
        result.problems.forEach((line) => process.stdout.write(`  ${line.trim().slice(0, 300)}\n`));
    }

    if (!flag('no-json')) {
        const folder = join(ROOT, 'bench-results');
        fs.mkdirSync(folder, {recursive: true});
        const file = join(folder, `drain-${startedAt.toISOString().replace(/[:.]/g, '-')}.json`);
        fs.writeFileSync(file, JSON.stringify({
            machine: {cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, memory: os.totalmem(), node: process.version, platform: `${os.platform()} ${os.release()}`},
            settings: {sizes: SIZES, k: K, stores: STORES, rounds: ROUNDS, concurrency: CONCURRENCY, logLevel: LOG_LEVEL, profiled: PROFILE_DIR !== null, reconnectTimeoutSec: RECONNECT_TIMEOUT_SEC},
            note: 'The original 2.7.1 is not measured: it has no drain (its clients are reset on a restart)',
            results,
        }, null, 2));
        process.stdout.write(`\nWritten to ${file}\n`);
    }
};

main().catch((error) => {
    process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
});
