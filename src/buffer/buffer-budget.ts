/**
 * The bytes all reconnect buffers of one server may take together: per-client limits alone would still
 * allow maxConnections times as much.
 */
export class BufferBudget {

    private used = 0;

    constructor(readonly maxBytes: number) {
    }

    get usedBytes(): number {
        return this.used;
    }

    /** Take the bytes if they fit */
    reserve(bytes: number): boolean {
        if (this.used + bytes > this.maxBytes) {
            return false;
        }
        this.used += bytes;
        return true;
    }

    release(bytes: number): void {
        this.used = Math.max(0, this.used - bytes);
    }
}
