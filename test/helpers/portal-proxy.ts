import {connect, createServer} from 'net';
import type {AddressInfo, Server, Socket} from 'net';

/** A WebSocket handshake request as it went through the proxy */
export type ProxiedHandshake = {
    /** The request target, such as /websocket/messages?clientId=... */
    readonly url: string;
    /** The request headers, names in lower case */
    readonly headers: Readonly<Record<string, string>>;
};

/**
 * The network between a browser and a server: a TCP proxy on a loopback port that forwards every connection to
 * the server's port. It can drop the WebSocket connections that go through it, as a network does (both ends are
 * destroyed; the server is not told anything), and refuse every new connection while it is down.
 */
export type NetworkProxy = {
    /** http://127.0.0.1:port */
    readonly origin: string;
    /** The WebSocket handshakes that went through, in order */
    readonly handshakes: ReadonlyArray<ProxiedHandshake>;
    /** The codes of the close frames the server sent, in order */
    readonly serverCloseCodes: ReadonlyArray<number>;
    /** The WebSocket connections that are open now */
    openWebSockets(): number;
    /**
     * Whether the server can know that the page has everything it sent on the open WebSocket connections: each
     * message (but "keepalive") was followed by a ping that the page answered. (A pong answers every frame read
     * before its ping; the server keeps what no pong acknowledged, and replays it on a resume.)
     */
    acknowledged(): boolean;
    /** Cut every open WebSocket connection and refuse new connections until `up`; resolves to how many were cut */
    down(): number;
    up(): void;
    close(): Promise<void>;
};

const HEADER_END = '\r\n\r\n';
const OPCODE_CLOSE = 0x8;
const OPCODE_PING = 0x9;
const OPCODE_PONG = 0xa;
const KEEP_ALIVE = '"keepalive"';

/** The handshake of a WebSocket upgrade, if the head of the connection's data is one */
const handshakeOf = (head: string): ProxiedHandshake | null => {
    const end = head.indexOf(HEADER_END);
    if (end === -1) {
        return null;
    }
    const [requestLine, ...headerLines] = head.slice(0, end).split('\r\n');
    const request = /^GET (\S+) HTTP\/1\.1$/.exec(requestLine);
    if (!request) {
        return null;
    }
    const headers: Record<string, string> = {};
    for (const line of headerLines) {
        const colon = line.indexOf(':');
        if (colon > 0) {
            headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
        }
    }
    return headers.upgrade?.toLowerCase() === 'websocket' ? {url: request[1], headers} : null;
};

/** Reads the frames of one direction of a WebSocket connection (RFC 6455 framing; the server negotiates no extension) */
const frameReader = (onFrame: (opcode: number, payload: Buffer) => void): ((chunk: Buffer) => void) => {
    let pending = Buffer.alloc(0);
    return (chunk) => {
        pending = Buffer.concat([pending, chunk]);
        for (;;) {
            if (pending.length < 2) {
                return;
            }
            const masked = (pending[1] & 0x80) !== 0;
            const length7 = pending[1] & 0x7f;
            const extended = length7 === 126 ? 2 : length7 === 127 ? 8 : 0;
            const headerLength = 2 + extended + (masked ? 4 : 0);
            if (pending.length < headerLength) {
                return;
            }
            const length = length7 === 126 ? pending.readUInt16BE(2) : length7 === 127 ? Number(pending.readBigUInt64BE(2)) : length7;
            if (pending.length < headerLength + length) {
                return;
            }
            const payload = Buffer.from(pending.subarray(headerLength, headerLength + length));
            if (masked) {
                const mask = pending.subarray(2 + extended, headerLength);
                payload.forEach((byte, index) => {
                    payload[index] = byte ^ mask[index % 4];
                });
            }
            onFrame(pending[0] & 0x0f, payload);
            pending = pending.subarray(headerLength + length);
        }
    };
};

/** What went through one WebSocket connection of acknowledgements */
type Acknowledgements = {
    pings: number;
    pongs: number;
    /** How many pongs it takes to acknowledge every message the server sent so far */
    needed: number;
};

/** Data after a head (the handshake request or response) goes to `frames`; resolves the head once it is complete */
const afterHead = (onHead: (head: Buffer) => ((chunk: Buffer) => void) | null): ((chunk: Buffer) => void) => {
    let head: Buffer | null = Buffer.alloc(0);
    let frames: ((chunk: Buffer) => void) | null = null;
    return (chunk) => {
        if (head === null) {
            frames?.(chunk);
            return;
        }
        head = Buffer.concat([head, chunk]);
        const end = head.indexOf(HEADER_END);
        if (end !== -1) {
            const rest = head.subarray(end + HEADER_END.length);
            frames = onHead(head.subarray(0, end + HEADER_END.length));
            head = null;
            frames?.(rest);
        } else if (head.length > 65_536) {
            head = null;
        }
    };
};

export const startNetworkProxy = async (targetPort: number): Promise<NetworkProxy> => {
    const handshakes: Array<ProxiedHandshake> = [];
    const serverCloseCodes: Array<number> = [];
    const sockets = new Set<Socket>();
    /** The pairs (browser side, server side) of the connections that were upgraded to WebSocket */
    const webSockets = new Map<readonly [Socket, Socket], Acknowledgements>();
    let isDown = false;

    const server: Server = createServer((incoming) => {
        if (isDown) {
            incoming.destroy();
            return;
        }
        const outgoing = connect(targetPort, '127.0.0.1');
        const pair = [incoming, outgoing] as const;
        for (const socket of pair) {
            sockets.add(socket);
            socket.once('close', () => {
                sockets.delete(socket);
                webSockets.delete(pair);
            });
            socket.on('error', () => undefined);
        }
        // A browser opens a connection of its own for each WebSocket, and sends the handshake first
        incoming.on('data', afterHead((head) => {
            const handshake = handshakeOf(head.toString('latin1'));
            if (!handshake) {
                return null;
            }
            handshakes.push(handshake);
            const acknowledgements: Acknowledgements = {pings: 0, pongs: 0, needed: 0};
            webSockets.set(pair, acknowledgements);
            outgoing.on('data', afterHead(() => frameReader((opcode, payload) => {
                if (opcode === OPCODE_PING) {
                    acknowledgements.pings++;
                } else if (opcode === OPCODE_CLOSE) {
                    serverCloseCodes.push(payload.length >= 2 ? payload.readUInt16BE(0) : 1005);
                } else if (opcode < OPCODE_CLOSE && payload.toString() !== KEEP_ALIVE) {
                    acknowledgements.needed = acknowledgements.pings + 1;
                }
            })));
            return frameReader((opcode) => {
                if (opcode === OPCODE_PONG) {
                    acknowledgements.pongs++;
                }
            });
        }));
        incoming.pipe(outgoing).pipe(incoming);
        incoming.once('close', () => outgoing.destroy());
        outgoing.once('close', () => incoming.destroy());
    });
    const port = await new Promise<number>((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));

    return {
        origin: `http://127.0.0.1:${port}`,
        handshakes,
        serverCloseCodes,
        openWebSockets: () => webSockets.size,
        acknowledged: () => [...webSockets.values()].every(({pongs, needed}) => pongs >= needed),
        down: () => {
            isDown = true;
            const cut = webSockets.size;
            webSockets.forEach((_acknowledgements, pair) => pair.forEach((socket) => socket.destroy()));
            webSockets.clear();
            return cut;
        },
        up: () => {
            isDown = false;
        },
        close: async () => {
            sockets.forEach((socket) => socket.destroy());
            await new Promise((resolve) => server.close(resolve));
        },
    };
};
