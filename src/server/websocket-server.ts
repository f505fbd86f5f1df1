import type {IncomingMessage} from 'http';
import type {Duplex} from 'stream';
import WebSocket from 'ws';
import type {WebSocketServer} from 'ws';
import type {MashroomLogger} from '@mashroom/mashroom/type-definitions';
import type {
    MashroomWebSocketClient,
    MashroomWebSocketDisconnectListener,
    MashroomWebSocketMatcher,
    MashroomWebSocketMessageListener,
} from '../../type-definitions';
import {BufferBudget} from '../buffer/buffer-budget';
import {WriteGate} from '../buffer/write-gate';
import type {ReconnectBufferStore} from '../buffer/reconnect-buffer-store';
import type {ClientHost} from '../client/client-host';
import {ServerClient, idFrameOf} from '../client/server-client';
import {clientCookie} from '../protocol/client-cookie';
import {userAndPath} from '../protocol/client-label';
import {newClientId} from '../protocol/client-id';
import {MessageSerializer} from '../protocol/message-serializer';
import {CLOSE_GOING_AWAY, CLOSE_INTERNAL_ERROR, CLOSE_NORMAL, DELIVERY_PROTOCOL} from '../protocol/wire';
import {Connection} from '../transport/connection';
import type {ConnectionEnv} from '../transport/client-connection';
import {EndOfTurn} from '../transport/end-of-turn';
import {ClientGoneError} from '../transport/pending-message';
import {TurnBatcher} from '../transport/turn-batcher';
import {WritesSettled} from '../transport/writes-settled';
import {WsAdapter} from '../transport/ws-adapter';
import {Admission} from './admission';
import {ClientRegistry} from './client-registry';
import {Heartbeat} from './heartbeat';
import {ListenerRegistry} from './listener-registry';
import {MemoryGuard} from './memory-guard';
import {Resumption} from './resumption';
import type {ConnectRequest, UpgradeOutcome, WebSocketServerOptions} from './server-options';
import {MAX_FRAGMENTS_PER_MESSAGE, SocketRouter} from './socket-router';
import {TOO_LATE, withTimeout} from './deadline';
import {drain, settledBefore} from './drain';

/** Reconnect buffering: off, waiting for its store (see bufferStorePending), or on with it */
type Buffering = {readonly kind: 'off'} | {readonly kind: 'pending'} | {readonly kind: 'on'; readonly store: ReconnectBufferStore};
const OFF: Buffering = {kind: 'off'};
const PENDING: Buffering = {kind: 'pending'};

/** Bytes of the reconnect buffer writes under way at once: enough to keep a store busy, few copies (see WriteGate) */
const STORE_WRITES_MAX_BYTES = 8 * 1024 * 1024;

/** How long a stop waits for the store to let go (a Redis connection that is gone would take its command timeout) */
const STORE_CLOSE_TIMEOUT_MS = 1000;

/**
 * The one WebSocket server shared by the webapp plugin (which feeds it authenticated upgrades) and the services
 * plugin (which exposes it to other plugins): the service API, and the place where its parts are wired
 * together. What each part owns: docs/ARCHITECTURE.md, "Server".
 */
export class MashroomWebSocketServer {

    readonly #options: WebSocketServerOptions;
    readonly #logger: MashroomLogger;
    readonly #clients = new ClientRegistry<ServerClient>();
    readonly #listeners: ListenerRegistry;
    readonly #serializer: MessageSerializer;
    readonly #wss: WebSocketServer;
    readonly #heartbeat: Heartbeat;
    readonly #router: SocketRouter;
    readonly #admission: Admission;
    readonly #resumption: Resumption;
    readonly #host: ClientHost;
    #buffering: Buffering = OFF;
    /** The cookie each handshake response in progress sets (see upgrade) */
    readonly #handshakeCookies = new WeakMap<IncomingMessage, string>();
    #disposal: Promise<void> | null = null;

