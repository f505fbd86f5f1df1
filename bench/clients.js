// @ts-check
'use strict';

/*
 * The load generator process: holds the benchmark's WebSocket clients, so that they do not share the
 * server's event loop, and reports to the coordinator over IPC.
 */

const {performance} = require('perf_hooks');
const WebSocket = require('ws');

const now = () => performance.timeOrigin + performance.now();

/** @param {unknown} message */
const reply = (message) => {
    if (process.send) {
        process.send(message);
    }
};

/** @typedef {WebSocket & {received?: number, group?: string}} Client */

/** The clients by group: those of one server each, when several run side by side */
/** @type {Map<string, Array<Client>>} */
let groups = new Map();
// The group whose clients must each receive `target` frames, and how many of them have
let activeGroup = '';
let target = 0;
let complete = 0;
/** @type {((at: number) => void) | null} */
let onAllComplete = null;

/** Counts frames only; parsing them would measure the generator, not the server */
/** @this {Client} */
function countFrame() {
    this.received = (this.received ?? 0) + 1;
    if (this.received === target && this.group === activeGroup) {
        complete++;
        if (complete === groups.get(activeGroup)?.length && onAllComplete) {
            const done = onAllComplete;
            onAllComplete = null;
            done(now());
        }
    }
}

/**
 * @param {string} url
 * @param {string} cookie
 * @returns {Promise<WebSocket>}
 */
const open = (url, cookie) => new Promise((resolve, reject) => {
    const socket = new WebSocket(url, {headers: {cookie}});
    socket.once('message', () => resolve(socket));
    socket.once('error', reject);
    socket.once('unexpected-response', (request, response) => reject(new Error(`HTTP ${response.statusCode}`)));
});

/**
 * @param {string} url
 * @param {number} count
 * @param {number} concurrency
 * @param {string} group
 */
const connectAll = async (url, count, concurrency, group) => {
    let next = 0;
    const members = groups.get(group) ?? [];
    groups.set(group, members);
    const worker = async () => {
        while (next < count) {
            const index = next++;
            const socket = /** @type {Client} */ (await open(url, `user=user${index % 100}`));
            socket.group = group;
            socket.on('message', countFrame);
            members.push(socket);
        }
    };
    await Promise.all(Array.from({length: concurrency}, worker));
};

/** The clients of the next echo run, opened beforehand so that the server's CPU time for the run leaves out
 * their connecting (and that of the previous run's closing) */
/** @type {Array<WebSocket>} */
let echoSockets = [];

/**
 * Open the clients of the next echo run, closing those of the last
 * @param {string} url
 * @param {number} actors
 */
const openEcho = async (url, actors) => {
    echoSockets.forEach((socket) => socket.terminate());
    echoSockets = await Promise.all(Array.from({length: actors}, (_, index) => open(url, `user=echo${index}`)));
};

/**
 * The echo clients opened last, each doing round trips one after the other
 * @param {number} roundTrips
 */
const echo = async (roundTrips) => {
    const sockets = echoSockets;
    /** @type {Array<number>} */
    const latencies = [];
    const start = now();
    await Promise.all(sockets.map(async (socket) => {
        for (let n = 0; n < roundTrips; n++) {
            const sent = now();
            await new Promise((resolve) => {
                socket.once('message', resolve);
                socket.send(JSON.stringify({n, text: 'ping'}));
            });
            latencies.push(now() - sent);
        }
    }));
    const elapsedMs = now() - start;
    latencies.sort((a, b) => a - b);
    return {
        p50: latencies[Math.floor(latencies.length * 0.5)],
        p99: latencies[Math.floor(latencies.length * 0.99)],
        perSecond: latencies.length / (elapsedMs / 1000),
    };
};

/**
 * The storm: clients that know their id, dropped all at once, then resuming all at once
 * @typedef {{cookie: string, id: string, socket: WebSocket | null, resumed: boolean, received: number}} StormClient
 */
/** @type {Array<StormClient>} */
let storm = [];

/**
 * Open one socket and resolve with it and its client id, from the server's setClientId; every later message goes to
 * `onLater` from the start (ws may emit the frames of one read at once, before a promise settles). The original
 * sends no setClientId when it resumes a client: the first message is already a buffered one, of `resumeId`
 * @param {string} url
 * @param {string} cookie
 * @param {string} resumeId
 * @param {(id: string) => void} onLater
 * @returns {Promise<{socket: WebSocket, id: string}>}
 */
