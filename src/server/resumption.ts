import type WebSocket from 'ws';
import type {MashroomLogger} from '@mashroom/mashroom/type-definitions';
import type {ResumeOutcome} from '../client/client-state';
import {ServerClient} from '../client/server-client';
import type {ClientHost} from '../client/client-host';
import {CLOSE_GOING_AWAY, CLOSE_TRY_AGAIN_LATER} from '../protocol/wire';
import {userAndPath} from '../protocol/client-label';
import {isOpen} from '../transport/ws-adapter';
import type {Admission} from './admission';
import type {ClientRegistry} from './client-registry';
import type {ConnectRequest} from './server-options';
import type {SocketRouter} from './socket-router';

export type ResumptionContext = {
    readonly clients: ClientRegistry<ServerClient>;
    readonly admission: Admission;
    readonly router: SocketRouter;
    readonly host: ClientHost;
    readonly logger: MashroomLogger;
    readonly resumeProbeTimeoutMs: number;
    /** Whether the server is shutting down: a connection that would start afresh is closed instead */
    stopped(): boolean;
    /** Serve the socket as a new client */
    addClient(socket: WebSocket, connect: ConnectRequest): void;
};

/**
 * Brings a connection together with the client it asks for: a client that waits here, one that may wait on
 * another node or the process before this one (claimed from the store), or one whose old connection is still held (probed first). The
 * client decides the outcome of its resume; this acts on it. The sequences: docs/ARCHITECTURE.md.
 */
export class Resumption {

    constructor(private readonly context: ResumptionContext) {
    }

    /**
     * Whether a client that a request names only by its cookie may be resumed by this user on this path: it is
     * here, or the store holds it waiting. Otherwise the request is served as a new client, and its response names
     * that one (a cookie naming a client that has expired would otherwise be sent again and again).
     */
    async mayResume(clientId: string, username: string, connectPath: string): Promise<boolean> {
        const client = this.context.clients.get(clientId);
        if (client) {
            return client.user.username === username && client.connectPath === connectPath;
        }
        const store = this.context.host.bufferStore;
        return store !== null && store.mayHold(clientId) && await store.waits(clientId, {username, connectPath}).catch(() => false);
    }

    /** The client waits for a connection (here, or for its claim from another node): the socket resumes it */
    resume(client: ServerClient, socket: WebSocket, connect: ConnectRequest): void {
        client.resume(socket, connect.lastSeq).then((outcome) => this.#settled(client, outcome, connect), (error: unknown) => {
            this.#logger(client).error(`Resuming client ${client.clientId} failed${userAndPath(client)}`, error);
            socket.terminate();
        });
    }

    /**
     * The request names a client that dropped from another node: it counts here from now on, while its claim
     * runs. If the claim fails (it is not there, or another node won) the connection gets a new client, and
     * nobody ever heard of this one.
     */
    claim(clientId: string, socket: WebSocket, connect: ConnectRequest, sequenced: boolean): void {
        const {user, connectPath, requestLoggerContext} = connect;
        const loggerContext = {...requestLoggerContext, username: user.username, clientId};
        const client = ServerClient.fromElsewhere(this.context.host, connectPath, user, loggerContext, clientId, sequenced);
        this.context.clients.add(client);
        this.resume(client, socket, connect);
    }

    /**
     * A request wants a client that still has a connection. If that one does not answer a ping in time it is gone
     * (it died without a trace): cut it off and resume. If it answers, the client is alive elsewhere (a second tab
     * with a copied id): the request gets a new client.
     */
    takeOver(client: ServerClient, socket: WebSocket, connect: ConnectRequest): void {
        const {router, admission, clients, resumeProbeTimeoutMs} = this.context;
        // Listen for errors at once, but read nothing until it is clear whose messages these are
        router.watch(socket);
        socket.pause();
        const probed = client.connection;
        (probed?.probe(resumeProbeTimeoutMs) ?? Promise.resolve('gone')).then((outcome) => {
            socket.resume();
            if (!isOpen(socket)) {
                return;
            }
            if (this.context.stopped()) {
                socket.close(CLOSE_GOING_AWAY, 'Server shutting down');
                return;
            }
            const logger = this.#logger(client);
            if (client.canResume) {
                this.resume(client, socket, connect);
            } else if (outcome === 'gone' && probed && client.connection === probed && clients.has(client)) {
                logger.info(`The connection of client ${client.clientId} did not answer a ping: it is taken over by the new one${userAndPath(client)}`);
                const lost = client.connectionLost(probed);
                probed.terminate();
                if (lost === 'closed') {
                    this.context.addClient(socket, connect);
                } else {
                    this.resume(client, socket, connect);
                }
            } else if (admission.makeRoomFor(connect.user.username) === 'room') {
                logger.info(`Client ${client.clientId} is still connected (another tab with the same id?): the new connection gets a new client${userAndPath(client)}`);
                this.context.addClient(socket, connect);
            } else {
                logger.warn(`Client ${client.clientId} is still connected and there is no room for another client of user ${connect.user.username}: closing the new connection${userAndPath(client)}`);
                socket.close(CLOSE_TRY_AGAIN_LATER, 'Too many connections');
            }
        }).catch((error: unknown) => {
            this.#logger(client).error(`Taking over client ${client.clientId} failed`, error);
            socket.terminate();
        });
    }

    /** A client waiting here resumed on another node of the cluster */
    claimedElsewhere(clientId: string): void {
        this.context.clients.get(clientId)?.resumedElsewhere();
    }

    #settled(client: ServerClient, outcome: ResumeOutcome, connect: ConnectRequest): void {
        if (outcome.kind !== 'fresh') {
            return;
        }
        // The client could not resume and is closed: its connection starts afresh
        try {
            if (this.context.stopped()) {
                outcome.socket.close(CLOSE_GOING_AWAY, 'Server shutting down');
            } else {
                this.context.addClient(outcome.socket, connect);
            }
        } catch (error) {
            this.#logger(client).error(`Serving the connection of client ${client.clientId} as a new client failed`, error);
            outcome.socket.terminate();
        }
    }

    #logger(client: ServerClient): MashroomLogger {
        return this.context.logger.withContext(client.loggerContext);
    }
}
