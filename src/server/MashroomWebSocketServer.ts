import type {IncomingMessage} from 'http';
import type {Duplex} from 'stream';
import WebSocket, {WebSocketServer} from 'ws';
import type {ServerOptions} from 'ws';
import type {MashroomLogger, MashroomLoggerFactory} from '@mashroom/mashroom/type-definitions';
import type {MashroomSecurityUser} from '@mashroom/mashroom-security/type-definitions';
import type {
    MashroomWebSocketClient,
    MashroomWebSocketDisconnectListener,
    MashroomWebSocketMatcher,
    MashroomWebSocketMessageListener,
} from '../../type-definitions';
import {BufferBudget} from '../buffer/BufferBudget';
import {BufferClaimedError} from '../buffer/ReconnectBufferStore';
import type {ReconnectBufferStore} from '../buffer/ReconnectBufferStore';
import {newClientId} from './client-id';
import {ClientRegistry} from './ClientRegistry';
import {parseIncomingFrame} from './incoming-frame';
import {AckScheduler} from './AckScheduler';
import {DELIVERY_PROTOCOL, parseClientEnvelope} from './delivery-protocol';
import {ListenerRegistry} from './ListenerRegistry';
import {CLOSE_TRY_AGAIN_LATER, ClientGoneError, ServerClient} from './ServerClient';
import type {ClientHost} from './ServerClient';
import {serializeMessage} from './message-serializer';
import {TurnBatcher, isOpen} from './turn-batcher';

export type WebSocketServerOptions = {
    /** The base path clients connect below; reported by the service as `basePath` */
    readonly basePath: string;
    /** Upper bound of clients at once, those waiting for a reconnect included */
    readonly maxConnections: number;
    /** Upper bound of clients of one user, or null */
    readonly maxConnectionsPerUser: number | null;
    /** Largest incoming message; a larger one closes the connection with 1009 */
    readonly maxMessageSizeBytes: number;
    /** Backlog of unsent bytes beyond which a client counts as too slow and is closed with 1013 */
    readonly maxUnsentBytesPerClient: number;
    /** Largest reconnect buffer of one client */
    readonly reconnectBufferMaxBytes: number;
    /** What all reconnect buffers together may take */
    readonly reconnectBufferMaxTotalBytes: number;
    /** How long a dropped client may take to resume (only with a buffer store) */
    readonly reconnectTimeoutMs: number;
    /** Interval of the "keepalive" message, or null for none */
    readonly keepAliveIntervalMs: number | null;
    /** Interval of the ping that finds dead peers; a peer that has not answered the previous one is terminated */
    readonly pingIntervalMs: number;
    /** How long a closing connection may take to complete the closing handshake before it is cut off */
    readonly closeGraceMs: number;
    /** How soon after sending a client is pinged for an acknowledgement (with buffering on) */
    readonly ackDelayMs: number;
    /** How long a connection may take to answer when a second one wants to resume its client */
    readonly resumeProbeTimeoutMs: number;
    readonly loggerFactory: MashroomLoggerFactory;
};

/** Who is connecting and where, as established by the upgrade handler. */
export type ConnectRequest = {
    readonly connectPath: string;
    readonly user: MashroomSecurityUser;
    /** The `clientId` query parameter, already checked to be of our form */
    readonly requestedClientId: string | null;
    /** Logger context of the upgrade request (e.g. client IP); the client's adds username and clientId */
    readonly requestLoggerContext: Readonly<Record<string, unknown>>;
    /** A client of the delivery protocol on resume: the last message it has */
    readonly lastSeq: number | null;
};

export type UpgradeOutcome = 'upgraded' | 'full' | 'user-full' | 'stopped';

export const KEEP_ALIVE_MESSAGE = JSON.stringify('keepalive');
// Prepared once: a sweep over thousands of clients allocates nothing for the message itself
const KEEP_ALIVE_DATA = Buffer.from(KEEP_ALIVE_MESSAGE);
const TEXT_FRAME = {binary: false} as const;
export const CLOSE_NORMAL = 1000;
export const CLOSE_GOING_AWAY = 1001;

const kClient = Symbol('mashroom-websocket-client');
type TaggedSocket = WebSocket & {[kClient]?: ServerClient};

const requestsDeliveryProtocol = (request: IncomingMessage): boolean =>
    String(request.headers['sec-websocket-protocol'] ?? '').split(',').some((protocol) => protocol.trim() === DELIVERY_PROTOCOL);

