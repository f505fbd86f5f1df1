import {readFileSync} from 'fs';
import {createServer} from 'http';
import {createServer as createTlsServer} from 'https';
import type {AddressInfo, Socket} from 'net';
import {join} from 'path';
import WebSocket, {WebSocketServer} from 'ws';

export type SocketPair = {
    readonly server: WebSocket;
    readonly client: WebSocket;
    close(): Promise<void>;
};

// A self-signed certificate for 127.0.0.1, made for these tests only
const TLS_FIXTURES = join(__dirname, '..', 'fixtures', 'tls');

/**
 * Two connected `ws` sockets over loopback TCP, for unit tests of code that writes to a socket; with `tls`, over
 * TLS served by Node (a self-signed certificate the client is told to accept)
 */
export const socketPair = async ({tls = false}: {tls?: boolean} = {}): Promise<SocketPair> => {
    const wss = new WebSocketServer({noServer: true});
    const http = tls
        ? createTlsServer({key: readFileSync(join(TLS_FIXTURES, 'key.pem')), cert: readFileSync(join(TLS_FIXTURES, 'cert.pem'))})
        : createServer();
    http.on('upgrade', (request, socket, head) => {
        wss.handleUpgrade(request, socket, head, (ws) => wss.emit('connection', ws));
    });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    const {port} = http.address() as AddressInfo;
    const serverSide = new Promise<WebSocket>((resolve) => wss.once('connection', resolve));
    const client = new WebSocket(`${tls ? 'wss' : 'ws'}://127.0.0.1:${port}`, {rejectUnauthorized: false});
    await new Promise((resolve, reject) => {
        client.once('open', resolve);
        client.once('error', reject);
    });
    const server = await serverSide;
    return {
        server,
        client,
        close: async () => {
            client.terminate();
            server.terminate();
            wss.close();
            http.closeAllConnections();
            await new Promise<void>((resolve) => http.close(() => resolve()));
        },
    };
};

/** The TCP (or TLS) socket under a `ws` WebSocket, which ws does not expose */
export const tcpSocketOf = (socket: WebSocket): Socket & {readonly encrypted?: boolean} =>
    (socket as unknown as {_socket: Socket & {readonly encrypted?: boolean}})._socket;

export const nextMessage = (socket: WebSocket): Promise<string> =>
    new Promise((resolve) => socket.once('message', (data) => resolve(data.toString())));

/**
 * The opcodes of the frames a client's connection carries, in order, read from the bytes on the wire (a ws
 * client stops reading at a close frame, so its events cannot tell whether anything followed it)
 */
export const wireOpcodes = (client: WebSocket): (() => Array<number>) => {
    const chunks: Array<Buffer> = [];
    tcpSocketOf(client).on('data', (chunk: Buffer) => chunks.push(chunk));
    return () => {
        const bytes = Buffer.concat(chunks);
        const opcodes: Array<number> = [];
        let offset = 0;
        // Frames from a server are not masked
        while (offset + 2 <= bytes.length) {
            const length7 = bytes[offset + 1] & 0x7f;
            const header = length7 === 126 ? 4 : length7 === 127 ? 10 : 2;
            const length = length7 === 126 ? bytes.readUInt16BE(offset + 2) : length7 === 127 ? Number(bytes.readBigUInt64BE(offset + 2)) : length7;
            opcodes.push(bytes[offset] & 0x0f);
            offset += header + length;
        }
        return opcodes;
    };
};

/** What a client gets, in order: messages as text (binary ones as 'binary'), a ping and the close by name */
export const clientEvents = (client: WebSocket): Array<string> => {
    const seen: Array<string> = [];
    client.on('message', (data, isBinary) => seen.push(isBinary ? 'binary' : data.toString()));
    client.on('ping', () => seen.push('(ping)'));
    client.on('close', (code) => seen.push(`(close ${code})`));
    return seen;
};
