import type WebSocket from 'ws';
import type {MashroomLogger} from '@mashroom/mashroom/type-definitions';
import type {BufferQueueEnv} from '../buffer/client-buffer-queue';
import type {ReconnectBufferStore} from '../buffer/reconnect-buffer-store';
import type {ClientConnection, ConnectionEnv} from '../transport/client-connection';
import type {ServerClient} from './server-client';

/** What every client of one server shares: a single object, not a copy per client */
export interface ClientHost {
    /** null while reconnect buffering is off */
    readonly bufferStore: ReconnectBufferStore | null;
    readonly reconnectTimeoutMs: number;
    /** What the reconnect buffers of all clients share: their limits, and where their writes are counted */
    readonly buffers: BufferQueueEnv;
    readonly connections: ConnectionEnv;
    logger(client: ServerClient): MashroomLogger;
    /** A connection of the client on the socket, whose events from now on reach the client */
    connect(socket: WebSocket, client: ServerClient): ClientConnection;
    /** The client is closed: forget it, and tell the disconnect listeners unless it never existed here */
    clientClosed(client: ServerClient, known: boolean): void;
}
