/**
 * What the process holds in memory for all clients together, counted by those who hold it (connections, messages
 * held during a resume or claim, messages on their way to the reconnect store), against one limit. Every holder
 * reports each change, so the total is always current and costs an addition per change; the budget only says
 * when it is exceeded, what to do then is its owner's (server/memory-guard.ts).
 */
export class MemoryBudget {

    /**
     * While the budget is exceeded: how far behind one connection may be (an equal share, set by the owner) before
     * it is closed as soon as it is sent to, not only when the owner gets to it; Infinity otherwise
     */
    shareLimit = Infinity;
    #used = 0;
    // Of it, new messages that wait for the reconnect store or for a replay: they may take half the budget
    #queued = 0;
    // The total at which the owner was last told, or null if it was not told since the total was within the limit
    #toldAt: number | null = null;

    /** `exceeded` is called when the total passes the limit, and again for every sixteenth of it that it grows beyond */
    constructor(readonly maxBytes: number, private readonly exceeded: () => void) {
    }

    get usedBytes(): number {
        return this.#used;
    }

    get isExceeded(): boolean {
        return this.#used > this.maxBytes;
    }

    /**
     * Whether `bytes` more of new messages waiting for the store or a replay would pass their half of the budget:
     * then they are refused. What a dropped connection hands over to its buffer moves, and is not held to it.
     */
    queueWouldExceed(bytes: number): boolean {
        return this.#queued + bytes > this.maxBytes / 2;
    }

    /**
     * Whether `bytes` more would pass the ceiling, twice the limit: what a dropped connection hands over to its buffer
     * is refused beyond it (that client cannot resume in full), so that the total never passes it by more than the
     * messages of one turn
     */
    ceilingWouldPass(bytes: number): boolean {
        return this.#used + bytes > this.maxBytes * 2;
    }

    /** Count `bytes` more (or fewer, if negative) of new messages waiting for the store or a replay */
    addQueued(bytes: number): void {
        this.#queued += bytes;
        this.add(bytes);
    }

    /** Count `bytes` more (or fewer, if negative) */
    add(bytes: number): void {
        const used = this.#used += bytes;
        if (used <= this.maxBytes) {
            if (this.#toldAt !== null) {
                this.#toldAt = null;
                this.shareLimit = Infinity;
            }
        } else if (this.#toldAt === null || used - this.#toldAt >= this.maxBytes / 16) {
            this.#toldAt = used;
            this.exceeded();
        }
    }
}