    constructor(options: WebSocketServerOptions) {
        this.#options = options;
        const logger = this.#logger = options.loggerFactory('mashroom.websocket.server');
        const contextLogger = (client: {readonly loggerContext: Readonly<Record<string, unknown>>}): MashroomLogger => logger.withContext(client.loggerContext);
        this.#listeners = new ListenerRegistry(contextLogger);
        const turns = new EndOfTurn();
        this.#serializer = new MessageSerializer(turns);
        const adapter = new WsAdapter((message) => logger.warn(message));
        this.#wss = adapter.createServer({
            maxPayload: options.maxMessageSizeBytes,
            maxFragments: MAX_FRAGMENTS_PER_MESSAGE,
            closeTimeoutMs: options.closeGraceMs,
            // The client library asks for the delivery protocol; everybody else gets plain messages
            selectProtocol: (offered) => (offered.has(DELIVERY_PROTOCOL) ? DELIVERY_PROTOCOL : false),
            extraHeader: (request) => {
                const cookie = this.#handshakeCookies.get(request);
                return cookie === undefined ? null : `Set-Cookie: ${cookie}`;
            },
        });
        this.#router = new SocketRouter(this.#listeners, logger, {
            maxMessageSizeBytes: options.maxMessageSizeBytes,
            reconnectTimeoutMs: options.reconnectTimeoutMs,
            incoming: {perSecond: options.incomingMessagesPerSec, burst: options.incomingMessagesBurst},
        });
        this.#heartbeat = new Heartbeat(this.#clients, {...options, onPeerCheck: () => this.#router.flushLog()}, logger);
        this.#admission = new Admission(this.#clients, options, () => this.#bufferStore, logger);

        const memory = MemoryGuard.budget(options.memoryBudgetBytes, this.#clients, turns, logger);
        const server = this;
        const connections: ConnectionEnv = {
            writes: new TurnBatcher(turns),
            settled: new WritesSettled(),
            adapter,
            ackRequests: this.#heartbeat.ackRequests,
            maxUnsentBytes: options.maxUnsentBytesPerClient,
            bufferMaxBytes: options.reconnectBufferMaxBytes,
            get keepsUnacknowledged() {
                return server.#bufferStore !== null;
            },
            memory,
            logger: contextLogger,
        };
        this.#host = {
            get bufferStore() {
                return server.#bufferStore;
            },
            reconnectTimeoutMs: options.reconnectTimeoutMs,
            buffers: {
                maxBytes: options.reconnectBufferMaxBytes, budget: new BufferBudget(options.reconnectBufferMaxTotalBytes),
                memory, writes: new WriteGate(STORE_WRITES_MAX_BYTES),
            },
            connections,
            logger: contextLogger,
            connect: (socket, client) => {
                const connection = new Connection(socket, connections, client);
                this.#router.attach(connection);
                return connection;
            },
            clientClosed: (client, known) => {
                if (this.#clients.remove(client) && known) {
                    this.#listeners.notifyDisconnect(client);
                }
            },
        };
        this.#resumption = new Resumption({
            clients: this.#clients,
            admission: this.#admission,
            router: this.#router,
            host: this.#host,
            logger,
            resumeProbeTimeoutMs: options.resumeProbeTimeoutMs,
            stopped: () => this.stopped,
            addClient: (socket, connect) => this.#addClient(socket, connect),
        });
    }

    get basePath(): string {
        return this.#options.basePath;
    }

    get stopped(): boolean {
        return this.#disposal !== null;
    }

    get bufferingEnabled(): boolean {
        return this.#bufferStore !== null;
    }

    /**
     * Whether a buffer store is on its way (its folder is still used by the instance or process before, which
     * drains into it): a reconnect that wants to resume now would find nothing, and is better refused for a retry
     */
    get bufferStorePending(): boolean {
        return this.#buffering.kind === 'pending';
    }

    get #bufferStore(): ReconnectBufferStore | null {
        return this.#buffering.kind === 'on' ? this.#buffering.store : null;
    }

    /** Transition off -> pending: a buffer store is on its way (see bufferStorePending) */
    expectBufferStore(): void {
        if (this.#buffering.kind === 'off') {
            this.#buffering = PENDING;
        }
    }

    /** Transition pending -> off: the buffer store did not come */
    bufferStoreUnavailable(): void {
        if (this.#buffering.kind === 'pending') {
            this.#buffering = OFF;
        }
    }

    /** Transition to on: reconnect buffering; until then a dropped client is removed at once */
    useBufferStore(store: ReconnectBufferStore): void {
        this.#buffering = {kind: 'on', store};
        store.onClaimedElsewhere((clientId) => this.#resumption.claimedElsewhere(clientId));
    }

    /** Whether an upgrade could be admitted right now, before knowing who asks (see Admission.mayAdmit) */
    mayAdmit(requestedClientId: string | null): boolean {
        return !this.stopped && this.#admission.mayAdmit(requestedClientId);
    }

    /** Whether a client that a request names only by its cookie may be resumed by this user on this path */
    mayResumeByCookie(clientId: string, username: string, connectPath: string): Promise<boolean> {
        return this.#resumption.mayResume(clientId, username, connectPath);
    }

    /**
     * Complete an authenticated upgrade: resume the requested client if the same user may, otherwise create a new
     * one if there is room. Synchronous from the capacity check to the registration.
     */
    upgrade(request: IncomingMessage, socket: Duplex, head: Buffer, connect: ConnectRequest): UpgradeOutcome {
        if (this.stopped) {
            return 'stopped';
        }
        const {sequenced} = connect;
        const route = this.#admission.route(connect, sequenced);
        if (route.kind === 'refused') {
            return route.outcome;
        }
        // The id the connection asks for or gets: if it starts afresh after all (see Resumption), the cookie names the
        // client it asked for, and a later request with it is served as a new client once that one is gone
        const clientId = route.kind === 'existing' ? route.client.clientId : route.kind === 'claim' ? route.clientId : newClientId();
        // Only for the clients that need it: those that name their client in the URL (the client library) would
        // otherwise overwrite the cookie of one that cannot (the Portal's) on the same path
        const cookie = this.#options.clientIdCookie && this.#bufferStore && !sequenced && !connect.clientIdFromQuery ? clientCookie(clientId, this.#options.basePath + connect.connectPath, request, this.#options.trustForwardedHeaders) : null;
        if (cookie !== null) {
            this.#handshakeCookies.set(request, cookie);
        }
        this.#wss.handleUpgrade(request, socket, head, (webSocket) => {
            // Its errors are listened to from the start, whatever becomes of it
            this.#router.watch(webSocket);
            try {
                if (route.kind === 'existing') {
                    if (route.client.canResume) {
                        this.#resumption.resume(route.client, webSocket, connect);
                    } else {
                        this.#resumption.takeOver(route.client, webSocket, connect);
                    }
                } else if (route.kind === 'claim') {
                    this.#resumption.claim(route.clientId, webSocket, connect, sequenced);
                } else {
                    this.#addClient(webSocket, connect, clientId);
                }
            } catch (error) {
                // Upgraded already: no HTTP status can be sent any more
                this.#logger.error(`Serving a WebSocket of user ${connect.user.username} on ${connect.connectPath || '/'} failed: closing it (1011)`, error);
                webSocket.close(CLOSE_INTERNAL_ERROR, 'Internal error');
            }
        });
        return 'upgraded';
    }

    addMessageListener(matcher: MashroomWebSocketMatcher, listener: MashroomWebSocketMessageListener): void {
        this.#listeners.addMessageListener(matcher, listener);
    }

    removeMessageListener(matcher: MashroomWebSocketMatcher, listener: MashroomWebSocketMessageListener): void {
        this.#listeners.removeMessageListener(matcher, listener);
    }

    addDisconnectListener(listener: MashroomWebSocketDisconnectListener): void {
        this.#listeners.addDisconnectListener(listener);
    }

    removeDisconnectListener(listener: MashroomWebSocketDisconnectListener): void {
        this.#listeners.removeDisconnectListener(listener);
    }

    sendMessage(client: MashroomWebSocketClient, message: unknown): Promise<void> {
        // Cheaper than a registry lookup, and the same: a client is registered exactly while it is not closed
        if (!(client instanceof ServerClient) || !client.isServedBy(this.#host)) {
            return Promise.reject(new ClientGoneError(describeClient(client)));
        }
        let data: string;
        try {
            data = this.#serializer.serialize(message);
        } catch (error) {
            return Promise.reject(error);
        }
        return client.send(data);
    }

    getClientsOnPath(connectPath: string): Array<MashroomWebSocketClient> {
        return this.#clients.onPath(connectPath);
    }

    getClientsOfUser(username: string): Array<MashroomWebSocketClient> {
        return this.#clients.ofUser(username);
    }

    getClientCount(): number {
        return this.#clients.size;
    }

    /** Bytes the process holds in memory for its clients, as the memory budget counts them */
    get heldBytes(): number {
        return this.#host.buffers.memory.usedBytes;
    }

    /** Close the client's connection (1000) and remove it at once; disconnect listeners are called once */
    close(client: MashroomWebSocketClient): void {
        if (!(client instanceof ServerClient) || !this.#clients.has(client)) {
            this.#logger.debug(`Ignoring close of unknown or already closed client ${describeClient(client)}`);
            return;
        }
        this.#logger.withContext(client.loggerContext).info(`Closing client ${client.clientId}${userAndPath(client)}`);
        client.close(CLOSE_NORMAL, 'Closed by server');
    }

    /**
     * Stop: refuse upgrades and stop the timers; with a buffer store that works, keep every client for a resume
     * (see drain), otherwise close every client (1001) and delete the buffers. Resolves when all sockets are closed
     * and the store is released. Idempotent.
     */
    dispose(): Promise<void> {
        this.#disposal ??= this.#shutDown();
        return this.#disposal;
    }

    async #shutDown(): Promise<void> {
        // A store that hangs must not hold the process beyond its grace period: the buffers get this long in all
        const deadline = Date.now() + this.#options.drainTimeoutMs;
        this.#heartbeat.stop();
        const clients = Array.from(this.#clients.values());
        const store = this.#bufferStore;
        let sockets: Array<WebSocket>;
        if (store?.available) {
            this.#logger.info(`Draining the WebSocket server: keeping ${clients.length} client(s) in ${store.description} for a resume`);
            sockets = await drain(clients, store, this.#options.drainTimeoutMs, this.#logger);
        } else {
            this.#logger.info(`Shutting down the WebSocket server, closing ${clients.length} client(s)`);
            sockets = clients.flatMap((client) => client.connection?.socket ?? []);
            clients.forEach((client) => client.close(CLOSE_GOING_AWAY, 'Server shutting down'));
        }
        // ws cuts off a peer that does not complete the close within closeTimeout
        await Promise.all(sockets.map(closed));
        await settledBefore(clients, deadline);
        this.#listeners.clear();
        this.#wss.close();
        if (store) {
            const closing = store.close().catch((error: unknown) => this.#logger.error('Releasing the reconnect buffer store failed', error));
            if (await withTimeout(closing, STORE_CLOSE_TIMEOUT_MS) === TOO_LATE) {
                this.#logger.warn(`Releasing the reconnect buffer store took longer than ${STORE_CLOSE_TIMEOUT_MS} ms: not waiting for it`);
            }
        }
    }

    #addClient(socket: WebSocket, connect: ConnectRequest, clientId = newClientId()): void {
        const {user, connectPath, requestLoggerContext} = connect;
        const loggerContext = {...requestLoggerContext, username: user.username, clientId};
        const client = ServerClient.connected(this.#host, socket, connectPath, user, loggerContext, clientId, socket.protocol === DELIVERY_PROTOCOL);
        this.#clients.add(client);
        client.openConnection?.sendUntracked(idFrameOf(client, this.#host));
        // Debug, not info: a line per connect is most of what a connect costs beyond the handshake, and a storm after a
        // deploy would write thousands of them
        this.#logger.withContext(loggerContext).debug(`Client ${clientId} of user ${user.username} connected on ${connectPath || '/'} (${this.#clients.size} client(s))`);
    }
}

const describeClient = (client: unknown): string => {
    const clientId = (client as Partial<MashroomWebSocketClient> | null | undefined)?.clientId;
    return typeof clientId === 'string' ? clientId : '(not a client)';
};

const closed = (socket: WebSocket): Promise<void> =>
    socket.readyState === WebSocket.CLOSED ? Promise.resolve() : new Promise((resolve) => socket.once('close', () => resolve()));