/**
 * The one WebSocket server shared by the webapp plugin (which feeds it authenticated upgrades) and the
 * services plugin (which exposes it to other plugins). It owns the clients, the listeners, the keep-alive
 * and ping timers and the reconnect buffer, and releases all of them in dispose().
 */
export class MashroomWebSocketServer {

    private readonly logger: MashroomLogger;
    private readonly registry = new ClientRegistry<ServerClient>();
    private readonly listeners: ListenerRegistry;
    private readonly wss: WebSocketServer;
    private readonly host: ClientHost;
    // One set of socket handlers for all sockets; `this` inside is the socket
    private readonly socketHandlers: {
        readonly message: (this: TaggedSocket, data: WebSocket.RawData, isBinary: boolean) => void;
        readonly close: (this: TaggedSocket, code: number) => void;
        readonly pong: (this: TaggedSocket, data: Buffer) => void;
        readonly error: (this: TaggedSocket, error: Error) => void;
    };
    private readonly timers: Array<NodeJS.Timeout> = [];
    private readonly batcher = new TurnBatcher();
    private readonly acks: AckScheduler;
    private bufferStore: ReconnectBufferStore | null = null;
    private disposal: Promise<void> | null = null;

    constructor(private readonly options: WebSocketServerOptions) {
        this.logger = options.loggerFactory('mashroom.websocket.server');
        this.listeners = new ListenerRegistry((client) => this.contextLogger(client));
        this.acks = new AckScheduler(options.ackDelayMs);
        // closeTimeout exists since ws 8.19; @types/ws does not know it yet
        const serverOptions: ServerOptions & {closeTimeout: number} = {
            noServer: true,
            clientTracking: false,
            // Compression would make ws queue frames internally, which the write batching relies on it not doing
            // (see TurnBatcher, also for what ws writes by itself)
            perMessageDeflate: false,
            // ws refuses a larger frame (or fragmented message) from its header, before buffering it
            maxPayload: options.maxMessageSizeBytes,
            // Every close we start (close(), unload, too slow, buffer full) ends within this time
            closeTimeout: options.closeGraceMs,
            // The client library asks for the delivery protocol; everybody else gets plain messages
            handleProtocols: (protocols) => (protocols.has(DELIVERY_PROTOCOL) ? DELIVERY_PROTOCOL : false),
        };
        this.wss = new WebSocketServer(serverOptions);

        const server = this;
        this.socketHandlers = {
            message(data, isBinary) {
                server.onFrame(this, data, isBinary);
            },
            close(code) {
                server.onSocketClose(this, code);
            },
            pong(data) {
                const client = this[kClient];
                if (client && client.socket === this) {
                    client.pong(data);
                }
            },
            error(error) {
                server.onSocketError(this, error);
            },
        };
        this.host = {
            get bufferStore() {
                return server.bufferStore;
            },
            reconnectTimeoutMs: options.reconnectTimeoutMs,
            bufferMaxBytes: options.reconnectBufferMaxBytes,
            bufferBudget: new BufferBudget(options.reconnectBufferMaxTotalBytes),
            maxUnsentBytes: options.maxUnsentBytesPerClient,
            contextLogger: (client) => this.contextLogger(client),
            writes: this.batcher,
            reconnectWindowPassed: (client) => this.reconnectWindowPassed(client),
            bufferUnusable: (client, reason) => this.bufferUnusable(client, reason),
            ackWanted: (client) => this.acks.want(client),
        };

        if (options.keepAliveIntervalMs !== null) {
            this.startTimer(() => this.sendKeepAlive(), options.keepAliveIntervalMs);
        }
        this.startTimer(() => this.checkPeers(), options.pingIntervalMs);
    }

    get basePath(): string {
        return this.options.basePath;
    }

    get stopped(): boolean {
        return this.disposal !== null;
    }

    get bufferingEnabled(): boolean {
        return this.bufferStore !== null;
    }

    /** Switch reconnect buffering on; until then a dropped client is removed at once */
    useBufferStore(store: ReconnectBufferStore): void {
        this.bufferStore = store;
        store.onClaimedElsewhere((clientId) => this.claimedElsewhere(clientId));
    }

