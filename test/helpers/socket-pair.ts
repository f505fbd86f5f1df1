import {createServer} from 'http';
import type {AddressInfo} from 'net';
import WebSocket, {WebSocketServer} from 'ws';

export type SocketPair = {
    readonly server: WebSocket;
    readonly client: WebSocket;
    close(): Promise<void>;
};

/** Two connected `ws` sockets over loopback TCP, for unit tests of code that writes to a socket */
export const socketPair = async (): Promise<SocketPair> => {
    const wss = new WebSocketServer({noServer: true});
    const http = createServer();
    http.on('upgrade', (request, socket, head) => {
        wss.handleUpgrade(request, socket, head, (ws) => wss.emit('connection', ws));
    });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    const {port} = http.address() as AddressInfo;
    const serverSide = new Promise<WebSocket>((resolve) => wss.once('connection', resolve));
    const client = new WebSocket(`ws://127.0.0.1:${port}`);
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

export const nextMessage = (socket: WebSocket): Promise<string> =>
    new Promise((resolve) => socket.once('message', (data) => resolve(data.toString())));
