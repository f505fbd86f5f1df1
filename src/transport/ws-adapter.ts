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
        // closeTimeout exists since ws 8.19; @types/ws does not know it yet
        const serverOptions: ServerOptions & {closeTimeout: number} = {
            noServer: true,
            clientTracking: false,
            // Compressed frames are queued inside ws, and frames written next to ws could then overtake them
            perMessageDeflate: false,
            maxPayload: options.maxPayload,
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

/**
 * A limit on the number of fragments of a message: ws limits their size together (maxPayload), not how many
 * there are, and a message in a million 1-byte fragments costs a million frames to take in. ws keeps the fragments
 * of the message it receives in its receiver until the last one; after each chunk of data this looks at how many
 * it holds, with one listener for all sockets. Where ws keeps them elsewhere the limit is not enforced, and a
 * warning says so once.
 */
export class FragmentLimit {

    readonly #socketOf = Symbol('mashroom-websocket-fragments');
    #problemReported = false;
    readonly #onData: (this: Socket) => void;

    /** `tooMany` is called, once per message, when one has come in more than `max` fragments so far */
    constructor(max: number, tooMany: (webSocket: WebSocket) => void, private readonly warn: (message: string) => void) {
        const key = this.#socketOf;
        this.#onData = function onData(this: Socket) {
            const webSocket = (this as unknown as Record<symbol, WebSocket | undefined>)[key];
            const fragments = (webSocket as unknown as {_receiver?: {_fragments?: Array<unknown>}} | undefined)?._receiver?._fragments;
            if (webSocket && fragments && fragments.length > max && isOpen(webSocket)) {
                tooMany(webSocket);
            }
        };
    }

    watch(webSocket: WebSocket): void {
        const raw = (webSocket as unknown as {readonly _socket?: unknown})._socket;
        const fragments = (webSocket as unknown as {_receiver?: {_fragments?: unknown}})._receiver?._fragments;
        if (raw instanceof Socket && Array.isArray(fragments)) {
            (raw as unknown as Record<symbol, WebSocket>)[this.#socketOf] = webSocket;
            raw.on('data', this.#onData);
        } else if (!this.#problemReported) {
            this.#problemReported = true;
            this.warn('ws keeps the fragments of a message where this plugin does not look for them: their number is not limited');
        }
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