    /**
     * Whether an upgrade could be admitted right now, before knowing who asks: there is room, or it asks to
     * resume a client that is waiting for exactly that (the user is checked later)
     */
    mayAdmit(requestedClientId: string | null): boolean {
        if (this.stopped) {
            return false;
        }
        if (this.registry.size < this.options.maxConnections) {
            return true;
        }
        return requestedClientId !== null && this.registry.get(requestedClientId)?.state === 'waiting';
    }

    /**
     * Complete an authenticated upgrade: resume the requested client if the same user may, otherwise
     * create a new one if there is room. Synchronous from the capacity check to the registration, so
     * concurrent upgrades can never exceed maxConnections.
     */
    upgrade(request: IncomingMessage, socket: Duplex, head: Buffer, connect: ConnectRequest): UpgradeOutcome {
        if (this.stopped) {
            return 'stopped';
        }
        const sequenced = requestsDeliveryProtocol(request);
        const resumable = this.findResumable(connect, sequenced);
        // Not here, but it may wait on another node of the cluster
        const elsewhere = !resumable && connect.requestedClientId !== null && !this.registry.get(connect.requestedClientId) &&
            this.bufferStore?.shared === true && this.bufferStore.available;
        if (!resumable) {
            if (this.registry.size >= this.options.maxConnections) {
                return 'full';
            }
            if (!this.hasRoomFor(connect.user.username)) {
                return 'user-full';
            }
        }
        this.wss.handleUpgrade(request, socket, head, (webSocket) => {
            if (resumable?.state === 'waiting') {
                this.resumeClient(resumable, webSocket, connect);
            } else if (elsewhere && connect.requestedClientId) {
                this.resumeFromElsewhere(connect.requestedClientId, webSocket, connect, sequenced);
            } else if (resumable) {
                this.takeOver(resumable, webSocket, connect);
            } else {
                this.addClient(webSocket, connect);
            }
        });
        return 'upgraded';
    }

    addMessageListener(matcher: MashroomWebSocketMatcher, listener: MashroomWebSocketMessageListener): void {
        this.listeners.addMessageListener(matcher, listener);
    }

    removeMessageListener(matcher: MashroomWebSocketMatcher, listener: MashroomWebSocketMessageListener): void {
        this.listeners.removeMessageListener(matcher, listener);
    }

    addDisconnectListener(listener: MashroomWebSocketDisconnectListener): void {
        this.listeners.addDisconnectListener(listener);
    }

    removeDisconnectListener(listener: MashroomWebSocketDisconnectListener): void {
        this.listeners.removeDisconnectListener(listener);
    }

    sendMessage(client: MashroomWebSocketClient, message: unknown): Promise<void> {
        // Cheaper than a registry lookup, and the same: a client is registered exactly while it is not closed
        if (!(client instanceof ServerClient) || !client.isServedBy(this.host)) {
            return Promise.reject(new ClientGoneError(describeClient(client)));
        }
        let data: string;
        try {
            data = serializeMessage(message);
        } catch (error) {
            return Promise.reject(error);
        }
        return client.send(data);
    }

    getClientsOnPath(connectPath: string): Array<MashroomWebSocketClient> {
        return this.registry.onPath(connectPath);
    }

    getClientsOfUser(username: string): Array<MashroomWebSocketClient> {
        return this.registry.ofUser(username);
    }

    getClientCount(): number {
        return this.registry.size;
    }

    /** Close the client's connection (1000) and remove it at once; disconnect listeners are called once */
    close(client: MashroomWebSocketClient): void {
        if (!(client instanceof ServerClient) || !this.registry.has(client)) {
            this.logger.debug(`Ignoring close of unknown or already closed client ${describeClient(client)}`);
            return;
        }
        this.contextLogger(client).info(`Closing client ${client.clientId}`);
        client.close(CLOSE_NORMAL, 'Closed by server');
        this.forget(client);
    }

    /**
     * Close every client (1001), stop the timers, and resolve when all sockets are closed and all buffer
     * files of the clients deleted. Idempotent.
     */
    dispose(): Promise<void> {
        if (!this.disposal) {
            this.disposal = this.shutDown();
        }
        return this.disposal;
    }

