// @ts-check
'use strict';

/*
 * The three servers the benchmark compares, each behind a plain HTTP server on loopback, with the same
 * minimal stand-in for Mashroom (a session middleware and security service that read the user from a cookie,
 * no-op logging) and the same work: admit authenticated upgrades, keep the clients by path, send each new
 * client an id, answer messages on /echo, and fan messages out to all clients of a path.
 */

const {createServer} = require('http');
const {mkdtempSync} = require('fs');
const {tmpdir} = require('os');
const {basename, join, resolve} = require('path');
const {WebSocketServer} = require('ws');

const PATH = '/websocket';

/** @typedef {{username: string; displayName: string | null; email: null; pictureUrl: null; extraData: null; roles: Array<string>; secrets: null}} BenchUser */

/** One user object per name, shared by its connections, as a session store with an in-memory cache would */
/** @type {Map<string, BenchUser>} */
const users = new Map();
/** @param {string | undefined} cookie */
const userOf = (cookie) => {
    const match = /(?:^|;\s*)user=([^;]+)/.exec(cookie ?? '');
    if (!match) {
        return null;
    }
    let user = users.get(match[1]);
    if (user === undefined) {
        user = {username: match[1], displayName: null, email: null, pictureUrl: null, extraData: null, roles: ['Authenticated'], secrets: null};
        users.set(match[1], user);
    }
    return user;
};

/** @type {any} */
const silentLogger = {
    debug() {}, info() {}, warn() {}, error() {},
    addContext() {}, withContext: () => silentLogger, getContext: () => ({}),
};
const loggerFactory = Object.assign(() => silentLogger, {bindToContext: () => loggerFactory});

/** @returns {any} */
const pluginContext = () => {
    const context = {
        serverInfo: {version: 'bench', devMode: false},
        serverConfig: {serverRootFolder: mkdtempSync(join(tmpdir(), 'mashroom-websocket-bench-'))},
        loggerFactory,
        services: {
            core: {
                pluginService: {onUnloadOnce() {}, onLoadedOnce() {}, getPlugins: () => []},
                middlewareStackService: {
                    has: () => true,
                    /** @param {string} name @param {any} request */
                    apply: async (name, request) => {
                        request.session = {user: userOf(request.headers.cookie)};
                    },
                },
            },
            security: {service: {getUser: (/** @type {any} */ request) => request.session?.user ?? null}},
        },
    };
    return {getPluginContext: () => context};
};

/**
 * @typedef {{
 *   httpServer: import('http').Server;
 *   fanOut(path: string, message: unknown): Promise<void>;
 *   fanOutBurst(path: string, messages: Array<unknown>): void;
 *   clientCount(): number;
 *   storm?: StormSupport;
 * }} Candidate
 */

/**
 * What the storm workload needs of a server with a reconnect buffer (the plugins; a bare ws server has none)
 * @typedef {{
 *   waiting(path: string): number;
 *   sendEach(path: string, messages: Array<unknown>): Promise<void>;
 *   closeAll(path: string): void;
 * }} StormSupport
 */

/**
 * Whether a client of either plugin waits for a resume: ours says so in its state, the original keeps the timer of
 * its reconnect window on the client object
 * @param {any} client
 */
const isWaiting = (client) => client.state === 'waiting' || Boolean(client.reconnecting);

/**
 * A Mashroom WebSocket plugin package (this one or the original), bootstrapped as Mashroom does it; `buffered`:
 * with the reconnect buffer in a folder (for the storm)
 * @param {string} packageRoot
 * @param {boolean} buffered
 * @returns {Promise<Candidate>}
 */