const openWithId = (url, cookie, resumeId = '', onLater = () => undefined) => new Promise((resolve, reject) => {
    const socket = new WebSocket(url, {headers: {cookie}});
    let id = /** @type {string | null} */ (null);
    socket.on('message', (data) => {
        if (id !== null) {
            onLater(id);
            return;
        }
        const frame = JSON.parse(data.toString());
        id = frame.type === 'setClientId' ? String(frame.payload) : resumeId;
        resolve({socket, id});
        if (frame.type !== 'setClientId') {
            onLater(id);
        }
    });
    socket.once('error', reject);
    socket.once('unexpected-response', (request, response) => reject(new Error(`HTTP ${response.statusCode}`)));
});

/**
 * Run `task` for 0..count-1 with at most `concurrency` in flight
 * @param {number} count @param {number} concurrency @param {(index: number) => Promise<void>} task
 */
const inFlight = async (count, concurrency, task) => {
    let next = 0;
    await Promise.all(Array.from({length: Math.min(concurrency, count)}, async () => {
        while (next < count) {
            await task(next++);
        }
    }));
};

/**
 * Every storm client reconnects with its id; resolves when each has its id and `perClient` messages (the buffered
 * ones), and calls `onLive` when each has one more (the first live one)
 * @param {string} url @param {number} concurrency @param {number} perClient @param {(at: number) => void} onLive
 */
const stormResume = async (url, concurrency, perClient, onLive) => {
    let live = 0;
    /** @type {(at: number) => void} */
    let allBuffered = () => undefined;
    const buffered = new Promise((resolve) => {
        allBuffered = resolve;
    });
    let complete = 0;
    const start = now();
    await inFlight(storm.length, concurrency, async (index) => {
        const client = storm[index];
        client.received = 0;
        // A client that was not resumed gets a fresh id and none of its buffered messages: it is complete at once
        const expected = (/** @type {string} */ id) => (id === client.id ? perClient : 0);
        const completed = () => {
            if (++complete === storm.length) {
                allBuffered(now());
            }
        };
        const {socket, id} = await openWithId(`${url}?clientId=${client.id}`, client.cookie, client.id, (ownId) => {
            client.received++;
            if (client.received === expected(ownId)) {
                completed();
            } else if (client.received === expected(ownId) + 1 && ++live === storm.length) {
                onLive(now());
            }
        });
        client.socket = socket;
        client.resumed = id === client.id;
        if (expected(id) === 0) {
            completed();
        }
    });
    const at = /** @type {number} */ (await Promise.race([buffered, new Promise((resolve) => setTimeout(() => resolve(NaN), 60_000))]));
    return {
        start,
        bufferedAt: at,
        resumed: storm.filter((client) => client.resumed).length,
        messages: storm.reduce((sum, client) => sum + (client.resumed ? Math.min(client.received, perClient) : 0), 0),
    };
};

process.on('message', async (/** @type {any} */ command) => {
    try {
        switch (command.cmd) {
            case 'connect': {
                const start = now();
                await connectAll(command.url, command.count, command.concurrency, command.group ?? '');
                reply({id: command.id, ms: now() - start});
                break;
            }
            case 'expect': {
                // Count afresh: every client of the group must now receive `perClient` frames
                activeGroup = command.group ?? '';
                groups.get(activeGroup)?.forEach((socket) => {
                    socket.received = 0;
                });
                target = command.perClient;
                complete = 0;
                onAllComplete = (at) => reply({id: command.doneId, at});
                reply({id: command.id});
                break;
            }
            case 'stormConnect': {
                storm = Array.from({length: command.count}, (_, index) => ({cookie: `user=storm${index % 100}`, id: '', socket: null, resumed: false, received: 0}));
                await inFlight(command.count, command.concurrency, async (index) => {
                    const {socket, id} = await openWithId(command.url, storm[index].cookie);
                    Object.assign(storm[index], {socket, id});
                });
                reply({id: command.id});
                break;
            }
            case 'stormDrop':
                storm.forEach((client) => client.socket?.terminate());
                reply({id: command.id});
                break;
            case 'stormResume': {
                const result = await stormResume(command.url, command.concurrency, command.perClient, (at) => reply({id: command.liveId, at}));
                reply({id: command.id, ...result});
                break;
            }
            case 'stormClose':
                storm.forEach((client) => client.socket?.terminate());
                storm = [];
                reply({id: command.id});
                break;
            case 'echoOpen':
                await openEcho(command.url, command.actors);
                reply({id: command.id});
                break;
            case 'echo':
                reply({id: command.id, ...await echo(command.roundTrips)});
                break;
            case 'close':
                groups.forEach((members) => members.forEach((socket) => socket.terminate()));
                groups = new Map();
                echoSockets.forEach((socket) => socket.terminate());
                echoSockets = [];
                reply({id: command.id});
                break;
            case 'stop':
                process.exit(0);
                break;
            default:
                throw new Error(`Unknown command ${command.cmd}`);
        }
    } catch (error) {
        reply({id: command.id, error: String(error)});
    }
});

reply({ready: true});