    private async shutDown(): Promise<void> {
        this.timers.forEach((timer) => clearInterval(timer));
        this.timers.length = 0;
        this.acks.stop();
        const clients = Array.from(this.registry.values());
        this.logger.info(`Shutting down the WebSocket server, closing ${clients.length} client(s)`);
        const sockets: Array<WebSocket> = [];
        for (const client of clients) {
            if (client.socket) {
                sockets.push(client.socket);
            }
            client.close(CLOSE_GOING_AWAY, 'Server shutting down');
            this.forget(client);
        }
        // ws cuts off a peer that does not complete the close within closeTimeout
        await Promise.all(sockets.map(closed));
        await Promise.all(clients.map((client) => client.buffered()));
        this.listeners.clear();
        this.wss.close();
        if (this.bufferStore) {
            await this.bufferStore.close().catch((error: unknown) => this.logger.error('Releasing the reconnect buffer store failed', error));
        }
    }

    /** Room for one more client, overall and for the user */
    private hasRoomFor(username: string): boolean {
        const perUser = this.options.maxConnectionsPerUser;
        return this.registry.size < this.options.maxConnections && (perUser === null || this.registry.countOfUser(username) < perUser);
    }

    /**
     * The client the request may resume: same user, same connect path, same protocol. It may still be
     * connected (its connection lost without a trace, or a second tab with a copied id): see takeOver.
     */
    private findResumable(connect: ConnectRequest, sequenced: boolean): ServerClient | null {
        const {requestedClientId, user, connectPath} = connect;
        if (!requestedClientId) {
            return null;
        }
        const client = this.registry.get(requestedClientId);
        let refusal: string | null = null;
        if (!client) {
            if (this.bufferStore?.shared) {
                // Another node may have it: the claim decides
                return null;
            }
            refusal = 'it is unknown or its reconnect window has passed';
        } else if (client.user.username !== user.username) {
            refusal = 'it belongs to another user';
        } else if (client.connectPath !== connectPath) {
            refusal = `it was connected on ${client.connectPath}`;
        } else if (client.sequenced !== sequenced) {
            refusal = `it ${client.sequenced ? 'spoke' : 'did not speak'} the delivery protocol`;
        }
        if (refusal) {
            const level = client && client.user.username !== user.username ? 'warn' : 'info';
            this.logger[level](`User ${user.username} asked to resume client ${requestedClientId} on ${connectPath}, but ${refusal}: starting a new client`);
            return null;
        }
        return client ?? null;
    }

    private addClient(webSocket: WebSocket, connect: ConnectRequest): void {
        const clientId = newClientId();
        const loggerContext = {...connect.requestLoggerContext, username: connect.user.username, clientId};
        const client = new ServerClient(this.host, webSocket, connect.connectPath, connect.user, loggerContext, clientId, webSocket.protocol === DELIVERY_PROTOCOL);
        this.registry.add(client);
        this.attachSocket(webSocket, client);
        // A connection given up by a client that could not resume starts afresh: nothing of that client's may
        // follow on it (nothing is queued while a client resumes, so this only makes sure)
        this.batcher.discard(webSocket);
        webSocket.send(client.idFrame());
        this.contextLogger(client).info(`Client ${clientId} of user ${connect.user.username} connected on ${connect.connectPath || '/'} (${this.registry.size} client(s))`);
    }

    /**
     * The request names a client that dropped from another node: claim it from the shared store. The
     * client counts here from now on; if the claim fails (it is not there, or another node won), the
     * connection gets a new client, and nobody ever heard of this one.
     */
    private resumeFromElsewhere(clientId: string, webSocket: WebSocket, connect: ConnectRequest, sequenced: boolean): void {
        const loggerContext = {...connect.requestLoggerContext, username: connect.user.username, clientId};
        const client = new ServerClient(this.host, null, connect.connectPath, connect.user, loggerContext, clientId, sequenced);
        this.registry.add(client);
        this.resumeClient(client, webSocket, connect, true);
    }

