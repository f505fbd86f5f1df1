import type WebSocket from 'ws';
import type {MashroomLogger} from '@mashroom/mashroom/type-definitions';
import type {ServerClient} from '../client/server-client';
import {parseClientEnvelope} from '../protocol/delivery-envelope';
import {parseIncomingFrame} from '../protocol/incoming-frame';
import {userAndPath} from '../protocol/client-label';
import type {Connection} from '../transport/connection';
import {SocketTag} from '../transport/ws-adapter';
import {CLOSE_POLICY_VIOLATION} from '../protocol/wire';
import {ClientLogThrottle} from './client-log-throttle';
import {IncomingRateLimit} from './incoming-rate-limit';
import type {IncomingRateOptions} from './incoming-rate-limit';
import type {ListenerRegistry} from './listener-registry';

/**
 * Frames a message may come in: a browser sends one, a streaming client a few. ws's default (16384) lets a message
 * of empty fragments cost that many frames
 */
export const MAX_FRAGMENTS_PER_MESSAGE = 1000;

/** Lines about ignored frames per client and problem, and of all clients per second (see ClientLogThrottle) */
const LINES_PER_CLIENT = 3;
const LINES_PER_SECOND = 20;

type RoutedConnection = Connection<ServerClient>;

/**
 * Routes what happens on the sockets to the clients they serve: messages to the listeners, pongs and
 * acknowledgements to the connection, a closed socket to the client's lifecycle. One set of handlers serves
 * every socket (no closures per socket); a socket's events reach a client only through a connection that it
 * has not detached.
 */
export class SocketRouter {

    readonly #tag = new SocketTag<RoutedConnection>();
    readonly #rate: IncomingRateLimit;
    readonly #ignored: ClientLogThrottle;
    readonly #handlers: {
        readonly message: (this: WebSocket, data: WebSocket.RawData, isBinary: boolean) => void;
        readonly close: (this: WebSocket, code: number) => void;
        readonly pong: (this: WebSocket, data: Buffer) => void;
        readonly error: (this: WebSocket, error: Error) => void;
    };

    constructor(
        private readonly listeners: ListenerRegistry,
        private readonly logger: MashroomLogger,
        private readonly limits: {readonly maxMessageSizeBytes: number; readonly reconnectTimeoutMs: number; readonly incoming: IncomingRateOptions},
    ) {
        this.#rate = new IncomingRateLimit(limits.incoming);
        this.#ignored = new ClientLogThrottle({linesPerClient: LINES_PER_CLIENT, linesPerSecond: LINES_PER_SECOND}, (client) => this.#logger(client));
        const router = this;
        this.#handlers = {
            message(data, isBinary) {
                router.#onFrame(this, data, isBinary);
            },
            close(code) {
                router.#onClose(this, code);
            },
            pong(data) {
                router.#tag.get(this)?.pong(data);
            },
            error(error) {
                router.#onError(this, error);
            },
        };
    }

    /** Listen to the socket; its events reach nobody until a connection is attached */
    watch(socket: WebSocket): void {
        if (this.#tag.get(socket) === undefined) {
            const handlers = this.#handlers;
            socket.on('message', handlers.message);
            socket.on('close', handlers.close);
            socket.on('pong', handlers.pong);
            socket.on('error', handlers.error);
            this.#tag.set(socket, null);
        }
    }

    /** From now on the socket's events go to this connection (and its client) */
    attach(connection: RoutedConnection): void {
        this.watch(connection.socket);
        this.#tag.set(connection.socket, connection);
    }

    #onFrame(socket: WebSocket, data: WebSocket.RawData, isBinary: boolean): void {
        const connection = this.#tag.get(socket);
        const client = connection?.owner;
        if (!connection || !client) {
            return;
        }
        if (!this.#rate.take(socket)) {
            const {perSecond, burst} = this.limits.incoming;
            this.#logger(client).warn(`Client ${client.clientId} sends more than ${perSecond} messages per second (beyond a burst of ${burst}): closing it (1008)${userAndPath(client)}`);
            client.close(CLOSE_POLICY_VIOLATION, 'Too many messages');
            return;
        }
        const frame = parseIncomingFrame(data, isBinary);
        if (!frame.ok) {
            this.#ignored.warn(client, 'invalid', () => `Ignoring a frame of client ${client.clientId}: ${frame.problem}`);
            return;
        }
        let message = frame.message;
        if (client.sequenced) {
            const envelope = parseClientEnvelope(message);
            if (envelope.kind === 'ack') {
                connection.acknowledgeSeq(envelope.seq);
                return;
            }
            if (envelope.kind === 'invalid') {
                this.#ignored.warn(client, 'invalid', () => `Ignoring a frame of client ${client.clientId}: ${envelope.problem}`);
                return;
            }
            message = envelope.payload;
        }
        if (!this.listeners.dispatchMessage(message, client)) {
            this.#ignored.warn(client, 'unheard', () => `No message listener takes the message of client ${client.clientId} on connect path ${client.connectPath || '/'}`);
        }
    }

    /** Say how many lines about ignored frames were not logged (see ClientLogThrottle) */
    flushLog(): void {
        this.#ignored.flush(this.logger);
    }

    #onClose(socket: WebSocket, code: number): void {
        const connection = this.#tag.get(socket);
        const client = connection?.owner;
        if (!connection || !client) {
            // Closed by us (close, unload) or given up: nothing left to do
            return;
        }
        const outcome = client.connectionLost(connection);
        const logger = this.#logger(client);
        if (outcome === 'claiming') {
            logger.info(`Client ${client.clientId} disconnected (code ${code}) while it was being claimed from another node: it waits here if the claim succeeds${userAndPath(client)}`);
        } else if (outcome === 'waiting') {
            logger.info(`Client ${client.clientId} disconnected (code ${code}), waiting ${this.limits.reconnectTimeoutMs / 1000}s for it to resume${userAndPath(client)}`);
        } else if (outcome === 'closed') {
            logger.info(`Client ${client.clientId} disconnected (code ${code})${userAndPath(client)}`);
        }
    }

    #onError(socket: WebSocket, error: Error & {code?: string}): void {
        const client = this.#tag.get(socket)?.owner;
        const log = client ? this.#logger(client) : this.logger;
        const who = `client ${client?.clientId ?? '(unknown)'}`;
        // ws closes the connection after each of these; the close event does the rest
        if (error.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') {
            log.warn(`Closing ${who} with 1009: it sent a message larger than maxMessageSizeBytes (${this.limits.maxMessageSizeBytes})${client ? userAndPath(client) : ''}`);
        } else if (error.code === 'WS_ERR_TOO_MANY_BUFFERED_PARTS') {
            log.warn(`Closing ${who} with 1008: it sent a message in more than ${MAX_FRAGMENTS_PER_MESSAGE} fragments${client ? userAndPath(client) : ''}`);
            // For good, like a client over the rate limit: it could send the next message the same way
            client?.close(CLOSE_POLICY_VIOLATION, 'Too many fragments');
        } else {
            log.warn(`Closing ${who} after a protocol error: ${error.message}${client ? userAndPath(client) : ''}`);
        }
    }

    #logger(client: ServerClient): MashroomLogger {
        return this.logger.withContext(client.loggerContext);
    }
}
