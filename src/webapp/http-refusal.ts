import {STATUS_CODES} from 'http';
import type {Duplex} from 'stream';

/**
 * Answer an upgrade request with a plain HTTP error and close the connection. Used for every refusal
 * before the WebSocket handshake, so a client sees a status code, not a reset.
 */
export const refuseUpgrade = (socket: Duplex, status: number, detail?: string): void => {
    if (socket.destroyed) {
        return;
    }
    const reason = STATUS_CODES[status] ?? 'Error';
    const body = `${status} ${reason}${detail ? `: ${detail}` : ''}\n`;
    const response = [
        `HTTP/1.1 ${status} ${reason}`,
        'Connection: close',
        'Content-Type: text/plain; charset=utf-8',
        `Content-Length: ${Buffer.byteLength(body)}`,
        '',
        body,
    ].join('\r\n');
    // Destroy once written: a peer that never closes its side must not keep the socket open
    socket.once('finish', () => socket.destroy());
    socket.end(response);
};