    private resumeClient(client: ServerClient, webSocket: WebSocket, connect: ConnectRequest, fromElsewhere = false): void {
        this.attachSocket(webSocket, client);
        client.resume(webSocket, connect.lastSeq).then((outcome) => {
            if (outcome === 'resumed' && fromElsewhere) {
                this.contextLogger(client).info(`Client ${client.clientId} resumed here after it dropped from another node`);
            }
            // A client from elsewhere whose claim did not succeed never existed here, whatever became of its
            // connection (the one that resumes may be a second, which came while the claim of the first ran)
            const neverHere = client.unclaimed;
            if (outcome === 'lost' && (client.state === 'resuming' || (neverHere && client.state !== 'closed'))) {
                // No partial replay: give the old client up and serve the connection as a new one
                if (!neverHere) {
                    this.contextLogger(client).warn(`Client ${client.clientId} cannot resume (its reconnect buffer is incomplete or was claimed by another node, or it does not match what the client has): the connection gets a new client`);
                }
                const socket = client.release();
                this.forget(client, !neverHere);
                if (socket && !this.stopped) {
                    this.addClient(socket, connect);
                } else if (socket) {
                    this.batcher.discard(socket);
                    socket.close(CLOSE_GOING_AWAY, 'Server shutting down');
                }
            }
        }, (error: unknown) => {
            this.contextLogger(client).error(`Resuming client ${client.clientId} failed`, error);
        });
    }

    /**
     * A request wants to resume a client that still has a connection. If that connection does not answer a
     * ping in time it is gone (it died without a trace): cut it off and resume. If it answers, the client
     * is alive elsewhere (a second tab with a copied id): the request gets a new client.
     */
    private takeOver(client: ServerClient, webSocket: WebSocket, connect: ConnectRequest): void {
        // Listen for errors at once, but read nothing until it is clear whose messages these are
        this.attachSocket(webSocket, null);
        webSocket.pause();
        const probed = client.socket;
        client.probe(this.options.resumeProbeTimeoutMs).then((outcome) => {
            webSocket.resume();
            if (webSocket.readyState !== WebSocket.OPEN) {
                return;
            }
            if (this.stopped) {
                webSocket.close(CLOSE_GOING_AWAY, 'Server shutting down');
                return;
            }
            const logger = this.contextLogger(client);
            if (client.state === 'waiting') {
                this.resumeClient(client, webSocket, connect);
            } else if (outcome === 'gone' && client.socket === probed && this.registry.has(client)) {
                logger.info(`The connection of client ${client.clientId} did not answer a ping: it is taken over by the new one`);
                if (client.socketDropped()) {
                    this.resumeClient(client, webSocket, connect);
                } else {
                    this.forget(client);
                    this.addClient(webSocket, connect);
                }
                probed?.terminate();
            } else if (this.hasRoomFor(connect.user.username)) {
                logger.info(`Client ${client.clientId} is still connected (another tab with the same id?): the new connection gets a new client`);
                this.addClient(webSocket, connect);
            } else {
                logger.warn(`Client ${client.clientId} is still connected and there is no room for another client of user ${connect.user.username}: closing the new connection`);
                webSocket.close(CLOSE_TRY_AGAIN_LATER, 'Too many connections');
            }
        }, (error: unknown) => {
            this.contextLogger(client).error(`Taking over client ${client.clientId} failed`, error);
            webSocket.terminate();
        });
    }

    /** Attach the shared handlers once; a socket without client (yet) has its events ignored */
    private attachSocket(webSocket: TaggedSocket, client: ServerClient | null): void {
        if (!(kClient in webSocket)) {
            const handlers = this.socketHandlers;
            webSocket.on('message', handlers.message);
            webSocket.on('close', handlers.close);
            webSocket.on('pong', handlers.pong);
            webSocket.on('error', handlers.error);
        }
        webSocket[kClient] = client ?? undefined;
    }

    private onFrame(socket: TaggedSocket, data: WebSocket.RawData, isBinary: boolean): void {
        const client = socket[kClient];
        if (!client || client.socket !== socket) {
            return;
        }
        const frame = parseIncomingFrame(data, isBinary);
        if (!frame.ok) {
            this.contextLogger(client).warn(`Ignoring a frame of client ${client.clientId}: ${frame.problem}`);
            return;
        }
        let message = frame.message;
        if (client.sequenced) {
            const envelope = parseClientEnvelope(message);
            if (envelope.kind === 'ack') {
                client.acknowledgeSeq(envelope.seq);
                return;
            }
            if (envelope.kind === 'invalid') {
                this.contextLogger(client).warn(`Ignoring a frame of client ${client.clientId}: ${envelope.problem}`);
                return;
            }
            message = envelope.payload;
        }
        if (!this.listeners.dispatchMessage(message, client)) {
            this.contextLogger(client).warn(`No message listener takes the message of client ${client.clientId} on connect path ${client.connectPath || '/'}`);
        }
    }