const pluginCandidate = async (packageRoot, buffered) => {
    const packageJson = require(join(packageRoot, 'package.json'));
    const [webappPlugin, servicesPlugin] = packageJson.mashroom.plugins;
    const holder = pluginContext();
    const config = {
        ...webappPlugin.defaultConfig, enableKeepAlive: false, maxConnections: 1_000_000, maxConnectionsPerUser: null, maxMessageSizeBytes: 1048576,
        // The echo actors send thousands of messages per second: the limit is checked, never reached
        incomingMessagesPerSec: 1e9, incomingMessagesBurst: 1e9,
        ...(buffered ? {reconnectMessageBufferFolder: join(holder.getPluginContext().serverConfig.serverRootFolder, 'buffer'), reconnectTimeoutSec: 300} : {}),
    };
    const requireDefault = (/** @type {string} */ file) => {
        const loaded = require(resolve(packageRoot, file));
        return loaded.default ?? loaded;
    };
    const {expressApp, upgradeHandler} = await requireDefault(webappPlugin.bootstrap)(webappPlugin.name, config, holder);
    const {service} = await requireDefault(servicesPlugin.bootstrap)(servicesPlugin.name, {}, holder);
    holder.getPluginContext().services.websocket = {service};

    /** @type {(message: any, client: any) => void} */
    const echo = (message, client) => {
        service.sendMessage(client, {echo: message}).catch(() => undefined);
    };
    service.addMessageListener((/** @type {string} */ connectPath) => connectPath === '/echo', echo);

    const httpServer = createServer(expressApp);
    httpServer.on('upgrade', (request, socket, head) => {
        /** @type {any} */ (request).pluginContext = holder.getPluginContext();
        upgradeHandler(request, socket, head);
    });
    return {
        httpServer,
        fanOut: async (path, message) => {
            await Promise.all(service.getClientsOnPath(path).map((/** @type {any} */ client) => service.sendMessage(client, message)));
        },
        fanOutBurst: (path, messages) => {
            for (const message of messages) {
                for (const client of service.getClientsOnPath(path)) {
                    // Fire and forget, as the bare ws server's ws.send(). A handler per call would put the caller's
                    // promise per message into the measured loop, K × N of them alive until it ends. A rejection
                    // still ends the run: Node ends the process on an unhandled rejection
                    void service.sendMessage(client, message);
                }
            }
        },
        clientCount: () => service.getClientCount(),
        storm: {
            waiting: (path) => service.getClientsOnPath(path).filter(isWaiting).length,
            // One client's messages in order, the clients side by side
            sendEach: async (path, messages) => {
                await Promise.all(service.getClientsOnPath(path).map(async (/** @type {any} */ client) => {
                    for (const message of messages) {
                        await service.sendMessage(client, message);
                    }
                }));
            },
            closeAll: (path) => service.getClientsOnPath(path).forEach((/** @type {any} */ client) => service.close(client)),
        },
    };
};

/**
 * The floor: a bare ws server doing the same work with nothing in between
 * @returns {Promise<Candidate>}
 */
const bareCandidate = async () => {
    const wss = new WebSocketServer({noServer: true, maxPayload: 1048576});
    /** @type {Map<string, Set<import('ws').WebSocket>>} */
    const byPath = new Map();
    let nextId = 0;
    const httpServer = createServer((request, response) => response.end());
    httpServer.on('upgrade', (request, socket, head) => {
        const user = userOf(request.headers.cookie);
        if (!user) {
            socket.end('HTTP/1.1 403 Forbidden\r\n\r\n');
            return;
        }
        const connectPath = (request.url ?? '').split('?')[0].slice(PATH.length);
        wss.handleUpgrade(request, socket, head, (ws) => {
            let clients = byPath.get(connectPath);
            if (!clients) {
                clients = new Set();
                byPath.set(connectPath, clients);
            }
            clients.add(ws);
            ws.send(JSON.stringify({type: 'setClientId', payload: String(nextId++)}));
            ws.on('message', (data) => {
                if (connectPath === '/echo') {
                    ws.send(JSON.stringify({echo: JSON.parse(data.toString())}));
                }
            });
            ws.on('close', () => clients?.delete(ws));
        });
    });
    return {
        httpServer,
        fanOut: async (path, message) => {
            const data = JSON.stringify(message);
            await Promise.all(Array.from(byPath.get(path) ?? [], (ws) => new Promise((done) => ws.send(data, done))));
        },
        fanOutBurst: (path, messages) => {
            for (const message of messages) {
                const data = JSON.stringify(message);
                for (const ws of byPath.get(path) ?? []) {
                    ws.send(data);
                }
            }
        },
        clientCount: () => Array.from(byPath.values()).reduce((sum, clients) => sum + clients.size, 0),
    };
};

/** @type {Record<string, (buffered: boolean) => Promise<Candidate>>} */
const CANDIDATES = {
    'this': (buffered) => pluginCandidate(resolve(__dirname, '..'), buffered),
    'original': (buffered) => pluginCandidate(resolve(__dirname, '../node_modules/mashroom-websocket-original'), buffered),
    'bare ws': bareCandidate,
};
// BENCH_ALSO=<folder>[,<folder>...]: other builds of this package (worktrees of other commits, built) as more
// candidates, named after their folders
for (const folder of (process.env.BENCH_ALSO ?? '').split(',').filter(Boolean)) {
    const name = basename(resolve(folder));
    if (name in CANDIDATES) {
        throw new Error(`BENCH_ALSO: a candidate is already named ${name}; give the folder another name`);
    }
    CANDIDATES[name] = (buffered) => pluginCandidate(resolve(folder), buffered);
}

module.exports = {CANDIDATES, PATH};
