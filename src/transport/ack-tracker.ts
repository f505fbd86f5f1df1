/**
 * How long a peer may take to answer a ping before it counts as behind: four of its quickest round trips, but at
 * least the first (a peer on a slow link reads what was sent before the ping first) and at most the second
 */
const PONG_GRACE_MS = {min: 25, max: 1000};

/**
 * What one connection has sent and the peer has not acknowledged yet. The ping carries the number of frames sent
 * so far and the pong echoes it, so a pong says how far the peer has read (docs/ARCHITECTURE.md, "Acknowledgements").
 */
export class AckTracker {

    // Sent, not yet acknowledged, oldest first, with their sizes in bytes; `head` of them are acknowledged
    // but not yet removed
    private frames: Array<string> = [];
    private sizes: Array<number> = [];
    private head = 0;
    private bytes = 0;
    // Frames of this connection acknowledged; read (pong) by the peer, at least as many; covered by the last
    // ping sent
    private acked = 0;
    private read = 0;
    private pinged = 0;
    // Bytes of the frames read but not yet acknowledged; of those a ping asked about, not yet acknowledged
    private readBytes = 0;
    private pingedBytes = 0;
    // Since when a ping has not been answered (0: all are answered), when the last one was sent, and the quickest
    // answer to a latest ping so far (Infinity: none yet)
    private unansweredSince = 0;
    private lastPingAt = 0;
    private roundTripMs = Infinity;
    // The first `replayCount` frames of the connection are the replay of a resume: bytes of them not yet
    // acknowledged, and not yet read
    private replayCount = 0;
    private replayUnacked = 0;
    private replayUnread = 0;

    /** Frames sent on this connection */
    get sent(): number {
        return this.acked + this.frames.length - this.head;
    }

    /** Bytes of the frames not yet acknowledged */
    get unackedBytes(): number {
        return this.bytes;
    }

    /** Bytes of the frames not yet known to be read */
    get unreadBytes(): number {
        return this.bytes - this.readBytes;
    }

    /**
     * Bytes not yet known to be read, beyond a replay. A resume sends what the client missed at once, up to
     * a whole buffer; the pace of a client is judged by what came after it.
     */
    get unreadBytesBeyondReplay(): number {
        return this.unreadBytes - this.replayUnread;
    }

    /** Bytes not yet acknowledged beyond a replay */
    get unackedBytesBeyondReplay(): number {
        return this.bytes - this.replayUnacked;
    }

    /** Bytes known to be read but not yet acknowledged, beyond a replay */
    get readUnackedBytesBeyondReplay(): number {
        return this.readBytes - (this.replayUnacked - this.replayUnread);
    }

    /**
     * Bytes a ping has asked about that the peer has not read, once it is late with its answer: what it is behind by.
     * A peer that reads answers within its round trip, and has had no time to answer for what came since the ping.
     */
    get behindBytes(): number {
        const grace = this.roundTripMs === Infinity ? PONG_GRACE_MS.min : Math.min(PONG_GRACE_MS.max, Math.max(PONG_GRACE_MS.min, 4 * this.roundTripMs));
        return this.unansweredSince !== 0 && Date.now() - this.unansweredSince > grace ? this.pingedBytes - this.readBytes : 0;
    }

    /** Whether frames were sent that no ping asked about yet */
    get needsPing(): boolean {
        return this.sent > this.pinged;
    }

    /** Whether a ping was sent that the peer has not answered yet */
    get awaitingPong(): boolean {
        return this.pinged > this.read;
    }

    /** Returns the frame's size in bytes, as the reconnect buffer counts them */
    add(frame: string): number {
        const size = Buffer.byteLength(frame);
        this.frames.push(frame);
        this.sizes.push(size);
        this.bytes += size;
        return size;
    }

    /** The frames sent so far on this connection are a replay (see unreadBytesBeyondReplay) */
    markReplay(): void {
        this.replayCount = this.sent;
        this.replayUnacked = this.bytes;
        this.replayUnread = this.unreadBytes;
    }

