import type {Socket} from 'net';
import type WebSocket from 'ws';

import {atEndOfTurn} from './end-of-turn';

const kLastTurn = Symbol('mashroom-websocket-last-turn');

type TrackedSocket = Socket & {[kLastTurn]?: number};
type WebSocketInternals = {readonly _socket?: TrackedSocket | null};

/**
 * Batches the writes to a socket that happen within one synchronous run of code (a "turn": up to the next
 * microtask checkpoint) into one system call. The first write of a turn goes out at once, as it would
 * without us (a single message per socket, as in a broadcast, costs nothing extra and reaches the peer
 * while the loop goes on); a second write in the same turn corks the socket, and the end of the turn (a
 * microtask) uncorks it. A burst of K messages to N clients then costs 2 × N system calls instead of K × N.
 * A turn ends at the first microtask checkpoint, so broadcasts awaited one after the other are separate
 * turns and not held back.
 *
 * `ws` has no public handle on its TCP socket; it writes unmasked, uncompressed frames straight to
 * `_socket`, so corking that socket from outside delays but never reorders or splits its frames. With
 * `perMessageDeflate: false` (as the server is configured) no write is ever queued inside `ws` itself.
 */
export class TurnBatcher {

    private turn = 0;
    private corked: Array<Socket> = [];
    private scheduled = false;
    private readonly endOfTurn = (): void => this.flush();

    /**
     * Call before writing to the socket. Returns true for the first write to it in this turn (and whenever
     * it cannot tell): then what the socket still has to send was left over from earlier turns.
     */
    beforeWrite(webSocket: WebSocket): boolean {
        const socket = (webSocket as unknown as WebSocketInternals)._socket;
        if (!socket || socket.destroyed) {
            return true;
        }
        if (socket[kLastTurn] !== this.turn) {
            socket[kLastTurn] = this.turn;
            this.schedule();
            return true;
        }
        if (socket.writableCorked === 0) {
            socket.cork();
            this.corked.push(socket);
        }
        return false;
    }

    /** End the turn now: uncork what was corked (also done at the end of every turn with writes) */
    flush(): void {
        this.scheduled = false;
        this.turn++;
        if (this.corked.length === 0) {
            // The common turn (one write per socket): nothing to allocate
            return;
        }
        const corked = this.corked;
        this.corked = [];
        for (const socket of corked) {
            socket.uncork();
        }
    }

    private schedule(): void {
        if (!this.scheduled) {
            this.scheduled = true;
            atEndOfTurn(this.endOfTurn);
        }
    }
}
