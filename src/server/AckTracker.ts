/**
 * What one connection has sent and the peer has not acknowledged yet. A WebSocket peer answers a ping only
 * after it has read every frame sent before the ping, so a pong acknowledges them all: the ping carries
 * the number of frames sent so far on this connection, and the pong echoes it. Frames are kept until then;
 * if the connection drops first, they are what the peer may not have got.
 */
export class AckTracker {

    // Sent, not yet acknowledged, oldest first; `head` of them are acknowledged but not yet removed
    private frames: Array<string> = [];
    private head = 0;
    private bytes = 0;
    // Frames of this connection acknowledged, and covered by the last ping sent
    private acked = 0;
    private pinged = 0;

    /** Frames sent on this connection */
    get sent(): number {
        return this.acked + this.frames.length - this.head;
    }

    /** Bytes of the frames not yet acknowledged */
    get unackedBytes(): number {
        return this.bytes;
    }

    /** Whether frames were sent that no ping asked about yet */
    get needsPing(): boolean {
        return this.sent > this.pinged;
    }

    /** Whether a ping was sent that the peer has not answered yet */
    get awaitingPong(): boolean {
        return this.pinged > this.acked;
    }

    add(frame: string): void {
        this.frames.push(frame);
        // Bytes, as the reconnect buffer counts them
        this.bytes += Buffer.byteLength(frame);
    }

    /** The payload of a ping that asks about everything sent so far */
    pingPayload(): string {
        this.pinged = this.sent;
        return String(this.pinged);
    }

    /**
     * A pong came with this payload: the first `count` frames of the connection have been read. Anything
     * that is not one of our payloads (an unsolicited pong) is ignored. Returns whether it acknowledged any.
     */
    acknowledgePong(payload: string): boolean {
        const count = Number(payload);
        if (!Number.isSafeInteger(count) || count <= this.acked || count > this.pinged) {
            return false;
        }
        this.dropHead(count - this.acked);
        return true;
    }

    /** Acknowledge the leading frames for which `isRead` says so (explicit acks of the delivery protocol) */
    acknowledgeWhile(isRead: (frame: string) => boolean): void {
        let count = 0;
        for (let index = this.head; index < this.frames.length && isRead(this.frames[index]); index++) {
            count++;
        }
        this.dropHead(count);
    }

    /** Every frame not acknowledged, oldest first; the tracker is empty afterwards */
    takeAll(): Array<string> {
        const frames = this.head === 0 ? this.frames : this.frames.slice(this.head);
        this.frames = [];
        this.head = 0;
        this.bytes = 0;
        return frames;
    }

    private dropHead(count: number): void {
        for (let index = this.head; index < this.head + count; index++) {
            this.bytes -= Buffer.byteLength(this.frames[index]);
        }
        this.head += count;
        this.acked += count;
        // Compact now and then instead of shifting each time
        if (this.head === this.frames.length) {
            this.frames = [];
            this.head = 0;
        } else if (this.head > 1024 && this.head * 2 > this.frames.length) {
            this.frames = this.frames.slice(this.head);
            this.head = 0;
        }
    }
}