    /** The payload of a ping that asks about everything sent so far */
    pingPayload(): string {
        const now = Date.now();
        if (!this.awaitingPong) {
            this.unansweredSince = now;
        }
        this.lastPingAt = now;
        this.pinged = this.sent;
        this.pingedBytes = this.bytes;
        return String(this.pinged);
    }

    /**
     * A pong came with this payload: the first `count` frames of the connection have been read, and are
     * acknowledged. Anything that is not one of our payloads (an unsolicited pong) is ignored. Returns the
     * bytes it acknowledged.
     */
    acknowledgePong(payload: string): number {
        const count = this.pongCount(payload);
        if (count === null) {
            return 0;
        }
        this.answered(count);
        return count <= this.acked ? 0 : this.dropHead(count - this.acked);
    }

    /** A pong came with this payload: the first `count` frames have been read, but stay until acknowledged */
    confirmRead(payload: string): void {
        const count = this.pongCount(payload);
        if (count === null) {
            return;
        }
        // Also when an explicit acknowledgement came first: the pong still answers its ping
        this.answered(count);
        if (count <= this.read) {
            return;
        }
        for (let index = this.head + this.read - this.acked; index < this.head + count - this.acked; index++) {
            this.readBytes += this.sizes[index];
            if (this.acked + index - this.head < this.replayCount) {
                this.replayUnread -= this.sizes[index];
            }
        }
        this.read = count;
    }

    /** Acknowledge the leading frames for which `isRead` says so (explicit acks of the delivery protocol); returns their bytes */
    acknowledgeWhile(isRead: (frame: string) => boolean): number {
        let count = 0;
        for (let index = this.head; index < this.frames.length && isRead(this.frames[index]); index++) {
            count++;
        }
        return this.dropHead(count);
    }

    /** Every frame not acknowledged, oldest first; the tracker is done with afterwards (a new connection gets a new one) */
    takeAll(): Array<string> {
        const frames = this.head === 0 ? this.frames : this.frames.slice(this.head);
        this.frames = [];
        this.sizes = [];
        this.head = 0;
        this.bytes = 0;
        this.readBytes = 0;
        this.pingedBytes = 0;
        this.unansweredSince = 0;
        this.replayCount = 0;
        this.replayUnacked = 0;
        this.replayUnread = 0;
        return frames;
    }

    /** A pong answered the ping that asked about the first `count` frames */
    private answered(count: number): void {
        if (count === this.pinged) {
            this.roundTripMs = Math.min(this.roundTripMs, Date.now() - this.lastPingAt);
            this.unansweredSince = 0;
        } else if (this.unansweredSince !== 0) {
            // A later ping is not answered yet. When the ones between were sent is not kept: the latest stands for them,
            // which makes a peer that answers late by a ping or two look less behind, never more
            this.unansweredSince = this.lastPingAt;
        }
    }

    /** The frame count a pong payload of ours stands for, or null */
    private pongCount(payload: string): number | null {
        const count = Number(payload);
        return Number.isSafeInteger(count) && count > 0 && count <= this.pinged ? count : null;
    }

    private dropHead(count: number): number {
        const before = this.bytes;
        for (let index = this.head; index < this.head + count; index++) {
            const position = this.acked + index - this.head;
            this.bytes -= this.sizes[index];
            if (position < this.pinged) {
                this.pingedBytes -= this.sizes[index];
            }
            if (position < this.read) {
                this.readBytes -= this.sizes[index];
            }
            if (position < this.replayCount) {
                this.replayUnacked -= this.sizes[index];
                if (position >= this.read) {
                    this.replayUnread -= this.sizes[index];
                }
            }
        }
        this.head += count;
        this.acked += count;
        this.read = Math.max(this.read, this.acked);
        // Compact now and then instead of shifting each time
        if (this.head === this.frames.length) {
            this.frames = [];
            this.sizes = [];
            this.head = 0;
        } else if (this.head > 1024 && this.head * 2 > this.frames.length) {
            this.frames = this.frames.slice(this.head);
            this.sizes = this.sizes.slice(this.head);
            this.head = 0;
        }
        return before - this.bytes;
    }
}
