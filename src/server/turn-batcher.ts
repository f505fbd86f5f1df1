import type {Socket} from 'net';
import type WebSocket from 'ws';

type WebSocketInternals = {readonly _socket?: Socket | null};

/**
 * Batches the writes to a socket that happen within one turn of the event loop into one system call:
 * the first write of a turn corks the socket, and the end of the turn (a nextTick callback) uncorks it.
 * A fan-out loop that sends K messages to N clients then costs N system calls instead of K × N, and a
 * single message per socket costs what it did before.
 *
 * `ws` has no public handle on its TCP socket; it writes unmasked, uncompressed frames straight to
 * `_socket`, so corking that socket from outside delays but never reorders or splits its frames. With
 * `perMessageDeflate: false` (as the server is configured) no write is ever queued inside `ws` itself.
 */
export class TurnBatcher {

    private corked: Array<Socket> = [];
    private scheduled = false;
    private readonly endOfTurn = (): void => this.flush();

    /**
     * Call before writing to the socket. Returns true for the first write to it in this turn (and whenever
     * it cannot tell): then what the socket still has to send was left over from earlier turns.
     */
    cork(webSocket: WebSocket): boolean {
        const socket = (webSocket as unknown as WebSocketInternals)._socket;
        if (!socket || socket.destroyed) {
            return true;
        }
        if (socket.writableCorked > 0) {
            return false;
        }
        socket.cork();
        this.corked.push(socket);
        if (!this.scheduled) {
            this.scheduled = true;
            process.nextTick(this.endOfTurn);
        }
        return true;
    }

    /** Uncork now (also at the end of every turn in which something was corked) */
    flush(): void {
        this.scheduled = false;
        const corked = this.corked;
        this.corked = [];
        for (const socket of corked) {
            socket.uncork();
        }
    }
}