    private onSocketClose(socket: TaggedSocket, code: number): void {
        const client = socket[kClient];
        if (!client || client.socket !== socket) {
            // Closed by us (close, unload) or replaced: nothing left to do
            return;
        }
        const logger = this.contextLogger(client);
        const unclaimed = client.unclaimed;
        if (client.socketDropped()) {
            logger.info(unclaimed
                ? `Client ${client.clientId} disconnected (code ${code}) while it was being claimed from another node: it waits here if the claim succeeds`
                : `Client ${client.clientId} disconnected (code ${code}), waiting ${this.options.reconnectTimeoutMs / 1000}s for it to resume`);
        } else {
            logger.info(`Client ${client.clientId} disconnected (code ${code})`);
            this.forget(client);
        }
    }

    private onSocketError(socket: TaggedSocket, error: Error & {code?: string}): void {
        const client = socket[kClient];
        const log = client ? this.contextLogger(client) : this.logger;
        const who = `client ${client?.clientId ?? '(unknown)'}`;
        // ws closes the connection after each of these; the close event does the rest
        if (error.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') {
            log.warn(`Closing ${who} with 1009: it sent a message larger than maxMessageSizeBytes (${this.options.maxMessageSizeBytes})`);
        } else {
            log.warn(`Closing ${who} after a protocol error: ${error.message}`);
        }
    }

    private bufferUnusable(client: ServerClient, reason: Error): void {
        // A resume that finds its buffer incomplete deals with it itself
        if (!this.registry.has(client) || client.state === 'resuming') {
            return;
        }
        if (reason instanceof BufferClaimedError) {
            // Claimed by another node before the news of it arrived here: a send found out first
            this.contextLogger(client).info(`Client ${client.clientId} resumed on another node: removing it here`);
        } else {
            this.contextLogger(client).warn(`Client ${client.clientId} cannot resume in full and is removed (a reconnect gets a new clientId): ${reason.message}`);
        }
        client.close(CLOSE_TRY_AGAIN_LATER, 'Reconnect buffer unusable');
        this.forget(client);
    }

    private reconnectWindowPassed(client: ServerClient): void {
        if (!this.registry.has(client) || client.state !== 'waiting') {
            return;
        }
        this.contextLogger(client).info(`Client ${client.clientId} did not resume within ${this.options.reconnectTimeoutMs / 1000}s, removing it`);
        client.close(CLOSE_NORMAL, '');
        this.forget(client);
    }

    /** Remove a client from the registry and tell the disconnect listeners, exactly once */
    private forget(client: ServerClient, notify = true): void {
        if (this.registry.remove(client) && notify) {
            this.listeners.notifyDisconnect(client);
        }
    }

    /** A client waiting here resumed on another node of the cluster */
    private claimedElsewhere(clientId: string): void {
        const client = this.registry.get(clientId);
        if (client && client.state === 'waiting') {
            this.contextLogger(client).info(`Client ${clientId} resumed on another node: removing it here`);
            client.release();
            this.forget(client);
        }
    }

    private sendKeepAlive(): void {
        for (const client of this.registry.values()) {
            const socket = client.socket;
            if (socket && client.state === 'open' && isOpen(socket)) {
                this.batcher.flushSocket(socket);
                socket.send(KEEP_ALIVE_DATA, TEXT_FRAME);
            }
        }
    }

    private checkPeers(): void {
        for (const client of this.registry.values()) {
            const socket = client.socket;
            if (!socket) {
                continue;
            }
            if (!client.alive) {
                this.contextLogger(client).info(`Client ${client.clientId} did not answer the last ping, terminating its connection`);
                socket.terminate();
                continue;
            }
            client.alive = false;
            client.ping();
        }
    }

    private startTimer(task: () => void, intervalMs: number): void {
        const timer = setInterval(task, intervalMs);
        // The plugin must never be what keeps a process alive; dispose() clears the timers anyway
        timer.unref();
        this.timers.push(timer);
    }

    private contextLogger(client: MashroomWebSocketClient): MashroomLogger {
        return this.logger.withContext(client.loggerContext);
    }
}

const describeClient = (client: unknown): string => {
    const clientId = (client as Partial<MashroomWebSocketClient> | null | undefined)?.clientId;
    return typeof clientId === 'string' ? clientId : '(not a client)';
};

const closed = (socket: WebSocket): Promise<void> =>
    socket.readyState === WebSocket.CLOSED ? Promise.resolve() : new Promise((resolve) => socket.once('close', () => resolve()));
