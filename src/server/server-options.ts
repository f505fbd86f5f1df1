import type {MashroomLoggerFactory} from '@mashroom/mashroom/type-definitions';
import type {MashroomSecurityUser} from '@mashroom/mashroom-security/type-definitions';

export type WebSocketServerOptions = {
    /** The base path clients connect below; reported by the service as `basePath` */
    readonly basePath: string;
    /** Upper bound of clients at once, those waiting for a reconnect included */
    readonly maxConnections: number;
    /** Upper bound of clients of one user, or null */
    readonly maxConnectionsPerUser: number | null;
    /** Largest incoming message; a larger one closes the connection with 1009 */
    readonly maxMessageSizeBytes: number;
    /** What a client may send: messages per second in the long run, and at once beyond that */
    readonly incomingMessagesPerSec: number;
    readonly incomingMessagesBurst: number;
    /** Backlog of unsent bytes beyond which a client counts as too slow and is closed with 1013 */
    readonly maxUnsentBytesPerClient: number;
    /** Largest reconnect buffer of one client */
    readonly reconnectBufferMaxBytes: number;
    /** What all reconnect buffers together may take */
    readonly reconnectBufferMaxTotalBytes: number;
    /** What the process may hold in memory for all clients together (see MemoryGuard) */
    readonly memoryBudgetBytes: number;
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
    /** How long the clients' buffers may take to be stored at a stop, in all: then the connections are closed anyway */
    readonly drainTimeoutMs: number;
    /** Name the client in a cookie of the handshake response (with a buffer store; see protocol/client-cookie) */
    readonly clientIdCookie: boolean;
    /** Whether X-Forwarded-Proto says how the browser reached us (see WebAppConfig) */
    readonly trustForwardedHeaders: boolean;
    readonly loggerFactory: MashroomLoggerFactory;
};

/** Who is connecting and where, as established by the upgrade handler */
export type ConnectRequest = {
    readonly connectPath: string;
    readonly user: MashroomSecurityUser;
    /** The client to resume: the `clientId` query parameter or the client cookie, already checked to be of our form */
    readonly requestedClientId: string | null;
    /** Whether the request named its client in the URL (then its handshake response sets no cookie) */
    readonly clientIdFromQuery: boolean;
    /** Whether it offers the delivery protocol (the client library) */
    readonly sequenced: boolean;
    /** Logger context of the upgrade request (e.g. client IP); the client's adds username and clientId */
    readonly requestLoggerContext: Readonly<Record<string, unknown>>;
    /** A client of the delivery protocol on resume: the last message it has */
    readonly lastSeq: number | null;
};

export type UpgradeOutcome = 'upgraded' | 'full' | 'user-full' | 'stopped';
