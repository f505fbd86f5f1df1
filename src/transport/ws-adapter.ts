import type {IncomingMessage} from 'http';
import {Socket} from 'net';
import WebSocket, {WebSocketServer} from 'ws';
import type {ServerOptions} from 'ws';

/*
 * The one place that relies on more of ws than its documented API: the TCP socket under a WebSocket (to write
 * frames to it directly, see Connection) and a property we put on WebSocket objects (to find their connection
 * without a closure per socket). What direct writing relies on is checked here; when a check fails, every frame
 * goes through ws.send instead (correct, only slower), and a warning says why.
 */

/** The ws versions this file was checked against; package.json pins ws to the same range */
const TESTED_WS_VERSIONS = /^8\.23\./;

/** The TCP (or TLS) socket under a WebSocket */
export type RawSocket = Socket & {readonly encrypted?: boolean};

export type WsServerOptions = {
    /** Largest incoming frame or message; ws refuses a larger one from its header */
    readonly maxPayload: number;
    /** Most frames an incoming message may come in; ws closes with 1008 beyond (`WS_ERR_TOO_MANY_BUFFERED_PARTS`) */
    readonly maxFragments: number;
    /** How long a close we start may take before ws cuts the connection off */
    readonly closeTimeoutMs: number;
    /** The subprotocol to accept of those offered, or false */
    readonly selectProtocol: (offered: Set<string>) => string | false;
    /** A header line to add to the handshake response to this request, or null */
    readonly extraHeader: (request: IncomingMessage) => string | null;
};

const installedWsVersion = (): string => {
    try {
        return String((require('ws/package.json') as {version?: unknown}).version);
    } catch {
        return 'unknown';
    }
};

export class WsAdapter {

    /** Why frames cannot be written directly, or null if they can */
    readonly directWritingProblem: string | null;
    #socketProblemReported = false;

    constructor(private readonly warn: (message: string) => void, readonly wsVersion = installedWsVersion()) {
        this.directWritingProblem = TESTED_WS_VERSIONS.test(this.wsVersion)
            ? null
            : `ws ${this.wsVersion} is not a version this plugin was tested with (8.23.x)`;
        if (this.directWritingProblem) {
            this.warn(`${this.directWritingProblem}: every frame is written through ws.send, which is slower`);
        }
    }

    createServer(options: WsServerOptions): WebSocketServer {
        // closeTimeout and maxFragments exist in ws 8.23 (documented there); @types/ws does not know them yet
        const serverOptions: ServerOptions & {closeTimeout: number; maxFragments: number} = {
            noServer: true,
            clientTracking: false,
            // Compressed frames are queued inside ws, and frames written next to ws could then overtake them
            perMessageDeflate: false,
            maxPayload: options.maxPayload,
            maxFragments: options.maxFragments,
            closeTimeout: options.closeTimeoutMs,
            handleProtocols: (protocols) => options.selectProtocol(protocols),
        };
        const server = new WebSocketServer(serverOptions);
        server.on('headers', (headers: Array<string>, request: IncomingMessage) => {
            const header = options.extraHeader(request);
            if (header !== null) {
                headers.push(header);
            }
            // ws writes the response right after this event and then hands the socket over, in the same tick, to the
            // connection handler, which sends the client its id: one write for both instead of two
            const socket = request.socket;
            socket.cork();
            process.nextTick(() => socket.uncork());
        });
        return server;
    }

    /**
     * The socket to write the frames of this WebSocket to directly, or null: then they go through ws.send.
     * Writing next to ws is safe only while ws writes every frame at once, unmasked and uncompressed, which
     * the tested versions do without an extension (and for anything but a Blob, which we never send).
     */
    rawSocketOf(webSocket: WebSocket): RawSocket | null {
        if (this.directWritingProblem) {
            return null;
        }
        const raw = (webSocket as unknown as {readonly _socket?: unknown})._socket;
        if (raw instanceof Socket && webSocket.extensions === '') {
            return raw;
        }
        if (!this.#socketProblemReported) {
            this.#socketProblemReported = true;
            this.warn(`A WebSocket ${raw instanceof Socket ? `negotiated extensions (${webSocket.extensions})` : 'has no net.Socket under it'}: ` +
                'the frames of such connections are written through ws.send, which is slower');
        }
        return null;
    }
}

/** A value kept on WebSocket objects, so that one set of event handlers can serve every socket */
export class SocketTag<T> {

    readonly #key = Symbol('mashroom-websocket');

    set(webSocket: WebSocket, value: T | null): void {
        (webSocket as unknown as Record<symbol, T | null>)[this.#key] = value;
    }

    /** undefined: never tagged; null: tagged, without a value (yet) */
    get(webSocket: WebSocket): T | null | undefined {
        return (webSocket as unknown as Record<symbol, T | null | undefined>)[this.#key];
    }
}

export const isOpen = (webSocket: WebSocket): boolean => webSocket.readyState === WebSocket.OPEN;
