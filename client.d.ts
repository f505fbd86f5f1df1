/**
 * A client for @mashroom/mashroom-websocket that gets every message exactly once, in order, through dropped
 * connections (delivery protocol "mashroom-delivery.v1"). See the README.
 */
declare class MashroomWebSocketClient {
    /** The WebSocket subprotocol of the delivery protocol */
    static readonly PROTOCOL: 'mashroom-delivery.v1';
    /** The server's keep-alive frame, as it arrives (the JSON string "keepalive") */
    static readonly KEEP_ALIVE: '"keepalive"';
    /** After how many characters received it acknowledges at the latest (a server may ask for fewer) */
    static readonly ACK_AFTER_CHARS: number;

    /** @param url ws: or wss: URL below the server's WebSocket base path */
    constructor(url: string, options?: MashroomWebSocketClient.Options);

    readonly url: string;
    /** The id the server gave this client, null before the first connection */
    readonly clientId: string | null;
    /** The number of the last message delivered */
    readonly lastSeq: number;
    /** Messages dropped as duplicates so far */
    readonly duplicates: number;
    /** Whether a connection is open */
    readonly connected: boolean;

    on(event: 'message', listener: (payload: any) => void): this;
    on(event: 'open', listener: (event: {clientId: string; resumed: boolean}) => void): this;
    on(event: 'reset', listener: (event: {clientId: string; previousClientId: string}) => void): this;
    on(event: 'close', listener: (event: {code: number; reason: string; willReconnect: boolean}) => void): this;
    on(event: 'error', listener: (error: Error) => void): this;
    off(event: 'message' | 'open' | 'reset' | 'close' | 'error', listener: (event: any) => void): this;

    /** Connect, and keep reconnecting after drops until close() */
    connect(): this;
    /** Send a message (JSON); queued while disconnected. Sent at most once */
    send(message: unknown): void;
    /** Close for good; connect() later resumes the same client if the server still has it */
    close(): void;
}

declare namespace MashroomWebSocketClient {
    type Storage = {
        getItem(key: string): string | null;
        setItem(key: string, value: string): void;
        removeItem(key: string): void;
    };

    type Options = {
        /** The WebSocket class; default: the global one (browsers, Node.js 22), e.g. require('ws') for Node.js 20 */
        WebSocket?: unknown;
        /** Third argument for the WebSocket constructor, e.g. {headers: {cookie}} with ws */
        webSocketOptions?: object;
        /** Where clientId and lastSeq are kept (default: sessionStorage if there is one; null: memory only) */
        storage?: Storage | null;
        storageKey?: string;
        /**
         * Backoff of the reconnects: delay = initialDelayMs * factor^attempt, at most maxDelayMs, ± jitter; after the
         * server closed with 1001 or 1012 (it stops or restarts) the first delay is initialDelayMs plus a random part
         * of restartSpreadMs (default 2000), so that the clients of a restarted server do not all come back at once
         */
        reconnect?: {initialDelayMs?: number; maxDelayMs?: number; factor?: number; jitter?: number; maxAttempts?: number; restartSpreadMs?: number};
        /** How soon after a message the client tells the server it has it (default 200) */
        ackDelayMs?: number;
        /** Take a connection that has been silent this long for dead and reconnect (default 0: never) */
        idleTimeoutMs?: number;
    };
}

export = MashroomWebSocketClient;
